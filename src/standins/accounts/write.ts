// POST /v1/batch/write: events and lock operations, all or nothing, idempotent on external_id.
import { createHash } from 'node:crypto';
import type { Sql, Tx } from '../../db/connect.ts';
import { canon } from '../../domain/money.ts';
import { LedgerError } from './errors.ts';
import { locKey, sortedKeys } from './loc.ts';
import type { WriteBody } from './schemas.ts';
import { createMissingAccounts, lockAccountRows, updateAccounts, type AccountChange, type AccountRow } from './store/accounts.ts';
import { findBatch, insertBatch, insertEventsOfBatches, type AccountEvent } from './store/batches.ts';
import { inTx } from './tx.ts';

export interface WriteResult {
  batch_id: string;
  /** False for a repeat of an external_id with the same content: nothing was written. */
  created: boolean;
}

/** JSON with object keys sorted, so equal content always hashes equal. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * What makes two writes "the same batch": event_type, dt as sent, info and the events (amounts
 * canonical, so "100.50" equals "100.5"). Lock operations are not content: a sender retrying after
 * a crash holds a new lock uid, and its retry must still be recognised as the same batch.
 */
export function contentHash(b: WriteBody): string {
  const content = {
    event_type: b.event_type,
    dt: b.dt ?? null,
    info: b.info ?? null,
    events: b.events.map((e) => [locKey(e.loc), e.type, canon(e.amount)]),
  };
  return createHash('sha256').update(stableJson(content)).digest('hex');
}

/** What a lock operation is checked against: the lease on its account (absent: no account). */
export type LeaseOf = (key: string) => { lock_uid: string | null; lock_live: boolean } | undefined;

/** Every lock operation needs a live lease held with its uid; the first that has none, said, or undefined. */
export function lockProblem(locks: WriteBody['locks'], leaseOf: LeaseOf): string | undefined {
  for (const [i, l] of (locks ?? []).entries()) {
    const row = leaseOf(locKey(l.loc)) ?? { lock_uid: null, lock_live: false };
    if (row.lock_uid !== l.uid || !row.lock_live) {
      const why = row.lock_uid === l.uid ? 'has expired' : row.lock_live ? 'is held by another uid' : 'is not held';
      return `locks.${i}: the lock ${l.uid} on ${locKey(l.loc)} ${why}; nothing was written`;
    }
  }
  return undefined;
}

function checkLocks(locks: WriteBody['locks'], byKey: Map<string, AccountRow>) {
  const problem = lockProblem(locks, (key) => byKey.get(key));
  if (problem) throw new LedgerError('lock_not_held', problem);
}

/**
 * The accepted events, on accounts this transaction holds row-locked (by id), and what they do to
 * those accounts: one statement for the events, one update per account for its totals and for the
 * leases `unlock` names. Both statements go out at once (the caller awaits them together, with
 * anything else of its last round trip). Shared by /v1/batch/write and /v1/batches/write.
 */
export function writeEvents(tx: Tx, events: readonly AccountEvent[], unlock: readonly string[]): Promise<void>[] {
  const changes: AccountChange[] = [
    ...events.map((e) => ({ id: e.account_id, debit: e.type === 'debit' ? e.amount : '0', credit: e.type === 'credit' ? e.amount : '0', unlock: false })),
    ...unlock.map((id) => ({ id, debit: '0', credit: '0', unlock: true })),
  ];
  return [
    ...(events.length ? [insertEventsOfBatches(tx, events)] : []),
    ...(changes.length ? [updateAccounts(tx, changes)] : []),
  ];
}

async function replay(tx: Tx, externalId: string, hash: string): Promise<WriteResult> {
  const first = await findBatch(tx, externalId);
  // Only a committed batch makes the insert skip, so it is visible to this newer statement.
  if (!first) throw new Error(`batch ${externalId} vanished between claim and read`);
  if (first.content_hash !== hash) {
    throw new LedgerError('external_id_conflict', `external_id "${externalId}" was already used for a different batch (${first.id})`);
  }
  return { batch_id: first.id, created: false };
}

/**
 * Two round trips inside the transaction: the claim goes out together with creating and
 * row-locking the accounts, then the events, the totals and the lock removals go out together
 * (postgres.js pipelines statements issued without an await in between; one connection runs them
 * in order). On a repeat the account statements ran for nothing: the accounts exist already (the
 * first write created them), and the row locks only last until this transaction ends.
 */
export async function writeBatch(sql: Sql, body: WriteBody): Promise<WriteResult> {
  const hash = contentHash(body);
  const locks = body.locks ?? [];
  const keys = sortedKeys([...body.events.map((e) => e.loc), ...locks.map((l) => l.loc)]);
  return inTx(sql, async (tx) => {
    const [batchId, , rows] = await Promise.all([
      insertBatch(tx, { external_id: body.external_id, event_type: body.event_type, dt: body.dt, info: body.info, content_hash: hash }),
      createMissingAccounts(tx, keys),
      lockAccountRows(tx, keys),
    ]);
    // A repeat stops here, before any lock check (its locks may be long gone).
    if (batchId === undefined) return replay(tx, body.external_id, hash);
    const byKey = new Map(rows.map((r) => [r.loc_key, r]));
    checkLocks(locks, byKey);

    const removed = locks.filter((l) => l.mode === 'remove').map((l) => byKey.get(locKey(l.loc))!.id);
    const events = body.events.map((e) => ({ batch_id: batchId, account_id: byKey.get(locKey(e.loc))!.id, type: e.type, amount: e.amount }));
    await Promise.all(writeEvents(tx, events, removed));
    return { batch_id: batchId, created: true };
  });
}
