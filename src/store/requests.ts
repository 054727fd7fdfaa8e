// All SQL of t_request. One function per statement.
import type { Db } from '../db/connect.ts';

export type RequestStatus = 'new' | 'done' | 'error';

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
  created_at: Date;
  updated_at: Date;
}

/**
 * Inserts many requests in one statement (one round trip, one commit). Rows whose external_id
 * exists already are skipped; the returned rows are the ones this call created.
 */
export async function insertRequests(db: Db, rows: readonly NewRequest[]): Promise<{ id: string; external_id: string }[]> {
  return db<{ id: string; external_id: string }[]>`
    insert into t_request (external_id, client_id, namespace, cpf_only)
    select ext, client, ns, cpf::boolean from unnest(
      ${rows.map((r) => r.external_id)}::text[], ${rows.map((r) => r.client_id)}::int8[],
      ${rows.map((r) => r.namespace)}::text[],
      -- booleans travel as text: postgres.js mistypes a boolean array on a fresh connection
      ${rows.map((r) => (r.cpf_only ? 't' : 'f'))}::text[]) as u(ext, client, ns, cpf)
    on conflict (external_id) do nothing
    returning id, external_id`;
}

export async function findRequestsByExternalIds(db: Db, externalIds: readonly string[]): Promise<RequestRow[]> {
  return db<RequestRow[]>`select * from t_request where external_id = any(${externalIds as string[]}::text[])`;
}

export async function getRequest(db: Db, id: string): Promise<RequestRow | undefined> {
  const [row] = await db<RequestRow[]>`select * from t_request where id = ${id}`;
  return row;
}
