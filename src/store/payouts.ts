// All SQL of t_payout that the api needs (the gates add theirs here too). One function per statement.
import type { Db } from '../db/connect.ts';
import type { PlannedPayout } from '../domain/request-payouts.ts';

/** `parked`: the sender gave up on a new payout after PAYOUT_MAX_ATTEMPTS failed attempts (migration 010). */
export type PayoutStatus = 'new' | 'pending' | 'confirmed' | 'done' | 'rejected' | 'parked';
export const PAYOUT_STATUSES: readonly PayoutStatus[] = ['new', 'pending', 'confirmed', 'done', 'rejected', 'parked'];

export interface FixedPayout {
  external_id: string;
  namespace: string;
  client_id: string;
  contract_id: string;
  service_id: string;
  currency: string;
  amount: string;
  approve_req: boolean;
}

export interface PayoutRow {
  id: string;
  external_id: string;
  request_id: string | null;
  namespace: string;
  client_id: string;
  contract_id: string;
  service_id: string;
  currency: string;
  by_client: boolean;
  amount: string;
  amount_oebs: string | null;
  cpf_only: boolean;
  status: PayoutStatus;
  error: string | null;
  dry_run: boolean | null;
  approve_req: boolean;
  oebs_batch_id: string | null;
  oebs_check_id: string | null;
  oebs_payment_id: string | null;
  oebs_status: string | null;
  oebs_status_dt: Date | null;
  /** Failed attempts of the sender (transient accounts failures), their last error, and when it tries again. */
  attempts: number;
  last_error: string | null;
  next_attempt_at: Date;
  created_at: Date;
  updated_at: Date;
}

/**
 * Inserts a fixed-amount payout unless its key exists; returns the new id or undefined. The key is
 * the caller's (namespace, service_id, external_id) among fixed payouts only (request_id null,
 * migration 006): req-gate's payouts live in a key space of their own.
 */
export async function insertFixedPayout(db: Db, p: FixedPayout): Promise<string | undefined> {
  const [row] = await db<{ id: string }[]>`
    insert into t_payout (external_id, namespace, client_id, contract_id, service_id, currency,
                          by_client, amount, approve_req)
    values (${p.external_id}, ${p.namespace}, ${p.client_id}, ${p.contract_id}, ${p.service_id},
            ${p.currency}, false, ${p.amount}, ${p.approve_req})
    on conflict (namespace, service_id, external_id) where request_id is null do nothing
    returning id`;
  return row?.id;
}

/** The fixed payout holding a key (the same predicate as the unique index insertFixedPayout hits). */
export async function findFixedPayoutByKey(
  db: Db, k: Pick<FixedPayout, 'namespace' | 'service_id' | 'external_id'>,
): Promise<PayoutRow | undefined> {
  const [row] = await db<PayoutRow[]>`
    select * from t_payout
    where namespace = ${k.namespace} and service_id = ${k.service_id} and external_id = ${k.external_id}
      and request_id is null`;
  return row;
}

export async function getPayout(db: Db, id: string): Promise<PayoutRow | undefined> {
  const [row] = await db<PayoutRow[]>`select * from t_payout where id = ${id}`;
  return row;
}

/**
 * A search over payouts (GET /payout): every filter given must hold. Pages are cursor-based on
 * the id: `order` desc (newest first) lists ids below `afterId`, asc (the approval queue, oldest
 * first) ids above it. Ids are assigned in insert order, so the id is "newest" without a clock.
 */
export interface PayoutFind {
  namespaces: readonly string[];
  clientId?: string;
  requestId?: string;
  /** The payout's own external_id (fixed payouts), or its request's: requestIds resolved from it. */
  externalId?: { value: string; requestIds: readonly string[] };
  batchId?: string;
  checkId?: string;
  /** The payment id the payout is paid under, or the batches OEBS said the payment covers. */
  paymentId?: { value: string; batchIds: readonly string[] };
  approveReq?: boolean;
  from?: Date;
  to?: Date;
  statuses?: readonly PayoutStatus[];
  order: 'asc' | 'desc';
  afterId?: string;
  limit: number;
}

