// All SQL of the tasks' own tables (migration 009): violations and task runs; and the
// housekeeping deletes of old topic messages and requests.
import type { Db } from '../db/connect.ts';
import type { Finding } from '../domain/integrity.ts';

/** Records disagreements: a new one opens a row (seen 1), one already open is seen again. */
export async function recordFindings(db: Db, fs: readonly Finding[]): Promise<void> {
  if (!fs.length) return;
  const col = (f: (x: Finding) => string | undefined) => fs.map((x) => f(x) ?? null) as string[];
  await db`
    insert into t_violation (kind, subject, namespace, client_id, contract_id, service_id, currency, payout_ids, expected, actual, detail)
    select kind, subject, ns, client::int8, contract::int8, service::int8, cur, string_to_array(ids, ',')::int8[], expected::numeric, actual::numeric, detail
    from unnest(${col((f) => f.kind)}::text[], ${col((f) => f.subject)}::text[], ${col((f) => f.namespace)}::text[],
                ${col((f) => f.client_id)}::text[], ${col((f) => f.contract_id)}::text[], ${col((f) => f.service_id)}::text[],
                ${col((f) => f.currency)}::text[], ${col((f) => f.payout_ids.join(','))}::text[], ${col((f) => f.expected)}::text[],
                ${col((f) => f.actual)}::text[], ${col((f) => f.detail)}::text[])
         as u(kind, subject, ns, client, contract, service, cur, ids, expected, actual, detail)
    on conflict (kind, subject) where cleared_at is null do update set
      seen = t_violation.seen + 1, last_seen = now(), payout_ids = excluded.payout_ids,
      expected = excluded.expected, actual = excluded.actual, detail = excluded.detail`;
}

/** Subjects of these kinds that a run checked and found agreeing: their open rows are cleared. */
export async function clearAgreeing(db: Db, kinds: readonly string[], checked: readonly string[], disagreeing: readonly string[]): Promise<number> {
  const rows = await db`
    update t_violation set cleared_at = now()
    where cleared_at is null and kind = any(${kinds as string[]}::text[])
      and subject = any(${checked as string[]}::text[]) and not (kind || ' ' || subject = any(${disagreeing as string[]}::text[]))
    returning id`;
  return rows.length;
}

/** Open subjects of these kinds: re-checked by every run until they clear. */
export async function openSubjects(db: Db, kinds: readonly string[]): Promise<string[]> {
  const rows = await db<{ subject: string }[]>`select distinct subject from t_violation where cleared_at is null and kind = any(${kinds as string[]}::text[])`;
  return rows.map((r) => r.subject);
}

export interface ViolationRow {
  kind: string;
  namespace: string | null;
  client_id: string | null;
  contract_id: string | null;
  service_id: string | null;
  currency: string | null;
  payout_ids: string[];
  expected: string | null;
  actual: string | null;
  detail: string | null;
  first_seen: Date;
  last_seen: Date;
}

/** Violations confirmed by two runs in a row, still open. */
export async function reportedViolations(db: Db, limit = 1000): Promise<ViolationRow[]> {
  return db<ViolationRow[]>`
    select kind, namespace, client_id::text, contract_id::text, service_id::text, currency, payout_ids::text[] as payout_ids,
           expected::text, actual::text, detail, first_seen, last_seen
    from t_violation where cleared_at is null and seen >= 2 order by id limit ${limit}`;
}

export async function countReportedViolations(db: Db): Promise<number> {
  const [row] = await db<{ n: string }[]>`select count(*)::text as n from t_violation where cleared_at is null and seen >= 2`;
  return Number(row!.n);
}

export interface TaskRun {
  watermark: Date | null;
  last_run_at: Date | null;
  last_ok_at: Date | null;
}

export async function getTaskRun(db: Db, task: string): Promise<TaskRun | undefined> {
  const [row] = await db<TaskRun[]>`select watermark, last_run_at, last_ok_at from t_task_run where task = ${task}`;
  return row;
}

/** A run finished: `watermark` is where the next run looks back to (this run's start). */
export async function finishTaskRun(db: Db, task: string, r: { startedAt: Date; ok: boolean; error?: string }): Promise<void> {
  await db`
    insert into t_task_run (task, watermark, last_run_at, last_ok_at, last_error)
    values (${task}, ${r.ok ? r.startedAt : null}, ${r.startedAt}, ${r.ok ? r.startedAt : null}, ${r.error ?? null})
    on conflict (task) do update set
      watermark = coalesce(${r.ok ? r.startedAt : null}, t_task_run.watermark), last_run_at = excluded.last_run_at,
      last_ok_at = coalesce(excluded.last_ok_at, t_task_run.last_ok_at), last_error = excluded.last_error`;
}

/** When the last integrity run finished well (the reconciliation's checked_at). */
export async function lastOkRun(db: Db, task: string): Promise<Date | null> {
  const [row] = await db<{ last_ok_at: Date | null }[]>`select last_ok_at from t_task_run where task = ${task}`;
  return row?.last_ok_at ?? null;
}

/**
 * Up to `limit` topic messages older than `before` that no one still needs: delivered to every
 * group (no delivery row) and relayed (no outbox row). SKIP LOCKED and a small batch keep the
 * delete from ever waiting on, or holding up, a publisher or consumer.
 */
export async function deleteConsumedMessages(db: Db, before: Date, limit: number): Promise<number> {
  const rows = await db`
    delete from topic_message where id in (
      select m.id from topic_message m
      where m.created_at < ${before}
        and not exists (select 1 from topic_delivery d where d.message_id = m.id)
        and not exists (select 1 from topic_outbox o where o.message_id = m.id)
      order by m.created_at
      limit ${limit}
      for update skip locked)
    returning id`;
  return rows.length;
}

/**
 * Up to `limit` finished requests (done/error) last changed before `before` that made no payout
 * (a payout keeps its request: t_payout.request_id references it, and payouts are the money's
 * audit trail, never deleted).
 */
export async function deleteFinishedRequests(db: Db, before: Date, limit: number): Promise<number> {
  const rows = await db`
    delete from t_request where id in (
      select r.id from t_request r
      where r.status <> 'new' and r.updated_at < ${before}
        and not exists (select 1 from t_payout p where p.request_id = r.id)
      order by r.updated_at
      limit ${limit}
      for update skip locked)
    returning id`;
  return rows.length;
}
