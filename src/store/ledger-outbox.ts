// All SQL of t_ledger_outbox: the receiver's ledger events, stored with the status changes that
// decided them and written to the ledger after the commit (src/oebs-gate/ledger-writer.ts).
import type { WriteBatchRequest } from '../accounts/types.ts';
import type { Db } from '../db/connect.ts';
import { cmp } from '../domain/money.ts';

export interface LedgerOutboxRow {
  id: string;
  payoutId: string;
  request: WriteBatchRequest;
}

/** A request moves money unless all its amounts are 0 (a register: a trace). */
export const movesMoney = (req: WriteBatchRequest) => req.events.some((e) => cmp(e.amount, '0') !== 0);

/** Stores the requests in `tx`, in the given order (ids ascend with it): one statement. */
export async function enqueueLedgerRequests(tx: Db, rows: readonly { payoutId: string; request: WriteBatchRequest }[]): Promise<void> {
  if (!rows.length) return;
  // One JSON parameter: postgres.js would escape every quote of every request in a text[].
  const json = JSON.stringify(rows.map((r) => ({ p: r.payoutId, r: JSON.stringify(r.request), m: movesMoney(r.request) })));
  await tx`
    insert into t_ledger_outbox (payout_id, request, moves)
    select (e.v->>'p')::int8, e.v->>'r', (e.v->>'m')::boolean
    from json_array_elements(${json}::text::json) with ordinality as e(v, n) order by e.n`;
}

/**
 * The oldest `limit` requests still to write, in id order (t_ledger_outbox_sendable: not those
 * waiting behind a refused request of their payout that moves money).
 */
export async function nextLedgerRequests(tx: Db, limit: number): Promise<LedgerOutboxRow[]> {
  const rows = await tx<{ id: string; payout_id: string; request: string }[]>`
    select id, payout_id, request from t_ledger_outbox_sendable order by id limit ${limit}`;
  return rows.map((r) => ({ id: r.id, payoutId: r.payout_id, request: JSON.parse(r.request) as WriteBatchRequest }));
}

/** The ledger holds these requests' batches: they leave the outbox. */
export async function deleteLedgerRequests(tx: Db, ids: readonly string[]): Promise<void> {
  if (!ids.length) return;
  await tx`delete from t_ledger_outbox where id = any(${ids as string[]}::int8[])`;
}

/** The ledger refused this request for good: it stays, with why, for a person. */
export async function refuseLedgerRequest(tx: Db, id: string, refusal: string): Promise<void> {
  await tx`update t_ledger_outbox set refused_at = now(), refusal = ${refusal} where id = ${id}`;
}

/** What waits in the outbox: requests still to write, those refused, and the age of the oldest still to write. */
export async function ledgerOutboxStats(db: Db): Promise<{ waiting: number; refused: number; oldestSeconds: number }> {
  const [row] = await db<{ waiting: number; refused: number; oldest: number }[]>`
    select (count(*) filter (where refused_at is null))::int as waiting, (count(*) filter (where refused_at is not null))::int as refused,
           coalesce(extract(epoch from now() - min(created_at) filter (where refused_at is null)), 0)::float8 as oldest
    from t_ledger_outbox`;
  return { waiting: row!.waiting, refused: row!.refused, oldestSeconds: row!.oldest };
}

/** A payout's ledger events still in the outbox (decided, not yet in the ledger), oldest first. */
export async function ledgerOutboxOf(db: Db, payoutId: string): Promise<{ event_type: string; external_id: string; created_at: Date; refused_at: Date | null; refusal: string | null }[]> {
  return db`
    select request::json->>'event_type' as event_type, request::json->>'external_id' as external_id, created_at, refused_at, refusal
    from t_ledger_outbox where payout_id = ${payoutId} order by id`;
}