export function findPayouts(db: Db, f: PayoutFind) {
  const ext = f.externalId;
  const pay = f.paymentId;
  return db<PayoutRow[]>`
    select * from t_payout
    where namespace = any(${f.namespaces as string[]}::text[])
      ${f.clientId !== undefined ? db`and client_id = ${f.clientId}` : db``}
      ${f.requestId !== undefined ? db`and request_id = ${f.requestId}` : db``}
      ${ext ? db`and (external_id = ${ext.value} or request_id = any(${ext.requestIds as string[]}::int8[]))` : db``}
      ${f.batchId !== undefined ? db`and oebs_batch_id = ${f.batchId}` : db``}
      ${f.checkId !== undefined ? db`and oebs_check_id = ${f.checkId}` : db``}
      ${pay ? db`and (oebs_payment_id = ${pay.value} or oebs_batch_id = any(${pay.batchIds as string[]}::text[]))` : db``}
      ${f.approveReq !== undefined ? db`and approve_req = ${f.approveReq}` : db``}
      ${f.from ? db`and created_at >= ${f.from}` : db``}
      ${f.to ? db`and created_at < ${f.to}` : db``}
      ${f.statuses?.length ? db`and status = any(${f.statuses as string[]}::text[])` : db``}
      ${f.afterId !== undefined ? (f.order === 'desc' ? db`and id < ${f.afterId}` : db`and id > ${f.afterId}`) : db``}
    order by ${f.order === 'desc' ? db`id desc` : db`id`}
    limit ${f.limit}`;
}

/** Reconciliation: per OEBS check id, the sum of amount_oebs and the number of payouts. */
export async function sumByCheck(db: Db, checkIds: readonly string[], namespaces: readonly string[]) {
  return db<{ check_id: string; amount: string; count: string }[]>`
    select oebs_check_id as check_id, coalesce(sum(amount_oebs), 0)::text as amount, count(*)::text as count
    from t_payout
    where oebs_check_id = any(${checkIds as string[]}::text[])
      and namespace = any(${namespaces as string[]}::text[])
    group by oebs_check_id`;
}

/** A by-client payout as req-gate plans it. */
export type RequestPayout = PlannedPayout;

/** What makes a by-client payout the one it is: its request and its payout account (migration 006's key). */
export type RequestPayoutKey = Pick<PayoutRow, 'request_id' | 'contract_id' | 'service_id' | 'currency'>;

/**
 * Inserts the payouts of requests (by-client payouts) in one statement; rows whose key (request,
 * contract, service, currency) exists already are skipped. Returns the keys of the rows inserted,
 * so the caller can check every planned payout is either new or one it made before.
 */
export async function insertRequestPayouts(tx: Db, rows: readonly RequestPayout[]): Promise<RequestPayoutKey[]> {
  if (!rows.length) return [];
  const col = <K extends keyof RequestPayout>(k: K) => rows.map((r) => String(r[k]));
  return tx<RequestPayoutKey[]>`
    insert into t_payout (external_id, request_id, namespace, client_id, contract_id, service_id, currency,
                          by_client, amount, cpf_only, approve_req, deployment_id)
    -- The deployment id once for the statement (the column default would read it once per row).
    select ext, req, ns, client, contract, service, cur, true, amount, cpf::boolean, approve::boolean, (select payout_deployment_id())
    from unnest(${col('external_id')}::text[], ${col('request_id')}::int8[], ${col('namespace')}::text[],
                ${col('client_id')}::int8[], ${col('contract_id')}::int8[], ${col('service_id')}::int8[],
                ${col('currency')}::text[], ${col('amount')}::numeric[], ${col('cpf_only')}::text[],
                ${col('approve_req')}::text[])
         as u(ext, req, ns, client, contract, service, cur, amount, cpf, approve)
    on conflict (request_id, contract_id, service_id, currency) where request_id is not null do nothing
    returning request_id, contract_id, service_id, currency`;
}

