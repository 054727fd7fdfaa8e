// POST /v1/batches/write: many batches in one call. Each batch is all or nothing and idempotent on
// its own external_id, exactly like /v1/batch/write (same content hash, same lock checks); the call
// as a whole is not atomic: one outcome per batch, in request order.
//
// One transaction, two round trips for any number of batches:
//   1. claim every external_id (one multi-row insert, in external_id order), create the missing
//      accounts of all batches (key order), row-lock them all (id order), read back the claimed
//      and the earlier batches — the order every writer uses, so concurrent calls never deadlock;
//   2. decide each batch in request order (a pure walk: replay, conflict, lock check against the
//      leases as the earlier batches of this call leave them), then release the claims of refused
//      batches, write all accepted events with one statement and give each touched account its
//      new totals and lease with one update.
// A batch whose data Postgres refuses (a data exception, e.g. a NUL in info) would fail the one
// claim of all: the call then runs again claiming each batch in its own savepoint, and that batch
// alone is `rejected`.
import type { Sql, Tx } from '../../db/connect.ts';
import { failpoint } from '../../failpoints.ts';
import { LedgerError } from './errors.ts';
import { locKey, sortedKeys } from './loc.ts';
import type { WriteBody } from './schemas.ts';
import { createMissingAccounts, deleteAccounts, lockAccountRows } from './store/accounts.ts';
import { deleteBatches, findBatchesByExternalId, insertBatch, insertBatches, type NewBatch } from './store/batches.ts';
import { inTx } from './tx.ts';
import { contentHash, lockProblem, writeEvents } from './write.ts';

export type BatchOutcome =
  | { status: 'created' | 'existing'; batch_id: string }
  | { status: 'conflict'; code: 'external_id_conflict'; message: string }
  | { status: 'lock_invalid'; code: 'lock_not_held'; message: string }
  | { status: 'rejected'; code: 'bad_request'; message: string };

interface Lease { id: string; lock_uid: string | null; lock_live: boolean }

/** What step 2 needs from step 1, and what it decides. */
interface Claims {
  /** external_id → id of the batch row this call inserted. */
  claimed: Map<string, string>;
  /** external_id → content hash of the batch stored before this call. */
  stored: Map<string, { id: string; content_hash: string }>;
  /** Batches (by index) Postgres refused to store, with its reason. */
  rejected: Map<number, string>;
}

interface Decision {
  outcomes: BatchOutcome[];
  written: number[];
  /** Claims of refused batches, to release. */
  released: string[];
  /** Accounts whose lease a written batch removed. */
  unlocked: string[];
}

export async function writeBatches(sql: Sql, batches: WriteBody[]): Promise<BatchOutcome[]> {
  refuseRepeatedExternalIds(batches);
  const hashes = batches.map(contentHash);
  try {
    return await inTx(sql, (tx) => writeAll(tx, batches, hashes, false));
  } catch (err) {
    if (!isDataException(err)) throw err;
    return inTx(sql, (tx) => writeAll(tx, batches, hashes, true));
  }
}

/** One external_id twice in one call has no single meaning (replay? conflict?): the caller's bug. */
function refuseRepeatedExternalIds(batches: WriteBody[]) {
  const first = new Map<string, number>();
  for (const [i, b] of batches.entries()) {
    const j = first.get(b.external_id);
    if (j !== undefined) throw new LedgerError('bad_request', `batches.${i}.external_id: "${b.external_id}" repeats batches.${j}.external_id; nothing was written`);
    first.set(b.external_id, i);
  }
}

/** SQLSTATE class 22: the value itself is unacceptable, so retrying the same batch cannot help. */
const isDataException = (err: unknown) => /^22/.test(String((err as { code?: unknown }).code ?? ''));

