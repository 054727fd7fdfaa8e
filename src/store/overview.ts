// The SQL behind GET /overview: what an operator reads at a glance. Every statement is limited to
// the caller's namespaces and is a few index range scans (migrations 009 and 012), never a scan of
// the whole payout history: payouts still under way are counted all, finished ones over a window.
import type { Db } from '../db/connect.ts';
import { PAYOUT_STATUSES } from './payouts.ts';

/** Statuses a payout may still leave: each one's rows are all counted. */
export const FINAL_STATUSES = ['done', 'rejected'] as const;
export const liveStatuses = (): string[] => PAYOUT_STATUSES.filter((s) => !(FINAL_STATUSES as readonly string[]).includes(s));

export interface StatusTotal {
  namespace: string;
  currency: string;
  status: string;
  count: string;
  /** Sum of `amount`, a decimal string. */
  amount: string;
}

/** Per namespace, currency and status: the live payouts, and those finished since `finalSince`. */
export function statusTotals(db: Db, namespaces: readonly string[], finalSince: Date) {
  const ns = namespaces as string[];
  return db<StatusTotal[]>`
    select namespace, currency, status, count(*)::text as count, coalesce(sum(amount), 0)::text as amount
    from (
      select namespace, currency, status, amount from t_payout
      where status = any(${liveStatuses()}::text[]) and namespace = any(${ns}::text[])
      union all
      select namespace, currency, status, amount from t_payout
      where updated_at >= ${finalSince} and status = any(${[...FINAL_STATUSES]}::text[]) and namespace = any(${ns}::text[])
    ) p
    group by namespace, currency, status
    order by namespace, currency, status`;
}

export interface MinuteRate {
  minute: Date;
  created: string;
  /** Payouts done whose last change fell in that minute (their updated_at): the minute they finished. */
  done: string;
}

/** Payouts created and finished `done` in each of the last `minutes` minutes (the current one included). */
export function minuteRates(db: Db, namespaces: readonly string[], minutes: number) {
  const ns = namespaces as string[];
  return db<MinuteRate[]>`
    select m.minute,
      (select count(*) from t_payout p where p.created_at >= m.minute and p.created_at < m.minute + interval '1 minute'
         and p.namespace = any(${ns}::text[]))::text as created,
      (select count(*) from t_payout p where p.updated_at >= m.minute and p.updated_at < m.minute + interval '1 minute'
         and p.status = 'done' and p.namespace = any(${ns}::text[]))::text as done
    from generate_series(date_trunc('minute', now()) - (${minutes - 1} * interval '1 minute'), date_trunc('minute', now()), interval '1 minute') as m(minute)
    order by m.minute`;
}

/** Requests that want a person (failed, or parked once retries gave up), per status. */
export async function requestsNeedingAttention(db: Db, namespaces: readonly string[]): Promise<{ status: string; count: string }[]> {
  return db<{ status: string; count: string }[]>`
    select status, count(*)::text as count from t_request
    where status not in ('new', 'done') and namespace = any(${namespaces as string[]}::text[])
    group by status order by status`;
}

export interface TaskRunRow {
  task: string;
  last_run_at: Date | null;
  last_ok_at: Date | null;
  last_error: string | null;
}

export async function taskRuns(db: Db): Promise<TaskRunRow[]> {
  return db<TaskRunRow[]>`select task, last_run_at, last_ok_at, last_error from t_task_run order by task`;
}
