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

  // Text Postgres cannot store (NUL, a lone surrogate) fails every statement it is in: anywhere in
  // a query or body it would fail the call with a 500, so it is a 400 naming the field. The one
  // exception is a batch's `info` in /v1/batches/write: that stays the batch's own `rejected`
  // outcome, as any data Postgres refuses there (see write-many.ts).
  app.addHook('preValidation', async (req) => {
    const many = req.routeOptions.url === '/v1/batches/write';
    const message = unstorableText(req.query, 'querystring') ?? (many ? unstorableOutsideInfo(req.body) : unstorableText(req.body, 'body'));
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

/** unstorableText for a /v1/batches/write body, skipping each batch's `info`. */
function unstorableOutsideInfo(body: unknown): string | undefined {
  const batches = (body as { batches?: unknown } | null)?.batches;
  if (!Array.isArray(batches)) return unstorableText(body, 'body');
  for (const [i, b] of batches.entries()) {
    if (b === null || typeof b !== 'object') continue;
    const { info: _info, ...rest } = b as Record<string, unknown>;
    const found = unstorableText(rest, 'body', `batches.${i}`);
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