async function writeAll(tx: Tx, batches: WriteBody[], hashes: string[], oneByOne: boolean): Promise<BatchOutcome[]> {
  const newBatch = (i: number): NewBatch => {
    const b = batches[i]!;
    return { external_id: b.external_id, event_type: b.event_type, dt: b.dt, info: b.info, content_hash: hashes[i]! };
  };
  const order = batches.map((_, i) => i).sort((x, y) => (batches[x]!.external_id < batches[y]!.external_id ? -1 : 1));
  const keys = sortedKeys(batches.flatMap((b) => [...b.events.map((e) => e.loc), ...(b.locks ?? []).map((l) => l.loc)]));
  const slow = oneByOne ? await claimOneByOne(tx, order.map(newBatch), order) : undefined;
  const [claimedRows, created, rows, found] = await Promise.all([
    slow ? [] : insertBatches(tx, order.map(newBatch)),
    createMissingAccounts(tx, keys),
    lockAccountRows(tx, keys),
    findBatchesByExternalId(tx, batches.map((b) => b.external_id)),
  ]);
  const claimed = slow?.claimed ?? new Map(claimedRows.map((r) => [r.external_id, r.id]));
  const rejected = slow?.rejected ?? new Map<number, string>();
  const stored = new Map(found.filter((f) => !claimed.has(f.external_id)).map((f) => [f.external_id, f]));
  const leases = new Map<string, Lease>(rows.map((r) => [r.loc_key, { id: r.id, lock_uid: r.lock_uid, lock_live: r.lock_live }]));
  const d = decide(batches, hashes, { claimed, stored, rejected }, leases);

  // Tests kill the stand-in here: batches claimed and accounts locked, no event written yet; the
  // transaction dies with the process, and the caller must find nothing half-done.
  failpoint('accounts.batches-write.mid');
  const events = d.written.flatMap((i) => batches[i]!.events.map((e) => ({
    batch_id: claimed.get(batches[i]!.external_id)!, account_id: leases.get(locKey(e.loc))!.id, type: e.type, amount: e.amount,
  })));
  const used = new Set(events.map((e) => e.account_id));
  const unused = created.filter((a) => !used.has(a.id)).map((a) => a.id);
  await Promise.all([
    d.released.length ? deleteBatches(tx, d.released) : undefined,
    ...writeEvents(tx, events, d.unlocked),
    unused.length ? deleteAccounts(tx, unused) : undefined,
  ]);
  return d.outcomes;
}

/**
 * The slow path: each claim in its own savepoint, in external_id order, so the one batch whose
 * data Postgres refuses rolls back alone. Returns the refused batches by index.
 */
async function claimOneByOne(tx: Tx, batches: NewBatch[], order: number[]): Promise<Pick<Claims, 'claimed' | 'rejected'>> {
  const claimed = new Map<string, string>();
  const rejected = new Map<number, string>();
  for (const [n, b] of batches.entries()) {
    try {
      const id = await tx.savepoint((sp) => insertBatch(sp, b));
      if (id !== undefined) claimed.set(b.external_id, id);
    } catch (err) {
      if (!isDataException(err)) throw err;
      rejected.set(order[n]!, `batches.${order[n]}: the ledger cannot store this batch (${(err as Error).message}); nothing was written`);
    }
  }
  return { claimed, rejected };
}

/** Walks the batches in request order; leases are updated as accepted batches remove them. */
function decide(batches: WriteBody[], hashes: string[], c: Claims, leases: Map<string, Lease>): Decision {
  const d: Decision = { outcomes: [], written: [], released: [], unlocked: [] };
  for (const [i, b] of batches.entries()) {
    const rejectedWhy = c.rejected.get(i);
    if (rejectedWhy !== undefined) {
      d.outcomes.push({ status: 'rejected', code: 'bad_request', message: rejectedWhy });
      continue;
    }
    const id = c.claimed.get(b.external_id);
    if (id === undefined) {
      d.outcomes.push(replayOutcome(b.external_id, hashes[i]!, c.stored.get(b.external_id)));
      continue;
    }
    const problem = lockProblem(b.locks, (key) => leases.get(key));
    if (problem) {
      d.released.push(id);
      d.outcomes.push({ status: 'lock_invalid', code: 'lock_not_held', message: `batches.${i}.${problem}` });
      continue;
    }
    for (const l of b.locks ?? []) {
      if (l.mode !== 'remove') continue;
      const lease = leases.get(locKey(l.loc))!;
      if (lease.lock_uid !== null) d.unlocked.push(lease.id);
      Object.assign(lease, { lock_uid: null, lock_live: false });
    }
    d.written.push(i);
    d.outcomes.push({ status: 'created', batch_id: id });
  }
  return d;
}

function replayOutcome(externalId: string, hash: string, first: { id: string; content_hash: string } | undefined): BatchOutcome {
  // Only a committed batch makes the claim skip, so it is visible to the later select.
  if (!first) throw new Error(`batch ${externalId} vanished between claim and read`);
  if (first.content_hash !== hash) {
    return { status: 'conflict', code: 'external_id_conflict', message: `external_id "${externalId}" was already used for a different batch (${first.id})` };
  }
  return { status: 'existing', batch_id: first.id };
}