/** The by-client payouts holding these keys (rows of earlier runs that insertRequestPayouts skipped). */
export async function findRequestPayoutsByKeys(tx: Db, keys: readonly RequestPayoutKey[]): Promise<PayoutRow[]> {
  if (!keys.length) return [];
  const col = <K extends keyof RequestPayoutKey>(k: K) => keys.map((r) => String(r[k]));
  return tx<PayoutRow[]>`
    select p.* from t_payout p
    join unnest(${col('request_id')}::int8[], ${col('contract_id')}::int8[], ${col('service_id')}::int8[],
                ${col('currency')}::text[]) as k(req, contract, service, cur)
      on p.request_id = k.req and p.contract_id = k.contract and p.service_id = k.service and p.currency = k.cur`;
}

export type SendablePayout = Pick<PayoutRow,
  'id' | 'namespace' | 'client_id' | 'contract_id' | 'service_id' | 'currency' | 'by_client' | 'amount' | 'created_at' | 'attempts'> & {
  /** The deployment the payout was created in (its ledger keys carry it). */
  deployment_id: string;
  /** The ledger batch of the latest reservation of the same account, if any: where its history is read from. */
  previous_reserve_batch_id: string | null;
};

/**
 * Locks up to `limit` payouts the sender may send (new, not waiting for approval, due), SKIP
 * LOCKED so replicas share the work, with the ledger position of the account's latest reservation
 * (batch ids of one account's reservations grow: each is written under the account's ledger lock,
 * after the one before it committed). Due order, from the index t_payout_sender_due: a payout
 * waiting out its backoff is outside the range scanned, so it never holds back newer ones; a
 * payout returns to the queue at its next_attempt_at, among those created about then.
 */
export async function claimSendablePayouts(tx: Db, limit: number): Promise<SendablePayout[]> {
  return tx<SendablePayout[]>`
    with claimed as (
      select id, namespace, client_id, contract_id, service_id, currency, by_client, amount, created_at, deployment_id, attempts
      from t_payout
      where status = 'new' and not approve_req and next_attempt_at <= now()
      order by next_attempt_at, id
      limit ${limit}
      for update skip locked)
    select c.*, (select max(p.reserve_batch_id)::text from t_payout p
                 where p.namespace = c.namespace and p.client_id = c.client_id and p.contract_id = c.contract_id
                   and p.service_id = c.service_id and p.currency = c.currency and p.reserve_batch_id is not null) as previous_reserve_batch_id
    from claimed c
    order by c.id`;
}

// The sender stores a round's outcomes with one statement per kind (the claim holds the rows, so
// each guard on `new` only protects against a bug, never a race).

export async function markPayoutsRejected(tx: Db, rows: readonly { id: string; error: string }[]): Promise<void> {
  if (!rows.length) return;
  await tx`
    update t_payout p set status = 'rejected', error = u.error, updated_at = now()
    from unnest(${rows.map((r) => r.id)}::int8[], ${rows.map((r) => r.error)}::text[]) as u(id, error)
    where p.id = u.id and p.status = 'new'`;
}

/** A payout with nothing to pay (less than one minor unit) finishes by itself: it never goes to OEBS. */
export async function markPayoutsDoneEmpty(tx: Db, rows: readonly { id: string; dryRun: boolean }[]): Promise<void> {
  if (!rows.length) return;
  await tx`
    update t_payout p set status = 'done', amount = 0, amount_oebs = 0, dry_run = u.dry::boolean, updated_at = now()
    from unnest(${rows.map((r) => r.id)}::int8[], ${rows.map((r) => (r.dryRun ? 't' : 'f'))}::text[]) as u(id, dry)
    where p.id = u.id and p.status = 'new'`;
}

/**
 * A failed attempt (a transient accounts failure): counted, its error kept, the payout due again
 * after its backoff. updated_at stays: the payout has not changed, and the stuck gauges keep
 * counting its wait in `new` across attempts.
 */
export async function deferPayouts(tx: Db, rows: readonly { id: string; attempts: number; error: string; delayMs: number }[]): Promise<void> {
  if (!rows.length) return;
  await tx`
    update t_payout p set attempts = u.attempts, last_error = u.error, next_attempt_at = now() + u.delay * interval '1 millisecond'
    from unnest(${rows.map((r) => r.id)}::int8[], ${rows.map((r) => r.attempts)}::int[], ${rows.map((r) => r.error)}::text[],
                ${rows.map((r) => r.delayMs)}::int8[]) as u(id, attempts, error, delay)
    where p.id = u.id and p.status = 'new'`;
}

