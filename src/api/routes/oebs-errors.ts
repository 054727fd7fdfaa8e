// POST /oebs-errors/replay: the receiver's oebs-errors reports applied again (src/oebs-gate/replay.ts).
// A caller replays the errors topics of its namespaces, touching only their payouts.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { HttpError } from '../auth.ts';
import type { ApiDeps } from '../app.ts';
import { ErrorResponse } from '../schemas.ts';
import type { Logger } from '../../log.ts';
import { chooseTopics, createReplayer, parseSince } from '../../oebs-gate/replay.ts';

const ReplayBody = Type.Object({
  since: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'only reports written at or after: an ISO date-time, a YYYY-MM-DD UTC day, or a duration back from now (24h, 7d)', examples: ['2025-03-01T10:00:00Z', '24h'] })),
  topic: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'one oebs-errors topic (default: every one of the caller\'s namespaces)', examples: ['/billing-payout/prod/oebs/oebs-errors'] })),
}, { additionalProperties: false });

const ReplayCount = Type.Object({
  topic: Type.String(),
  replayed: Type.Integer({ description: 'source messages found in the topic (one per message, however many reports it had)' }),
  applied: Type.Integer({ description: 'applied now' }),
  unchanged: Type.Integer({ description: 'applied already: nothing to do' }),
  failing: Type.Integer({ description: 'still cannot be applied: left in oebs-errors, nothing published' }),
});

export const oebsErrorsRoutes = (deps: ApiDeps): FastifyPluginAsyncTypebox => async (app) => {
  let replay: ReturnType<typeof createReplayer> | undefined;
  app.post('/oebs-errors/replay', {
    schema: {
      operationId: 'replayOebsErrors',
      summary: 'Apply the ARD/OEBS messages in oebs-errors again: what applies now applies, the rest stays',
      description: 'Idempotent: a message applied by an earlier replay counts as unchanged, and one that still fails publishes nothing new. '
        + 'A caller replays the errors topics of its namespaces and touches only their payouts. '
        + 'A 503 (accounts system or database unavailable) may have applied part: replay again.',
      body: ReplayBody,
      response: {
        200: Type.Object({ topics: Type.Array(ReplayCount) }, { description: 'what the replay did, per errors topic' }),
        400: ErrorResponse('a bad since, or a topic that is not an errors topic'),
        401: ErrorResponse('missing or unknown bearer token'),
        403: ErrorResponse('the topic carries none of the token\'s namespaces'),
        503: ErrorResponse('the accounts system or the database is unavailable: replay again', { retryAfter: true }),
      },
    },
  }, async (req) => {
    const body = req.body ?? {};
    const since = body.since === undefined ? undefined : parseSince(body.since);
    if (body.since !== undefined && !since) throw new HttpError(400, `body/since: "${body.since}" is not an ISO date-time, a YYYY-MM-DD day or a duration like 24h`);
    const choice = chooseTopics(deps.config, req.caller.namespaces, body.topic);
    if (!choice.ok) throw new HttpError(choice.status, choice.message);
    // Made at the first call: its accounts client is needed by nothing else in the api.
    replay ??= createReplayer(deps.config, deps.sql, app.log as unknown as Logger);
    try {
      return { topics: await replay(choice.topics, since) };
    } catch (err) {
      req.log.error({ err }, 'oebs-errors replay failed');
      throw new HttpError(503, 'the accounts system or the database is unavailable; what was replayed stays applied: replay again', 5);
    }
  });
};
