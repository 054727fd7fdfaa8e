// All SQL of accounts.batch and accounts.event: batches, their events and turnover sums.
// One function per statement. Sums stay numeric (strings here): money never becomes a JS number.
// Times go in as `::text::timestamptz`: a parameter typed timestamptz would pass through a JS Date
// in postgres.js and lose its microseconds, and window bounds must be exact.
import type { Db } from '../../../db/connect.ts';
import type { LocColumns } from '../loc.ts';

export interface NewBatch {
  external_id: string;
  event_type: string;
  /** ISO-8601 text, or undefined for "now" (the transaction's start). */
  dt: string | undefined;
  info: object | undefined;
  content_hash: string;
}

export interface BatchRow {
  id: string;
  external_id: string;
  event_type: string;
  dt: string;
  info: Record<string, unknown> | null;
  content_hash: string;
}

/** An event to write: its batch and account by id. */
export interface AccountEvent {
  batch_id: string;
  account_id: string;
  type: 'debit' | 'credit';
  amount: string;
}

/**
 * Claims the external_id. Undefined when it is taken: a concurrent claimer makes this wait for
 * its commit (or rollback, after which this one wins), so one external_id is one batch.
 */
export async function insertBatch(db: Db, b: NewBatch): Promise<string | undefined> {
  const [row] = await db<{ id: string }[]>`
    insert into accounts.batch (external_id, event_type, dt, info, content_hash)
    values (${b.external_id}, ${b.event_type}, coalesce(${b.dt ?? null}::text::timestamptz, now()),
            ${b.info === undefined ? null : db.json(b.info as never)}, ${b.content_hash})
    on conflict (external_id) do nothing
    returning id`;
  return row?.id;
}

/**
 * insertBatch for many batches in one statement, in the order given (callers sort by external_id:
 * the claims of two concurrent calls then never wait on each other in a ring). Returns the
 * batches claimed; the others' external_ids were taken. The batches travel as one JSON array
 * (a text[] of info texts would have every quote escaped by the driver).
 */
export async function insertBatches(db: Db, bs: readonly NewBatch[]): Promise<{ id: string; external_id: string }[]> {
  const rows = JSON.stringify(bs.map((b) => ({ external_id: b.external_id, event_type: b.event_type, dt: b.dt ?? null, info: b.info ?? null, content_hash: b.content_hash })));
  return db<{ id: string; external_id: string }[]>`
    insert into accounts.batch (external_id, event_type, dt, info, content_hash)
    select u.external_id, u.event_type, coalesce(u.dt::timestamptz, now()), u.info, u.content_hash
    from rows from (json_to_recordset(${rows}::text::json) as (external_id text, event_type text, dt text, info jsonb, content_hash text))
         with ordinality as u(external_id, event_type, dt, info, content_hash, ord)
    order by u.ord
    on conflict (external_id) do nothing
    returning id, external_id`;
}

export async function findBatchesByExternalId(db: Db, externalIds: readonly string[]): Promise<Pick<BatchRow, 'id' | 'external_id' | 'content_hash'>[]> {
  return db<Pick<BatchRow, 'id' | 'external_id' | 'content_hash'>[]>`
    select id, external_id, content_hash from accounts.batch
    where external_id = any(array(select json_array_elements_text(${JSON.stringify(externalIds)}::text::json)))`;
}

/** Releases the claims of batches refused after claiming (their external_ids become free again). */
export async function deleteBatches(db: Db, ids: readonly string[]): Promise<void> {
  await db`delete from accounts.batch where id = any(${ids as string[]}::int8[])`;
}

export async function findBatch(db: Db, externalId: string): Promise<BatchRow | undefined> {
  const [row] = await db<BatchRow[]>`
    select id, external_id, event_type, accounts.iso_utc(dt) as dt, info, content_hash
    from accounts.batch where external_id = ${externalId}`;
  return row;
}

/**
 * The events of many batches in one statement, in the order given, on accounts the caller has
 * (ids: no lookup by key), as one JSON array; each takes its batch's dt.
 */
export async function insertEventsOfBatches(db: Db, events: readonly AccountEvent[]): Promise<void> {
  await db`
    insert into accounts.event (batch_id, account_id, dt, type, amount)
    select u.batch_id, u.account_id, b.dt, u.type, u.amount
    from rows from (json_to_recordset(${JSON.stringify(events)}::text::json) as (batch_id int8, account_id int8, type text, amount numeric))
         with ordinality as u(batch_id, account_id, type, amount, ord)
    join accounts.batch b on b.id = u.batch_id
    order by u.ord`;
}

export interface BatchEventRow extends Omit<LocColumns, 'type'> {
  /** The account's type (the event's own `type` is debit/credit). */
  loc_type: string;
  type: 'debit' | 'credit';
  amount: string;
}