/**
 * The last attempt failed: parked, with the error. Nothing of a parked payout is stored as
 * reserved or sent; an attempt's reservation that landed in the ledger unanswered stays there
 * under the payout's key, and is what the payout reuses when retried.
 */
export async function parkPayouts(tx: Db, rows: readonly { id: string; attempts: number; lastError: string; error: string }[]): Promise<void> {
  if (!rows.length) return;
  await tx`
    update t_payout p set status = 'parked', attempts = u.attempts, last_error = u.last, error = u.error, updated_at = now()
    from unnest(${rows.map((r) => r.id)}::int8[], ${rows.map((r) => r.attempts)}::int[], ${rows.map((r) => r.lastError)}::text[],
                ${rows.map((r) => r.error)}::text[]) as u(id, attempts, last, error)
    where p.id = u.id and p.status = 'new'`;
}

/** Retried by a person: parked → new, due now, attempts from zero (the last error stays in last_error). */
export async function unparkPayout(tx: Db, id: string): Promise<boolean> {
  const rows = await tx`update t_payout set status = 'new', error = null, attempts = 0, next_attempt_at = now(), updated_at = now()
                        where id = ${id} and status = 'parked' returning id`;
  return rows.length === 1;
}

/** How many payouts are parked (payout_parked{kind="payout"}). */
export async function countParkedPayouts(db: Db): Promise<number> {
  const [row] = await db<{ n: number }[]>`select count(*)::int as n from t_payout where status = 'parked'`;
  return row!.n;
}

/** Reserved: amount and amount_oebs are the same whole-kopeck amount, the one OEBS is told to pay. */
export async function markPayoutsPending(tx: Db, rows: readonly { id: string; amount: string; dryRun: boolean; reserveBatchId: string }[]): Promise<number> {
  if (!rows.length) return 0;
  const updated = await tx`
    update t_payout p set status = 'pending', amount = u.amount, amount_oebs = u.amount, dry_run = u.dry::boolean,
                          reserve_batch_id = u.batch, reserve_dt = now(), updated_at = now()
    from unnest(${rows.map((r) => r.id)}::int8[], ${rows.map((r) => r.amount)}::numeric[],
                ${rows.map((r) => (r.dryRun ? 't' : 'f'))}::text[], ${rows.map((r) => r.reserveBatchId)}::int8[]) as u(id, amount, dry, batch)
    where p.id = u.id and p.status = 'new'
    returning p.id`;
  return updated.length;
}

// ---- receiver (oebs-gate): it locks the payouts a round touches, changes them in memory under
// the guards of oebs-gate/receiver-rows.ts, and writes them back guarded by the status it expects.

/** What the receiver needs of a payout to decide and to address its ledger accounts. */
export type ReceiverPayout = Pick<PayoutRow,
  'id' | 'namespace' | 'client_id' | 'contract_id' | 'service_id' | 'currency' | 'amount' | 'amount_oebs' | 'status'
  | 'dry_run' | 'oebs_batch_id' | 'oebs_payment_id'> & {
    oebs_returned_payments: string[]; deployment_id: string;
    /** When the sender made it `pending` (reserved, and its new-payout message written): when it was sent. */
    reserve_dt: Date | null;
  };

/** A payout as the receiver holds it under its lock: what it decides on, and every field it may change. */
export type HeldPayout = ReceiverPayout & { error: string | null; oebs_check_id: string | null; oebs_status: string | null };

const HELD_COLUMNS = ['id', 'deployment_id', 'namespace', 'client_id', 'contract_id', 'service_id', 'currency', 'amount', 'amount_oebs',
  'status', 'dry_run', 'oebs_batch_id', 'oebs_payment_id', 'oebs_returned_payments', 'reserve_dt',
  'error', 'oebs_check_id', 'oebs_status'] as const;

/**
 * Locks the payouts named and those in the OEBS batches named, in id order (so two transactions
 * never wait on each other in a circle), until the end of the transaction.
 */
