import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpError, mayUse, requireNamespace } from '../auth.ts';
import { DeadlineExceeded, QueueFull } from '../request-writer.ts';
import type { ApiDeps } from '../app.ts';
import { decodeCursor, pageOf } from '../cursor.ts';
import { Created, ErrorBody, ErrorResponse, IdParam, PayoutByClientBody, Problem, RequestListQuery, RequestPage, RequestView, commonErrors } from '../schemas.ts';
import { grantedNamespaces } from '../auth.ts';
import { findRequests, getRequest, type RequestRow } from '../../store/requests.ts';

export const requestView = (r: RequestRow) => ({
  ...r,
  id: Number(r.id),
  client_id: Number(r.client_id),
  next_attempt_at: r.next_attempt_at.toISOString(),
  created_at: r.created_at.toISOString(),
  updated_at: r.updated_at.toISOString(),
});

export const requestRoutes = (deps: ApiDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.post('/payout-by-client', {
    schema: {
      operationId: 'requestPayoutByClient',
      summary: 'Ask for a payout of everything on the client\'s payout accounts',
      description: 'Stores the request (status `new`); req-gate turns it into payouts. Idempotent on (namespace, external_id).',
      body: PayoutByClientBody(deps.config.namespaces),
      response: {
        200: Created, 201: Created,
        403: ErrorResponse('the token does not grant this namespace'),
        409: ErrorResponse('this external_id was already used for a different request (the message names its id)'),
        503: ErrorResponse('not stored within PAYOUT_API_DEADLINE, or too many requests waiting for the database: retry with the same external_id', { retryAfter: true }),
      },
    },
  }, async (req, reply) => {
    const b = req.body;
    requireNamespace(req.caller, b.namespace);
    const deadlineMs = deps.config.apiLimits.deadlineMs;
    let result;
    try {
      result = await deps.requestWriter.submit({
        external_id: b.external_id,
        client_id: String(b.client_id),
        namespace: b.namespace,
        cpf_only: b.cpf_only ?? false,
      }, deadlineMs);
    } catch (err) {
      // Answer in time rather than hang: the caller retries with the same external_id and gets
      // its id whether or not a late commit happened.
      if (err instanceof QueueFull) throw new HttpError(503, 'too many requests waiting for the database; retry with the same external_id', 1);
      if (err instanceof DeadlineExceeded) {
        throw new HttpError(503, `not stored within ${deadlineMs} ms; retry with the same external_id`, Math.max(1, Math.ceil(deadlineMs / 1000)));
      }
      throw err;
    }
    // The key is (namespace, external_id), so the id named here is of the caller's own namespace.
    if (result.kind === 'conflict') {
      throw new HttpError(409, `external_id "${b.external_id}" was already used for a different request (id ${result.id})`);
    }
    reply.code(result.kind === 'created' ? 201 : 200);
    return { id: Number(result.id) };
  });

  app.get('/request/:id', {
    schema: {
      operationId: 'getRequest', summary: 'One payout request with its status', params: IdParam,
      response: { 200: RequestView, 404: ErrorResponse('no such request in the caller\'s namespaces') },
    },
  }, async (req) => {
    const row = await getRequest(deps.sql, req.params.id);
    if (!row || !mayUse(req.caller, row.namespace)) throw new HttpError(404, `request ${req.params.id} not found`);
    return requestView(row);
  });

  app.get('/request', {
    schema: {
      operationId: 'listRequests',
      summary: 'Payout requests, newest first (e.g. status=error: the ones that want a person)',
      description: 'Paged: pass next_cursor as cursor.',
      querystring: RequestListQuery(deps.config.namespaces),
      response: { 200: RequestPage, ...commonErrors, 403: Problem('the token does not grant the namespace asked for') },
    },
  }, async (req) => {
    const q = req.query;
    if (q.namespace !== undefined) requireNamespace(req.caller, q.namespace);
    const limit = q.limit ?? 100;
    const rows = await findRequests(deps.sql, {
      namespaces: q.namespace !== undefined ? [q.namespace] : grantedNamespaces(req.caller, deps.config.namespaces),
      statuses: q.status === undefined ? undefined : [q.status],
      beforeId: q.cursor === undefined ? undefined : decodeCursor(q.cursor, 'desc'),
      limit: limit + 1,
    });
    const page = pageOf(rows, limit, 'desc');
    return { requests: page.rows.map(requestView), next_cursor: page.next };
  });
};
