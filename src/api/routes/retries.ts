// Retries that end (src/domain/retry.ts): a payout the sender parked, or a request req-gate left
// in `error`, is put back by a person — due now, attempts counted from zero. Each call decides
// under the row's lock; anything else than a parked payout / errored request is a 409 naming its
// status, so a retry that already happened is told apart from one that did not.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpError, mayUse } from '../auth.ts';
import type { ApiDeps } from '../app.ts';
import { ErrorAnswer, IdParam, PayoutView, RequestView } from '../schemas.ts';
import { getPayout, lockPayout, setHistoryActor, unparkPayout } from '../../store/payouts.ts';
import { getRequest, lockRequest, unparkRequest } from '../../store/requests.ts';
import { payoutView } from './payouts.ts';
import { requestView } from './requests.ts';

const answers = (what: 'payout' | 'request', waiting: string) => ({
  400: ErrorAnswer('the id is not a positive integer'),
  401: ErrorAnswer('no bearer token, or an unknown one'),
  404: ErrorAnswer(`no ${what} with this id in the caller's namespaces`),
  409: ErrorAnswer(`the ${what} is not ${waiting}; the message names its status (a repeated retry finds it new, or further on)`),
});

export const retryRoutes = (deps: ApiDeps): FastifyPluginAsyncTypebox => async (app) => {
  const { sql } = deps;

  app.post('/payout/:id/retry', {
    schema: {
      operationId: 'retryPayout',
      summary: 'Put a parked payout back to the sender: status new, due now, attempts from zero',
      description: 'A payout is parked after PAYOUT_MAX_ATTEMPTS failed attempts of the sender (its `error` says the last). '
        + 'An earlier attempt\'s reservation in the ledger, if one landed, is reused: nothing is reserved twice. '
        + 'The history records the caller (`actor`) and `action` retry.',
      params: IdParam,
      response: { 200: PayoutView, ...answers('payout', 'parked') },
    },
  }, async (req) => {
    const { id } = req.params;
    await sql.begin(async (tx) => {
      const p = await lockPayout(tx, id);
      // Another namespace's payout is as absent as a missing one (no id leaks across tenants).
      if (!p || !mayUse(req.caller, p.namespace)) throw new HttpError(404, `payout ${id} not found`);
      if (p.status !== 'parked') throw new HttpError(409, `payout ${id} is not parked (status ${p.status})`);
      await setHistoryActor(tx, { actor: req.caller.name, action: 'retry', reason: p.error ?? undefined });
      if (!(await unparkPayout(tx, id))) throw new Error(`retry: the guarded update of payout ${id} changed nothing under its row lock`);
    });
    req.log.info({ payout: id, caller: req.caller.name }, 'payout retried');
    return payoutView((await getPayout(sql, id))!);
  });

  app.post('/request/:id/retry', {
    schema: {
      operationId: 'retryRequest',
      summary: 'Put a request in error back to req-gate: status new, due now, attempts from zero',
      description: 'A request ends in `error` when the accounts system refused it, its payouts could not be planned or stored, or after '
        + 'PAYOUT_MAX_ATTEMPTS failed attempts; its error moves to `last_error`. Payouts it already made are found again, never made twice.',
      params: IdParam,
      response: { 200: RequestView, ...answers('request', 'in error') },
    },
  }, async (req) => {
    const { id } = req.params;
    await sql.begin(async (tx) => {
      const r = await lockRequest(tx, id);
      if (!r || !mayUse(req.caller, r.namespace)) throw new HttpError(404, `request ${id} not found`);
      if (r.status !== 'error') throw new HttpError(409, `request ${id} is not in error (status ${r.status})`);
      if (!(await unparkRequest(tx, id))) throw new Error(`retry: the guarded update of request ${id} changed nothing under its row lock`);
    });
    req.log.info({ request: id, caller: req.caller.name }, 'request retried');
    return requestView((await getRequest(sql, id))!);
  });
};