export async function lockReceiverPayouts(tx: Db, ids: readonly string[], batchIds: readonly string[]): Promise<HeldPayout[]> {
  if (!ids.length && !batchIds.length) return [];
  return tx<HeldPayout[]>`
    select ${tx(HELD_COLUMNS)} from t_payout
    where id = any(${ids as string[]}::int8[]) or oebs_batch_id = any(${batchIds as string[]}::text[])
    order by id
    for update`;
}

/** One write of a held payout: the status it expects to find, and the row it leaves. */
export interface HeldWrite {
  expect: PayoutStatus;
  row: HeldPayout;
}

/**
 * Writes the receiver's fields of many payouts, each guarded by the status it expects (the
 * history trigger records each status change); how many rows matched their guard.
 */
export async function writeHeldPayouts(tx: Db, ws: readonly HeldWrite[]): Promise<number> {
  if (!ws.length) return 0;
  const updated = await tx`
    update t_payout p set status = u.status, error = u.error, oebs_batch_id = u.batch, oebs_check_id = u.check_id,
                          oebs_payment_id = u.payment, oebs_status = u.oebs_status,
                          -- (almost always none: skip unpacking an empty list for every row)
                          oebs_returned_payments = case when u.returned = '[]' then '{}'::text[]
                            else array(select x from jsonb_array_elements_text(u.returned::jsonb) with ordinality as e(x, i) order by i) end,
                          oebs_status_dt = now(), updated_at = now()
    from unnest(${ws.map((w) => w.row.id)}::int8[], ${ws.map((w) => w.expect)}::text[], ${ws.map((w) => w.row.status)}::text[],
                ${ws.map((w) => w.row.error)}::text[], ${ws.map((w) => w.row.oebs_batch_id)}::text[],
                ${ws.map((w) => w.row.oebs_check_id)}::text[], ${ws.map((w) => w.row.oebs_payment_id)}::text[],
                ${ws.map((w) => w.row.oebs_status)}::text[], ${ws.map((w) => JSON.stringify(w.row.oebs_returned_payments))}::text[])
         as u(id, expect, status, error, batch, check_id, payment, oebs_status, returned)
    where p.id = u.id and p.status = u.expect
    returning p.id`;
  return updated.length;
}

// ---- approvals (api): the history trigger (migration 008) reads who, what and why from settings
// local to the transaction, so the history row commits with the change it describes.

/** Who is changing payouts in this transaction, and why: the history trigger records it. */
export async function setHistoryActor(tx: Db, a: { actor: string; action: string; reason?: string }): Promise<void> {
  await tx`select set_config('payout.actor', ${a.actor}, true), set_config('payout.action', ${a.action}, true),
                  set_config('payout.reason', ${a.reason ?? ''}, true)`;
}

/** Locks one payout until the end of the transaction (approve/decline decide under this lock). */
export async function lockPayout(tx: Db, id: string): Promise<PayoutRow | undefined> {
  const [row] = await tx<PayoutRow[]>`select * from t_payout where id = ${id} for update`;
  return row;
}

/** The latest approve/decline taken on a payout, if any. */
export async function lastApprovalDecision(db: Db, id: string): Promise<{ action: 'approve' | 'decline'; actor: string | null } | undefined> {
  const [row] = await db<{ action: 'approve' | 'decline'; actor: string | null }[]>`
    select action, actor from t_payout_history
    where payout_id = ${id} and action in ('approve', 'decline')
    order by id desc limit 1`;
  return row;
}

/** Approved: the sender's claim (`not approve_req`) takes it from now on. */
export async function markPayoutApproved(tx: Db, id: string): Promise<boolean> {
  const rows = await tx`update t_payout set approve_req = false, updated_at = now()
                        where id = ${id} and status = 'new' and approve_req returning id`;
  return rows.length === 1;
}

/** Declined: rejected before the sender ever saw it, so no money was moved. */
export async function markPayoutDeclined(tx: Db, id: string, error: string): Promise<boolean> {
  const rows = await tx`update t_payout set status = 'rejected', error = ${error}, updated_at = now()
                        where id = ${id} and status = 'new' and approve_req returning id`;
  return rows.length === 1;
}

export interface PayoutHistoryRow {
  status: PayoutStatus;
  error: string | null;
  actor: string | null;
  action: string | null;
  reason: string | null;
  created_at: Date;
}

