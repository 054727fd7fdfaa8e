// The stand-in accounts service over HTTP. buildAccountsApp() wires the routes without listening,
// so tests run it on a port of their choosing against their own database.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Sql } from '../../db/connect.ts';
import type { Logger } from '../../log.ts';
import { describeValidationError, unstorableText, validatorCompiler } from '../../api/validation.ts';
import { LedgerError } from './errors.ts';
import { registerFaults } from './faults.ts';
import { lockInit, lockPing, lockRemove } from './locks.ts';
import { getBatch, listAccounts, listAccountsOf, read } from './read.ts';
import { AccountsListBody, AccountsQuery, BatchesWriteBody, BatchQuery, LockInitBody, LockPingBody, LockRemoveBody, ReadBody, WriteBody } from './schemas.ts';
import { writeBatches } from './write-many.ts';
import { writeBatch } from './write.ts';

export async function buildAccountsApp(opts: { sql: Sql; logger?: Logger }): Promise<FastifyInstance> {
  const { sql } = opts;
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger | undefined,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 8 * 1024 * 1024,
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler());
  app.setSchemaErrorFormatter((errors, part) => new Error(describeError(errors as never, part)));
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'Not Found', code: 'not_found', message: `no route ${req.method} ${req.url}` }));

  // Text Postgres cannot store (NUL, a lone surrogate) fails every statement it is in: in a query,
  // a loc or a single batch it would fail the call with a 500, so it is a 400 naming the field.
  // Inside a batch of /v1/batches/write (info, external_id, event_type) it stays that batch's own
  // `rejected` outcome; its locs are shared with the other batches' statements, so they count here.
  app.addHook('preValidation', async (req) => {
    const many = req.routeOptions.url === '/v1/batches/write';
    const message = unstorableText(req.query, 'querystring') ?? (many ? unstorableInLocs(req.body) : unstorableText(req.body, 'body'));
    if (message) throw new LedgerError('bad_request', `${message}; nothing was written`);
  });

  app.get('/ping', async () => 'pong');
  registerFaults(app);

  app.post('/v1/batch/write', { schema: { body: WriteBody } }, async (req, reply) => {
    const result = await writeBatch(sql, req.body);
    reply.code(result.created ? 201 : 200);
    return { batch_id: result.batch_id };
  });
  app.post('/v1/batches/write', { schema: { body: BatchesWriteBody } }, async (req) => ({ results: await writeBatches(sql, req.body.batches) }));
  app.post('/v1/batch/read', { schema: { body: ReadBody } }, async (req) => read(sql, req.body));
  app.get('/v1/accounts', { schema: { querystring: AccountsQuery } }, async (req) => listAccounts(sql, req.query));
  app.post('/v1/accounts/list', { schema: { body: AccountsListBody } }, async (req) => listAccountsOf(sql, req.body));
  app.get('/v1/batch', { schema: { querystring: BatchQuery } }, async (req) => getBatch(sql, req.query.external_id));
  app.post('/v1/locks/init', { schema: { body: LockInitBody } }, async (req) => lockInit(sql, req.body.loc, req.body.timeout_s));
  app.post('/v1/locks/ping', { schema: { body: LockPingBody } }, async (req) => lockPing(sql, req.body.loc, req.body.uid, req.body.timeout_s));
  app.post('/v1/locks/remove', { schema: { body: LockRemoveBody } }, async (req) => lockRemove(sql, req.body.loc, req.body.uid));
  return app;
}

/** unstorableText for the values under every `loc` key, named by their path. */
function unstorableInLocs(value: unknown, path = ''): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  for (const [k, v] of Object.entries(value)) {
    const at = path ? `${path}.${k}` : k;
    const found = k === 'loc' ? unstorableText(v, 'body', at) : unstorableInLocs(v, at);
    if (found) return found;
  }
  return undefined;
}

interface AjvError { instancePath: string; keyword: string; params: Record<string, unknown>; message?: string }

/**
 * The shared describer names nested fields by path, except for a missing or unknown field, which
 * it reports against the whole body; in this API those live deep (events.3.loc), so say where.
 */
function describeError(errors: AjvError[], part: string): string {
  const e = errors[0];
  if (e && e.instancePath && (e.keyword === 'required' || e.keyword === 'additionalProperties')) {
    const where = e.instancePath.slice(1).replaceAll('/', '.');
    const field = String(e.params.missingProperty ?? e.params.additionalProperty);
    return `${where}: ${e.keyword === 'required' ? 'missing' : 'unknown'} field "${field}"`;
  }
  return describeValidationError(errors, part);
}

/** Every refusal carries `code` (see errors.ts) next to a message; 5xx say nothing of internals. */
function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof LedgerError) return reply.code(err.statusCode).send({ error: statusText(err.statusCode), code: err.code, message: err.message });
  if (err.validation) return reply.code(400).send({ error: 'Bad Request', code: 'bad_request', message: err.message });
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const message = err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError ? 'body: malformed JSON' : err.message;
    return reply.code(status).send({ error: statusText(status), code: 'bad_request', message });
  }
  req.log.error({ err }, 'accounts request failed');
  return reply.code(500).send({ error: 'Internal Server Error', code: 'internal', message: 'internal error; retry later (writes are idempotent on external_id)' });
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type' };
const statusText = (code: number) => STATUS_TEXT[code] ?? 'Error';
