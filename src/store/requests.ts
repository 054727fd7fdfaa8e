// All SQL of t_request. One function per statement.
import type { Db } from '../db/connect.ts';

export type RequestStatus = 'new' | 'done' | 'error';
export const REQUEST_STATUSES: readonly RequestStatus[] = ['new', 'done', 'error'];

export interface NewRequest {
  external_id: string;
  client_id: string;
  namespace: string;
  cpf_only: boolean;
}

export interface RequestRow extends NewRequest {
  id: string;
  status: RequestStatus;
  error: string | null;
  /** Failed attempts of req-gate (transient accounts failures), their last error, and when it tries again. */
  attempts: number;
  last_error: string | null;
  next_attempt_at: Date;
  created_at: Date;
  updated_at: Date;
}

/** A caller's idempotency key: external ids are unique per namespace (DESIGN: keys are per tenant). */
export type RequestKey = Pick<NewRequest, 'namespace' | 'external_id'>;

/**
 * Inserts many requests in one statement (one round trip, one commit). Rows whose
 * (namespace, external_id) exists already are skipped; the returned rows are the ones this call created.
 */
export async function insertRequests(db: Db, rows: readonly NewRequest[]): Promise<({ id: string } & RequestKey)[]> {
  return db<({ id: string } & RequestKey)[]>`
    insert into t_request (external_id, client_id, namespace, cpf_only)
    select ext, client, ns, cpf::boolean from unnest(
      ${rows.map((r) => r.external_id)}::text[], ${rows.map((r) => r.client_id)}::int8[],
      ${rows.map((r) => r.namespace)}::text[],
      -- booleans travel as text: postgres.js mistypes a boolean array on a fresh connection
      ${rows.map((r) => (r.cpf_only ? 't' : 'f'))}::text[]) as u(ext, client, ns, cpf)
    on conflict (namespace, external_id) do nothing
    returning id, namespace, external_id`;
}

export async function findRequestsByKeys(db: Db, keys: readonly RequestKey[]): Promise<RequestRow[]> {
  return db<RequestRow[]>`
    select r.* from t_request r
    join unnest(${keys.map((k) => k.namespace)}::text[], ${keys.map((k) => k.external_id)}::text[]) as k(ns, ext)
      on r.namespace = k.ns and r.external_id = k.ext`;
}

export async function getRequest(db: Db, id: string): Promise<RequestRow | undefined> {
  const [row] = await db<RequestRow[]>`select * from t_request where id = ${id}`;
  return row;
}

export type ClaimedRequest = Pick<RequestRow, 'id' | 'external_id' | 'client_id' | 'namespace' | 'cpf_only' | 'attempts'>;

/**
 * Locks up to `limit` new requests that are due for the calling transaction. SKIP LOCKED lets
 * any number of req-gate replicas claim side by side: each sees only rows nobody else holds, and
 * a replica that dies releases its rows with its connection, so they are simply claimed again.
 * Due order from the index t_request_due: a request waiting out its backoff is outside the
 * range scanned, so it never holds back the ones behind it.
 */
export async function claimNewRequests(tx: Db, limit: number): Promise<ClaimedRequest[]> {
  return tx<ClaimedRequest[]>`
    select id, external_id, client_id, namespace, cpf_only, attempts from t_request
    where status = 'new' and next_attempt_at <= now()
    order by next_attempt_at, id
    limit ${limit}
    for update skip locked`;
}

/** Failed attempts (transient accounts failures): counted, the error kept, due again after the backoff. */
export async function deferRequests(tx: Db, rows: readonly { id: string; attempts: number; error: string; delayMs: number }[]): Promise<void> {
  if (!rows.length) return;
  await tx`
    update t_request r set attempts = u.attempts, last_error = u.error, next_attempt_at = now() + u.delay * interval '1 millisecond'
    from unnest(${rows.map((r) => r.id)}::int8[], ${rows.map((r) => r.attempts)}::int[], ${rows.map((r) => r.error)}::text[],
                ${rows.map((r) => r.delayMs)}::int8[]) as u(id, attempts, error, delay)
    where r.id = u.id and r.status = 'new'`;
}

/** The last attempt failed: the request is parked in `error`, with the error, until retried. */
export async function parkRequests(tx: Db, rows: readonly { id: string; attempts: number; lastError: string; error: string }[]): Promise<void> {
  if (!rows.length) return;
  await tx`
    update t_request r set status = 'error', attempts = u.attempts, last_error = u.last, error = u.error, updated_at = now()
    from unnest(${rows.map((r) => r.id)}::int8[], ${rows.map((r) => r.attempts)}::int[], ${rows.map((r) => r.lastError)}::text[],
                ${rows.map((r) => r.error)}::text[]) as u(id, attempts, last, error)
    where r.id = u.id and r.status = 'new'`;
}

/** Locks one request until the end of the transaction (a retry decides under this lock). */
export async function lockRequest(tx: Db, id: string): Promise<RequestRow | undefined> {
  const [row] = await tx<RequestRow[]>`select * from t_request where id = ${id} for update`;
  return row;
}

/**
 * Retried by a person: error → new, due now, attempts from zero; its error moves to last_error.
 * Safe for any error: a request's payouts are keyed by the request and account, so a request
 * that had stored some finds them again (req-gate checks each is the one it plans).
 */
export async function unparkRequest(tx: Db, id: string): Promise<boolean> {
  const rows = await tx`update t_request set status = 'new', last_error = error, error = null, attempts = 0, next_attempt_at = now(), updated_at = now()
                        where id = ${id} and status = 'error' returning id`;
  return rows.length === 1;
}

/** How many requests are in `error` (payout_parked{kind="request"}). */
export async function countErroredRequests(db: Db): Promise<number> {
  const [row] = await db<{ n: number }[]>`select count(*)::int as n from t_request where status = 'error'`;
  return row!.n;
}

export async function markRequestsDone(tx: Db, ids: readonly string[]): Promise<void> {
  if (!ids.length) return;
  await tx`update t_request set status = 'done', updated_at = now()
           where id = any(${ids as string[]}::int8[]) and status = 'new'`;
}

export async function markRequestError(tx: Db, id: string, error: string): Promise<void> {
  await tx`update t_request set status = 'error', error = ${error}, updated_at = now()
           where id = ${id} and status = 'new'`;
}

/** The ids of requests with this external_id in these namespaces (one per namespace at most). */
export async function requestIdsByExternalId(db: Db, externalId: string, namespaces: readonly string[]): Promise<string[]> {
  const rows = await db<{ id: string }[]>`
    select id::text from t_request where external_id = ${externalId} and namespace = any(${namespaces as string[]}::text[])`;
  return rows.map((r) => r.id);
}

/** Requests newest first (id below `beforeId`), of these namespaces and statuses. */
export function findRequests(
  db: Db, f: { namespaces: readonly string[]; statuses?: readonly string[]; beforeId?: string; limit: number },
) {
  return db<RequestRow[]>`
    select * from t_request
    where namespace = any(${f.namespaces as string[]}::text[])
      ${f.statuses?.length ? db`and status = any(${f.statuses as string[]}::text[])` : db``}
      ${f.beforeId !== undefined ? db`and id < ${f.beforeId}` : db``}
    order by id desc
    limit ${f.limit}`;
}
