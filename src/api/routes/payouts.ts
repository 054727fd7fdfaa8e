import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpError, grantedNamespaces, mayUse, requireNamespace } from '../auth.ts';
import type { ApiDeps } from '../app.ts';
import { CheckBody, CheckResult, Created, ErrorBody, ErrorResponse, FixedPayoutBody, IdParam, PayoutListQuery, PayoutPage, PayoutView, Problem, commonErrors } from '../schemas.ts';
import { exactBodyOf, exactJsonBodies } from '../exact-json.ts';
import type { JsonNumber } from '../../domain/json.ts';
import { INT64_MAX } from '../../domain/status-messages.ts';
import Big from 'big.js';
import { decodeCursor, pageOf, type Order } from '../cursor.ts';
import { batchesOfPayment } from '../../store/oebs-payments.ts';
import { requestIdsByExternalId } from '../../store/requests.ts';
import { cmp, isWholeMinor } from '../../domain/money.ts';
import { minorDecimalsOf } from '../../config.ts';
import {
  findFixedPayoutByKey, findPayouts, getPayout, insertFixedPayout, sumByCheck,
  type FixedPayout, type PayoutRow, type PayoutStatus,
} from '../../store/payouts.ts';

export const payoutView = (p: PayoutRow) => ({
  ...p,
  id: Number(p.id),
  request_id: p.request_id === null ? null : Number(p.request_id),
  client_id: Number(p.client_id),
  contract_id: Number(p.contract_id),
  service_id: Number(p.service_id),
  next_attempt_at: p.next_attempt_at.toISOString(),
  created_at: p.created_at.toISOString(),
  updated_at: p.updated_at.toISOString(),
});

/** `YYYY-MM-DD` is a whole UTC day: `from` its start, `to` its end (the next day's start, exclusive). */
export function dayOrTime(v: string, edge: 'start' | 'end'): Date {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) return new Date(v);
  const d = new Date(`${v}T00:00:00Z`);
  if (edge === 'end') d.setUTCDate(d.getUTCDate() + 1);
  return d;
}

const sameFixedPayout = (a: FixedPayout, b: PayoutRow) =>
  !b.by_client && a.namespace === b.namespace && a.client_id === b.client_id && a.contract_id === b.contract_id &&
  a.currency === b.currency && cmp(a.amount, b.amount) === 0;

