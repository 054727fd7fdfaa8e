// buildApp() wires the api without listening, so tests drive it through app.inject() and the
// entry point decides where it listens.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type RouteOptions } from 'fastify';
import type { Logger } from 'pino';
import { createAccountsClient, type AccountsClient } from '../accounts/client.ts';
import type { Config } from '../config.ts';
import type { Sql } from '../db/connect.ts';
import { bearerMatches } from '../metrics-token.ts';
import { HttpError, authenticate } from './auth.ts';
import { registerConsole } from './console.ts';
import { registerMetrics } from './metrics.ts';
import { RequestWriter } from './request-writer.ts';
import { approvalRoutes } from './routes/approvals.ts';
import { overviewRoutes } from './routes/overview.ts';
import { oebsErrorsRoutes } from './routes/oebs-errors.ts';
import { payoutRoutes } from './routes/payouts.ts';
import { reconciliationRoutes } from './routes/reconciliation.ts';
import { requestRoutes } from './routes/requests.ts';
import { retryRoutes } from './routes/retries.ts';
import { storyRoutes } from './routes/story.ts';
import { registerTaskGauges } from './tasks-metrics.ts';
import { ErrorResponse } from './schemas.ts';
import { describeValidationError, unstorableText, validatorCompiler } from './validation.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The api's write queue (its bound and high-water mark are visible to tests). */
    requestWriter: RequestWriter;
  }
}

export interface ApiDeps {
  config: Readonly<Config>;
  sql: Sql;
  requestWriter: RequestWriter;
  /** Read only: a payout's ledger events for its story. */
  accounts: AccountsClient;
}

/** accounts: the accounts system's client (default: PAYOUT_ACCOUNTS_URL). */
export async function buildApp(opts: { config: Readonly<Config>; sql: Sql; logger?: Logger; accounts?: AccountsClient }): Promise<FastifyInstance> {
  const { config, sql } = opts;
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger | undefined,
    // One log line per request would cost more than storing the request.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.api.bodyLimit,
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler());
  app.setSchemaErrorFormatter((errors, part) => new Error(describeValidationError(errors as never, part)));
  app.setErrorHandler(errorHandler);
  // PAYOUT_METRICS_TOKEN puts /metrics and /docs (and its assets) behind a token of their own.
  const metricsToken = config.metricsToken;
  if (metricsToken !== undefined) {
    app.addHook('onRequest', async (req) => {
      const path = req.url.split('?')[0]!;
      const guarded = path === '/metrics' || path === '/docs' || path.startsWith('/docs/');
      if (guarded && !bearerMatches(req.headers.authorization, metricsToken)) throw new HttpError(401, 'this path needs the metrics token: send "Authorization: Bearer <PAYOUT_METRICS_TOKEN>"');
    });
  }
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'Not Found', message: `no route ${req.method} ${req.url}` }));

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'payout',
        version: '0.1.0',
        description: 'Payout requests, payouts and their statuses',
        license: { name: 'MIT', url: 'https://opensource.org/license/mit' },
      },
      // Relative: the api that serves this document, wherever it is deployed (behind a proxy too).
      servers: [{ url: '/', description: 'the api serving this document' }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  registerTaskGauges(registerMetrics(app), sql, config);

  app.get('/ping', { schema: { hide: true } }, async () => 'pong');
  app.get('/pingdb', { schema: { hide: true } }, async (_req, reply) => {
    try {
      await sql`select 1`;
      return 'pong';
    } catch {
      return reply.code(503).send({ error: 'Service Unavailable', message: 'database unreachable' });
    }
  });

  registerConsole(app);

  const deps: ApiDeps = {
    config, sql,
    requestWriter: new RequestWriter(sql, { log: app.log, maxQueue: config.apiLimits.maxQueue }),
    accounts: opts.accounts ?? createAccountsClient({ url: config.accounts.url, timeoutMs: config.accounts.timeoutMs }),
  };
  app.decorate('requestWriter', deps.requestWriter);
  await app.register(async (v1) => {
    v1.addHook('onRoute', describeCommonErrors);
    v1.decorateRequest('caller', undefined as never);
    v1.addHook('onRequest', authenticate(config.api.tokens));
    // Before the schemas: text Postgres cannot store is refused whatever field holds it.
    v1.addHook('preValidation', async (req) => {
      const message = unstorableText(req.params, 'params') ?? unstorableText(req.query, 'querystring') ?? unstorableText(req.body, 'body');
      if (message) throw new HttpError(400, message);
    });
    await v1.register(requestRoutes(deps));
    await v1.register(payoutRoutes(deps));
    await v1.register(approvalRoutes(deps));
    await v1.register(retryRoutes(deps));
    await v1.register(reconciliationRoutes(deps));
    await v1.register(overviewRoutes(deps));
    await v1.register(storyRoutes(deps));
    await v1.register(oebsErrorsRoutes(deps));
  }, { prefix: '/api/v1' });
  return app;
}

/**
 * The errors every /api/v1 operation can answer, which come from the shared hooks and the error
 * handler rather than from the route: added to each route's schema (unless the route describes
 * that status itself), so the OpenAPI document lists them for clients generated from it. A route
 * describes its own errors (403, 404, 409, a 503 with Retry-After) in its schema.
 */
function describeCommonErrors(route: RouteOptions) {
  if (route.schema?.hide) return;
  const schema = (route.schema ??= {});
  const responses = (schema.response ??= {}) as Record<string, unknown>;
  const add = (status: number, description: string) => void (responses[status] ??= ErrorResponse(description));
  add(400, 'bad input (the message names the field and what is wrong); nothing was changed');
  add(401, 'missing or unknown bearer token');
  if (schema.body) {
    add(413, 'body larger than PAYOUT_API_BODY_LIMIT');
    add(415, 'body not sent as Content-Type: application/json');
  }
  add(500, 'internal error (details only in the log); retry, with the same external_id where there is one');
  add(503, 'the api is shutting down; retry (another replica answers)');
}

/** 4xx say what is wrong; 5xx say nothing of the internals (the log has them). */
function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof HttpError) {
    if (err.retryAfterS !== undefined) reply.header('retry-after', String(err.retryAfterS));
    return reply.code(err.statusCode).send({ error: statusText(err.statusCode), message: err.message });
  }
  if (err.validation) return reply.code(400).send({ error: 'Bad Request', message: err.message });
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return reply.code(status).send({ error: statusText(status), message: clientMessage(err) });
  req.log.error({ err }, 'request failed');
  return reply.code(500).send({ error: 'Internal Server Error', message: 'internal error; the request may be retried with the same external_id' });
}

function clientMessage(err: FastifyError): string {
  if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) return 'body: malformed JSON';
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return 'body: too large';
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return 'body: send Content-Type: application/json';
  if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return 'body: empty; a JSON object is expected';
  return err.message;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict',
  413: 'Payload Too Large', 415: 'Unsupported Media Type', 503: 'Service Unavailable',
};
const statusText = (code: number) => STATUS_TEXT[code] ?? 'Error';
