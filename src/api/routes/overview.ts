// GET /overview: the numbers an operator reads at a glance (the console's first page), for the
// caller's namespaces: payouts by status with counts and amounts per namespace and currency, the
// rate of the last minutes, stuck payouts and the requests that want a person, and the integrity
// state the tasks found. The same tables as the metrics; money as decimal strings.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { STUCK_STATUSES } from '../../config.ts';
import { minuteRates, requestsNeedingAttention, statusTotals, taskRuns } from '../../store/overview.ts';
import { PAYOUT_STATUSES, waitingStats } from '../../store/payouts.ts';
import { REQUEST_STATUSES } from '../../store/requests.ts';
import { lastOkRun, reportedViolations } from '../../store/tasks.ts';
import { grantedNamespaces, mayUse } from '../auth.ts';
import type { ApiDeps } from '../app.ts';
import { commonErrors } from '../schemas.ts';
import { Violation, violationView } from './reconciliation.ts';

const Time = Type.String({ format: 'date-time' });
const NullableTime = Type.Union([Time, Type.Null()]);
const Count = Type.Integer({ minimum: 0 });

const OverviewQuery = Type.Object(
  {
    minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 120, default: 10, description: 'how many minutes the rate covers' })),
    final_hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 24 * 31, default: 24, description: 'done and rejected payouts are counted over this many hours (by their last change)' })),
  },
  { additionalProperties: false },
);

const Overview = Type.Object({
  generated_at: Time,
  namespaces: Type.Array(Type.String(), { description: "the namespaces of the caller's token" }),
  payout_statuses: Type.Array(Type.String()),
  request_statuses: Type.Array(Type.String()),
  final_since: Type.String({ format: 'date-time', description: 'done and rejected payouts are counted from here on; the others all' }),
  totals: Type.Array(Type.Object({
    namespace: Type.String(), currency: Type.String(), status: Type.String(), count: Count,
    amount: Type.String({ description: 'sum of the amounts, a decimal string' }),
  })),
  rate: Type.Array(Type.Object({ minute: Time, created: Count, done: Count }), { description: 'payouts created and payouts done per minute, oldest minute first (the last one is under way)' }),
  stuck: Type.Array(Type.Object({
    status: Type.String(), count: Count, oldest_seconds: Type.Number({ description: 'how long the oldest payout in this status has waited (0: none)' }),
  }), { description: 'payouts waiting in a status longer than PAYOUT_STUCK_AFTER allows' }),
  parked_payouts: Count,
  requests_needing_attention: Type.Array(Type.Object({ status: Type.String(), count: Count })),
  integrity: Type.Object({
    ok: Type.Boolean({ description: 'false while any violation is open (also one the caller may not see)' }),
    checked_at: NullableTime,
    violations: Type.Array(Violation, { description: "the open violations the caller may see (its namespaces'), at most 100" }),
    tasks: Type.Array(Type.Object({ task: Type.String(), last_run_at: NullableTime, last_ok_at: NullableTime, last_error: Type.Union([Type.String(), Type.Null()]) })),
  }),
}, { description: "the overview of the token's namespaces" });

const iso = (d: Date | null) => d?.toISOString() ?? null;

export const overviewRoutes = (deps: ApiDeps): FastifyPluginAsyncTypebox => async (app) => {
  const { sql, config } = deps;
  app.get('/overview', {
    schema: {
      operationId: 'getOverview',
      summary: 'At a glance: payouts by status, the rate of the last minutes, stuck and parked payouts, the integrity state',
      querystring: OverviewQuery,
      response: { 200: Overview, ...commonErrors },
    },
  }, async (req) => {
    const namespaces = grantedNamespaces(req.caller, config.namespaces);
    const now = new Date();
    const finalSince = new Date(now.getTime() - (req.query.final_hours ?? 24) * 3_600_000);
    const [totals, rate, waiting, requests, violations, checkedAt, tasks] = await Promise.all([
      statusTotals(sql, namespaces, finalSince),
      minuteRates(sql, namespaces, req.query.minutes ?? 10),
      waitingStats(sql, config.tasks.stuckAfterMs, namespaces),
      requestsNeedingAttention(sql, namespaces),
      reportedViolations(sql),
      lastOkRun(sql, 'integrity'),
      taskRuns(sql),
    ]);
    // The same visibility rule as GET /reconciliation.
    const visible = violations.filter((v) => (v.namespace === null ? req.caller.namespaces.includes('*') : mayUse(req.caller, v.namespace)));
    return {
      generated_at: now.toISOString(),
      namespaces,
      payout_statuses: [...PAYOUT_STATUSES],
      request_statuses: [...REQUEST_STATUSES],
      final_since: finalSince.toISOString(),
      totals: totals.map((t) => ({ ...t, count: Number(t.count) })),
      rate: rate.map((r) => ({ minute: r.minute.toISOString(), created: Number(r.created), done: Number(r.done) })),
      stuck: STUCK_STATUSES.map((status) => {
        const w = waiting.find((x) => x.status === status);
        return { status, count: Number(w?.stuck ?? 0), oldest_seconds: Math.round(Number(w?.oldest_seconds ?? 0)) };
      }),
      parked_payouts: totals.filter((t) => t.status === 'parked').reduce((n, t) => n + Number(t.count), 0),
      requests_needing_attention: requests.map((r) => ({ status: r.status, count: Number(r.count) })),
      integrity: {
        ok: violations.length === 0,
        checked_at: iso(checkedAt),
        violations: visible.slice(0, 100).map(violationView),
        tasks: tasks.map((t) => ({ task: t.task, last_run_at: iso(t.last_run_at), last_ok_at: iso(t.last_ok_at), last_error: t.last_error })),
      },
    };
  });
};