export async function payoutHistory(db: Db, id: string): Promise<PayoutHistoryRow[]> {
  return db<PayoutHistoryRow[]>`select status, error, actor, action, reason, created_at from t_payout_history where payout_id = ${id} order by id`;
}

// ---- tasks (integrity, stuck gauges)

/** A ledger account of payouts, as `<namespace>/<client>/<contract>/<service>/<currency>`. */
export interface AccountExpectation {
  namespace: string;
  client_id: string;
  contract_id: string;
  service_id: string;
  currency: string;
  /** Sum of the account's payouts in pending/confirmed: what payout_sent must hold. */
  sent: string;
  /** Sum of its done payouts: what the ledger must have confirmed (paid out). */
  done: string;
  sent_ids: string[];
  done_ids: string[];
  /**
   * `<deployment>#<payout>` of the account's payouts not sent (new or parked): a reservation the
   * ledger holds under one of their keys is an attempt whose commit never came, theirs to reuse.
   */
  unsent_keys: string[];
}

/**
 * What the ledger must hold, per account: the accounts of payouts changed since `since`, of
 * payouts holding a reservation now (pending/confirmed: their money sits on payout_sent, so a
 * ledger edited behind payout's back shows there), and the accounts named (open violations).
 */
export async function accountExpectations(db: Db, since: Date, named: readonly string[]): Promise<AccountExpectation[]> {
  return db<AccountExpectation[]>`
    with touched as (
      select distinct namespace, client_id, contract_id, service_id, currency from t_payout where updated_at >= ${since}
      union
      select distinct namespace, client_id, contract_id, service_id, currency from t_payout where status in ('pending', 'confirmed')
      union
      select k[1], k[2]::int8, k[3]::int8, k[4]::int8, k[5]
      from unnest(${named as string[]}::text[]) as n(subject), string_to_array(n.subject, '/') as k)
    select t.namespace, t.client_id::text, t.contract_id::text, t.service_id::text, t.currency,
           coalesce(sum(p.amount) filter (where p.status in ('pending', 'confirmed')), 0)::text as sent,
           coalesce(sum(p.amount) filter (where p.status = 'done'), 0)::text as done,
           coalesce(array_agg(p.id::text order by p.id) filter (where p.status in ('pending', 'confirmed')), '{}') as sent_ids,
           coalesce(array_agg(p.id::text order by p.id) filter (where p.status = 'done' and p.amount > 0), '{}') as done_ids,
           coalesce(array_agg(p.deployment_id || '#' || p.id order by p.id) filter (where p.status in ('new', 'parked')), '{}') as unsent_keys
    from touched t
    left join t_payout p on p.namespace = t.namespace and p.client_id = t.client_id and p.contract_id = t.contract_id
                        and p.service_id = t.service_id and p.currency = t.currency
    group by t.namespace, t.client_id, t.contract_id, t.service_id, t.currency`;
}

export interface WaitingStats {
  status: 'new' | 'pending' | 'confirmed';
  stuck: string;
  oldest_seconds: string | null;
}

/**
 * Per waiting status: how many payouts have waited longer than its threshold, and the oldest wait;
 * of every namespace (the metrics), or of those given (a caller of the overview).
 */
export async function waitingStats(db: Db, stuckAfterMs: Record<'new' | 'pending' | 'confirmed', number>, namespaces?: readonly string[]): Promise<WaitingStats[]> {
  const ns = namespaces ? db`and p.namespace = any(${namespaces as string[]}::text[])` : db``;
  return db<WaitingStats[]>`
    select s.status,
           (select count(*) from t_payout p where p.status = s.status and p.updated_at < now() - s.after * interval '1 millisecond' ${ns})::text as stuck,
           (select extract(epoch from now() - min(p.updated_at)) from t_payout p where p.status = s.status ${ns})::text as oldest_seconds
    from unnest(${['new', 'pending', 'confirmed']}::text[], ${[stuckAfterMs.new, stuckAfterMs.pending, stuckAfterMs.confirmed]}::int8[]) as s(status, after)`;
}

