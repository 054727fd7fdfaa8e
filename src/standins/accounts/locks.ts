// Lock leases: init → uid, ping (extend), remove. A lease is state on the account row, judged by
// the database clock, so an expired lease frees itself without any sweeper.
import type { Sql, Tx } from '../../db/connect.ts';
import { LedgerError } from './errors.ts';
import { locKey, sortedKeys, type Loc } from './loc.ts';
import { createMissingAccounts, extendLock, grantFreeLock, grantFreeLocks, lockAccountRows, releaseLock } from './store/accounts.ts';
import { inTx } from './tx.ts';

const busyMessage = (key: string) => `the account ${key} is locked by someone else; retry when the lock is removed or expires`;

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
  if (uid === undefined) throw new LedgerError('lock_busy', busyMessage(key));
  return uid;
}

export type LockAnswer = { uid: string } | { error: 'lock_busy'; message: string };

/**
 * A read's `locks` (and its `lock`, if any), inside the caller's transaction. Each of `locks` is
 * granted or refused on its own; a busy `lock` still refuses the whole read. The accounts are
 * created in key order and row-locked in id order before any lease is looked at — the order every
 * writer and locking reader uses — so two readers locking overlapping accounts in opposite orders
 * wait on each other instead of deadlocking, and each lease goes to exactly one of them. A loc
 * asked twice is granted once: the repeat is refused as busy (this read holds it).
 */
export async function takeLocks(tx: Tx, lock: { loc: Loc; timeout_s: number } | undefined, locks: readonly { loc: Loc; timeout_s: number }[]): Promise<{ uid?: string; locks: LockAnswer[] }> {
  const single = lock && locKey(lock.loc);
  const firstAsked = new Map<string, number>();
  locks.forEach((l, i) => { const k = locKey(l.loc); if (k !== single && !firstAsked.has(k)) firstAsked.set(k, i); });
  const keys = [...firstAsked.keys()];
  const all = sortedKeys([...(lock ? [lock.loc] : []), ...locks.map((l) => l.loc)]);
  const [, , uid, granted] = await Promise.all([
    createMissingAccounts(tx, all),
    lockAccountRows(tx, all),
    single ? grantFreeLock(tx, single, lock.timeout_s) : undefined,
    keys.length ? grantFreeLocks(tx, keys, keys.map((k) => locks[firstAsked.get(k)!]!.timeout_s)) : [],
  ]);
  if (single && uid === undefined) throw new LedgerError('lock_busy', busyMessage(single));
  const uids = new Map(granted.map((g) => [g.loc_key, g.lock_uid]));
  const answers = locks.map((l, i): LockAnswer => {
    const k = locKey(l.loc);
    if (k === single) return { error: 'lock_busy', message: `the account ${k} is locked by this read's \`lock\`` };
    if (firstAsked.get(k) !== i) return { error: 'lock_busy', message: `the account ${k} is locked by locks.${firstAsked.get(k)} of this read` };
    const granted = uids.get(k);
    return granted ? { uid: granted } : { error: 'lock_busy', message: busyMessage(k) };
  });
  return { ...(uid ? { uid } : {}), locks: answers };
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