export async function listBatchEvents(db: Db, batchId: string): Promise<BatchEventRow[]> {
  return db<BatchEventRow[]>`
    select a.namespace, a.type as loc_type, a.client_id, a.contract_id, a.service_id, a.currency, e.type, e.amount
    from accounts.event e join accounts.account a on a.id = e.account_id
    where e.batch_id = ${batchId} order by e.id`;
}

export interface Sums {
  debit: string;
  credit: string;
}

/**
 * Totals of the events strictly before dt (the balance "as of" the instant dt) for many (key, dt)
 * pairs in one statement, one row per pair in the order given (a location never written to sums
 * to zero).
 */
export async function sumsBefore(db: Db, keys: readonly string[], dts: readonly string[]): Promise<Sums[]> {
  return db<Sums[]>`
    select coalesce(s.debit, 0) as debit, coalesce(s.credit, 0) as credit
    from unnest(${keys as string[]}::text[], ${dts as string[]}::text[]) with ordinality as u(key, dt, ord)
    left join accounts.account a on a.loc_key = u.key
    left join lateral (
      select sum(e.amount) filter (where e.type = 'debit') as debit, sum(e.amount) filter (where e.type = 'credit') as credit
      from accounts.event e where e.account_id = a.id and e.dt < u.dt::timestamptz
    ) s on true
    order by u.ord`;
}

export interface TurnoverRow {
  debit_init: string;
  credit_init: string;
  debit_turnover: string;
  credit_turnover: string;
}

/** Balance before the window and the movement within it (dt_from inclusive, dt_to exclusive). */
export async function turnoverSums(db: Db, key: string, from: string, to: string): Promise<TurnoverRow> {
  const [row] = await db<TurnoverRow[]>`
    select coalesce(sum(e.amount) filter (where e.type = 'debit' and e.dt < ${from}::text::timestamptz), 0) as debit_init,
           coalesce(sum(e.amount) filter (where e.type = 'credit' and e.dt < ${from}::text::timestamptz), 0) as credit_init,
           coalesce(sum(e.amount) filter (where e.type = 'debit' and e.dt >= ${from}::text::timestamptz), 0) as debit_turnover,
           coalesce(sum(e.amount) filter (where e.type = 'credit' and e.dt >= ${from}::text::timestamptz), 0) as credit_turnover
    from accounts.event e join accounts.account a on a.id = e.account_id
    where a.loc_key = ${key} and e.dt < ${to}::text::timestamptz`;
  return row!;
}

export interface WindowEventRow {
  batch_id: string;
  external_id: string;
  event_type: string;
  dt: string;
  type: 'debit' | 'credit';
  amount: string;
  info: Record<string, unknown> | null;
}

export async function listWindowEvents(db: Db, key: string, from: string, to: string): Promise<WindowEventRow[]> {
  return db<WindowEventRow[]>`
    select b.id as batch_id, b.external_id, b.event_type, accounts.iso_utc(e.dt) as dt, e.type, e.amount, b.info
    from accounts.event e
    join accounts.account a on a.id = e.account_id
    join accounts.batch b on b.id = e.batch_id
    where a.loc_key = ${key} and e.dt >= ${from}::text::timestamptz and e.dt < ${to}::text::timestamptz
    order by e.dt, e.id`;
}

export interface PositionedEventRow extends WindowEventRow {
  /** 1-based index of the (key, from_batch_id) pair the event answers. */
  ord: string;
}

/**
 * For many (key, from_batch_id) pairs in one statement: the account's events from the first event
 * of batch from_batch_id on it (inclusive), in ledger order (event id), pairs in the order given
 * (null in fromBatchIds: the whole history). A pair whose batch has no event on the account gets
 * no rows, as does an unknown account; otherwise its rows hold at least that batch's event.
 */
export async function listEventsFromMany(db: Db, keys: readonly string[], fromBatchIds: readonly (string | null)[]): Promise<PositionedEventRow[]> {
  // Positions first (one row per pair, materialized), then per pair one range scan of
  // event_account_id on (account_id, id >= position): the cost is the events read, not the
  // accounts' history — whatever the planner guesses about the positions' values.
  return db<PositionedEventRow[]>`
    with pos as materialized (
      select u.ord, a.id as account_id,
             case when u.from_batch is null then 0
                  else (select min(p.id) from accounts.event p where p.account_id = a.id and p.batch_id = u.from_batch) end as from_id
      from rows from (json_to_recordset(${JSON.stringify(keys.map((key, i) => ({ key, from_batch: fromBatchIds[i] })))}::text::json) as (key text, from_batch int8))
           with ordinality as u(key, from_batch, ord)
      join accounts.account a on a.loc_key = u.key)
    select pos.ord, b.id as batch_id, b.external_id, b.event_type, accounts.iso_utc(e.dt) as dt, e.type, e.amount, b.info
    from pos
    join lateral (
      select x.id, x.batch_id, x.dt, x.type, x.amount from accounts.event x
      where x.account_id = pos.account_id and x.id >= pos.from_id order by x.id
    ) e on true
    join accounts.batch b on b.id = e.batch_id
    order by pos.ord, e.id`;
}
