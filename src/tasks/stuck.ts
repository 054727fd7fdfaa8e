// Stuck payouts: per waiting status, the payouts that have waited longer than
// PAYOUT_STUCK_AFTER allows, logged with the oldest ids so an operator knows where to look. The
// gauges (payout_stuck, payout_oldest_seconds) are computed by the api at scrape time from the
// same table, so they need no task to be running. Parked payouts (and requests in error) wait for
// a person, not for a gate: they are not stuck in `new`, they are counted apart (payout_parked).
import { STUCK_STATUSES, type Config } from '../config.ts';
import type { Sql } from '../db/connect.ts';
import { countParkedPayouts, stuckPayoutIds, waitingStats } from '../store/payouts.ts';
import { countErroredRequests } from '../store/requests.ts';

export async function runStuck(sql: Sql, config: Pick<Config, 'tasks'>): Promise<{ status: string; stuck: number; oldest: string[] }[]> {
  const stats = await waitingStats(sql, config.tasks.stuckAfterMs);
  const out = [];
  for (const status of STUCK_STATUSES) {
    const stuck = Number(stats.find((s) => s.status === status)?.stuck ?? 0);
    if (stuck > 0) out.push({ status, stuck, oldest: await stuckPayoutIds(sql, status, config.tasks.stuckAfterMs[status], 10) });
  }
  return out;
}

/** payout_parked{kind}: payouts parked, requests in error. */
export async function parkedCounts(sql: Sql): Promise<{ payout: number; request: number }> {
  const [payout, request] = await Promise.all([countParkedPayouts(sql), countErroredRequests(sql)]);
  return { payout, request };
}