/** The oldest stuck payouts of a status (for the log: which ones to look at). */
export async function stuckPayoutIds(db: Db, status: string, afterMs: number, limit: number): Promise<string[]> {
  const rows = await db<{ id: string }[]>`
    select id::text from t_payout where status = ${status} and updated_at < now() - ${afterMs} * interval '1 millisecond'
    order by updated_at limit ${limit}`;
  return rows.map((r) => r.id);
}

export interface CheckToReconcile {
  check_id: string;
  /** What POST /check answers ARD: the sum of amount_oebs of the check's payouts. */
  amount: string;
  payout_ids: string[];
  accounts: string[];
}

/** ARD checks of payouts changed since `since`, and those named (open violations), with their payouts. */
export async function checksToReconcile(db: Db, since: Date, named: readonly string[]): Promise<CheckToReconcile[]> {
  return db<CheckToReconcile[]>`
    with checks as (
      select distinct oebs_check_id from t_payout where updated_at >= ${since} and oebs_check_id is not null
      union
      select unnest(${named as string[]}::text[]))
    select p.oebs_check_id as check_id, coalesce(sum(p.amount_oebs), 0)::text as amount,
           array_agg(p.id::text order by p.id) as payout_ids,
           array_agg(distinct p.namespace || '/' || p.client_id || '/' || p.contract_id || '/' || p.service_id || '/' || p.currency) as accounts
    from t_payout p join checks c on p.oebs_check_id = c.oebs_check_id
    group by p.oebs_check_id`;
}

/**
 * Per account (`namespace/client/contract/service/currency`): a fingerprint of its payout rows'
 * versions (id and xmin: any committed change alters it) and how many of them are row-locked
 * right now (the sender holds them FOR UPDATE while it writes to the ledger), plus its ledger
 * events the writer is yet to send (t_ledger_outbox_sendable). FOR KEY SHARE SKIP LOCKED finds
 * the locked rows without waiting, and conflicts with nothing a gate does but its FOR UPDATE.
 * The integrity task compares
 * a fingerprint taken with its table reads against one taken after its ledger read: an account
 * that changed or was busy in between is left for the next run instead of reported (a ledger
 * write and its status commit are not one atomic step).
 */
export async function accountFingerprints(db: Db, subjects: readonly string[], withLocks: boolean): Promise<{ subject: string; fp: string; locked: number }[]> {
  return db<{ subject: string; fp: string; locked: number }[]>`
    with acc as (
      select s.subject, k[1] as namespace, k[2]::int8 as client_id, k[3]::int8 as contract_id, k[4]::int8 as service_id, k[5] as currency
      from unnest(${subjects as string[]}::text[]) as s(subject), string_to_array(s.subject, '/') as k),
    unlocked as (
      select p.id from t_payout p join acc a on p.namespace = a.namespace and p.client_id = a.client_id and p.contract_id = a.contract_id
        and p.service_id = a.service_id and p.currency = a.currency
      -- done and rejected rows are left alone: a gate locks them rarely (a return), and the
      -- two-run rule covers that; locking every row would write every tuple header.
      where ${withLocks} and p.status in ('new', 'pending', 'confirmed')
      for key share of p skip locked),
    -- Ledger events committed but not yet sent: the account is busy, as if locked. Those the
    -- writer will not send by itself (refused, or behind a refused one) do not count: judge it.
    outbox as (
      select o.payout_id, max(o.id) as last, count(s.id) as waiting
      from t_ledger_outbox o left join t_ledger_outbox_sendable s on s.id = o.id group by o.payout_id)
    select a.subject, coalesce(md5(string_agg(p.id::text || ':' || p.xmin::text || ':' || coalesce(ob.last::text, ''), ',' order by p.id)), '') as fp,
           ((count(p.id) filter (where ${withLocks} and p.status in ('new', 'pending', 'confirmed') and u.id is null))
            + coalesce(sum(ob.waiting), 0))::int as locked
    from acc a
    left join t_payout p on p.namespace = a.namespace and p.client_id = a.client_id and p.contract_id = a.contract_id
      and p.service_id = a.service_id and p.currency = a.currency
    left join unlocked u on u.id = p.id
    left join outbox ob on ob.payout_id = p.id
    group by a.subject`;
}