export const payoutRoutes = (deps: ApiDeps): FastifyPluginAsyncTypebox => async (app) => {
  const { config, sql } = deps;

  app.post('/payout', {
    schema: {
      operationId: 'createFixedPayout',
      summary: 'Ask for a payout of a fixed amount from one contract\'s payout account',
      description: 'Idempotent on (namespace, service_id, external_id). The sender rejects it if the balance does not cover the amount.',
      body: FixedPayoutBody(config.namespaces),
      response: {
        200: Created, 201: Created,
        403: ErrorResponse('the token does not grant this namespace'),
        409: ErrorResponse('this external_id of this service was already used for a different payout (the message names its id)'),
      },
    },
  }, async (req, reply) => {
    const b = req.body;
    requireNamespace(req.caller, b.namespace);
    // OEBS pays whole minor units: an amount it cannot pay exactly is refused here, not rounded.
    const decimals = minorDecimalsOf(config, b.currency);
    if (!isWholeMinor(b.amount, decimals)) {
      throw new HttpError(400, `body/amount: "${b.amount}" is not a whole number of ${b.currency} minor units (${decimals} decimals)`);
    }
    const p: FixedPayout = {
      external_id: b.external_id, namespace: b.namespace, client_id: String(b.client_id),
      contract_id: String(b.contract_id), service_id: String(b.service_id), currency: b.currency, amount: b.amount,
      approve_req: config.approveRequired === 'global' || config.approveRequired.includes(b.namespace),
    };
    const id = await insertFixedPayout(sql, p);
    if (id !== undefined) return reply.code(201).send({ id: Number(id) });
    const existing = await findFixedPayoutByKey(sql, p);
    if (!existing) throw new Error('payout neither inserted nor found');
    // The key is per namespace, so the id named here is of the caller's own namespace.
    if (!sameFixedPayout(p, existing)) {
      throw new HttpError(409, `external_id "${b.external_id}" of service ${b.service_id} was already used for a different payout (id ${existing.id})`);
    }
    return reply.code(200).send({ id: Number(existing.id) });
  });

  app.get('/payout', {
    schema: {
      operationId: 'findPayouts',
      summary: 'Find payouts: by client, request, external id, OEBS batch/check/payment id, status, namespace, creation time',
      description: 'Every filter given must hold; none given lists every payout of the token\'s namespaces. Newest first '
        + '(by id) unless order=asc; the approval queue (approve_req=true) is oldest first. Paged: pass next_cursor as cursor.',
      querystring: PayoutListQuery(config.namespaces),
      response: { 200: PayoutPage, ...commonErrors, 403: Problem('the token does not grant the namespace asked for') },
    },
  }, async (req) => {
    const q = req.query;
    const from = q.from ? dayOrTime(q.from, 'start') : undefined;
    const to = q.to ? dayOrTime(q.to, 'end') : undefined;
    if (from && to && from > to) throw new HttpError(400, 'querystring: "from" is after "to"');
    if (q.status !== undefined && q.statuses !== undefined) throw new HttpError(400, 'querystring: give "status" or "statuses", not both');
    if (q.namespace !== undefined) requireNamespace(req.caller, q.namespace);
    const namespaces = q.namespace !== undefined ? [q.namespace] : grantedNamespaces(req.caller, config.namespaces);
    const order = (q.order ?? (q.approve_req === 'true' ? 'asc' : 'desc')) as Order;
    const limit = q.limit ?? 1000;
    const rows = await findPayouts(sql, {
      namespaces,
      clientId: q.client_id,
      requestId: q.request_id,
      externalId: q.external_id === undefined ? undefined : { value: q.external_id, requestIds: await requestIdsByExternalId(sql, q.external_id, namespaces) },
      batchId: q.oebs_batch_id,
      checkId: q.oebs_check_id,
      paymentId: q.oebs_payment_id === undefined ? undefined : { value: q.oebs_payment_id, batchIds: await batchesOfPayment(sql, q.oebs_payment_id) },
      approveReq: q.approve_req === undefined ? undefined : q.approve_req === 'true',
      from, to,
      statuses: (q.status !== undefined ? [q.status] : q.statuses?.split(',')) as PayoutStatus[] | undefined,
      order,
      afterId: q.cursor === undefined ? undefined : decodeCursor(q.cursor, order),
      limit: limit + 1,
    });
    const page = pageOf(rows, limit, order);
    return { payouts: page.rows.map(payoutView), next_cursor: page.next };
  });

  app.get('/payout/:id', {
    schema: {
      operationId: 'getPayout', summary: 'One payout with its status', params: IdParam,
      response: { 200: PayoutView, 404: ErrorResponse('no such payout in the caller\'s namespaces') },
    },
  }, async (req) => {
    const row = await getPayout(sql, req.params.id);
    if (!row || !mayUse(req.caller, row.namespace)) throw new HttpError(404, `payout ${req.params.id} not found`);
    return payoutView(row);
  });

  // Check ids are int64: this route reads its body exactly (its own plugin context, so the other
  // routes keep Fastify's parser).
  await app.register(async (checks) => {
    exactJsonBodies(checks);
    checks.post('/check', {
      schema: { operationId: 'sumChecks', summary: 'Reconciliation: per OEBS check id, the sum of amount_oebs and the count of payouts', body: CheckBody, response: { 200: CheckResult } },
    }, async (req) => {
      // The schema passed: every check is a JSON number with an integer value (as a float). Its
      // literal decides, exactly; stored as the decimal text of the integer (t_payout.oebs_check_id is text).
      const literals = (exactBodyOf(req) as { checks: JsonNumber[] }).checks;
      const ids = literals.map((n, i) => {
        const v = new Big(n.text);
        if (!v.eq(v.round(0, Big.roundDown)) || v.lt(0) || v.gt(INT64_MAX.toString())) {
          throw new HttpError(400, `checks.${i}: must be an integer from 0 to ${INT64_MAX}`);
        }
        return v.toFixed();
      });
      const rows = await sumByCheck(sql, ids, grantedNamespaces(req.caller, config.namespaces));
      const found = new Map(rows.map((r) => [r.check_id, r]));
      return {
        checks: ids.map((id) => ({ check_id: BigInt(id), amount: found.get(id)?.amount ?? '0', count: Number(found.get(id)?.count ?? 0) })),
      };
    });
  });
};
