// GET /reconciliation: what the tasks' integrity checks found, as open violations (seen by two
// runs in a row). `ok` is false as long as one is open; it clears when a later run agrees.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { mayUse } from '../auth.ts';
import type { ApiDeps } from '../app.ts';
import { lastOkRun, reportedViolations, type ViolationRow } from '../../store/tasks.ts';

export const Violation = Type.Object({
  kind: Type.String(),
  namespace: Type.Union([Type.String(), Type.Null()]),
  client_id: Type.Union([Type.Integer(), Type.Null()]),
  contract_id: Type.Union([Type.Integer(), Type.Null()]),
  currency: Type.Union([Type.String(), Type.Null()]),
  payout_ids: Type.Array(Type.Integer()),
  expected: Type.Union([Type.String(), Type.Null()]),
  actual: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Union([Type.String(), Type.Null()]),
  first_seen: Type.String({ format: 'date-time' }),
  last_seen: Type.String({ format: 'date-time' }),
});

const num = (v: string | null) => (v === null ? null : Number(v));

export const violationView = (v: ViolationRow) => ({
  kind: v.kind, namespace: v.namespace, client_id: num(v.client_id), contract_id: num(v.contract_id), currency: v.currency,
  payout_ids: v.payout_ids.map(Number), expected: v.expected, actual: v.actual, detail: v.detail,
  first_seen: v.first_seen.toISOString(), last_seen: v.last_seen.toISOString(),
});

export const reconciliationRoutes = (deps: ApiDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.get('/reconciliation', {
    schema: {
      operationId: 'getReconciliation',
      summary: 'Open disagreements between the ledger, OEBS payments and the payouts (the tasks\' integrity checks)',
      response: { 200: Type.Object({ ok: Type.Boolean(), checked_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]), violations: Type.Array(Violation) }) },
    },
  }, async (req) => {
    const [rows, checkedAt] = await Promise.all([reportedViolations(deps.sql), lastOkRun(deps.sql, 'integrity')]);
    // A caller sees its namespaces' violations; payment violations (no namespace) only a caller of every namespace.
    const visible = rows.filter((v) => (v.namespace === null ? req.caller.namespaces.includes('*') : mayUse(req.caller, v.namespace)));
    return {
      ok: rows.length === 0,
      checked_at: checkedAt?.toISOString() ?? null,
      violations: visible.map(violationView),
    };
  });
};
