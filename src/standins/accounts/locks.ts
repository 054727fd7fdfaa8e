// Lock leases: init → uid, ping (extend), remove. A lease is state on the account row, judged by
// the database clock, so an expired lease frees itself without any sweeper.
import type { Sql, Tx } from '../../db/connect.ts';
import { LedgerError } from './errors.ts';
import { locKey, type Loc } from './loc.ts';
import { createMissingAccounts, extendLock, grantFreeLock, releaseLock } from './store/accounts.ts';
import { inTx } from './tx.ts';

/**
 * Takes the lease inside the caller's transaction (the row stays locked until it commits). The
 * two statements go out together (postgres.js pipelines queries issued without an await in
 * between; one connection runs them in order), and so may statements the caller issues right
 * after this call returns, before awaiting it: they run after the lease is taken, and if it was
 * busy the caller's transaction rolls back anyway.
 */
export async function takeLock(tx: Tx, loc: Loc, timeoutS: number): Promise<string> {
  const key = locKey(loc);
  const [, uid] = await Promise.all([createMissingAccounts(tx, [key]), grantFreeLock(tx, key, timeoutS)]);
  if (uid === undefined) throw new LedgerError('lock_busy', `the account ${key} is locked by someone else; retry when the lock is removed or expires`);
  return uid;
}

export async function lockInit(sql: Sql, loc: Loc, timeoutS: number): Promise<{ uid: string }> {
  return { uid: await inTx(sql, (tx) => takeLock(tx, loc, timeoutS)) };
}

export async function lockPing(sql: Sql, loc: Loc, uid: string, timeoutS: number): Promise<{ uid: string }> {
  if (!(await extendLock(sql, locKey(loc), uid, timeoutS))) {
    throw new LedgerError('lock_not_held', `the lock ${uid} on ${locKey(loc)} is not held (expired, removed or taken over)`);
  }
  return { uid };
}

export async function lockRemove(sql: Sql, loc: Loc, uid: string): Promise<Record<string, never>> {
  if (!(await releaseLock(sql, locKey(loc), uid))) {
    throw new LedgerError('lock_not_held', `the lock ${uid} on ${locKey(loc)} is not held (removed, or taken over after it expired)`);
  }
  return {};
}
