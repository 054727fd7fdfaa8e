// The client's classification of failures, against a tiny server that misbehaves on purpose.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountsError, createAccountsClient, type AccountsClient } from '../../src/accounts/client.ts';
import { freePort } from '../support/ports.ts';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
let handler: Handler = (_req, res) => res.end();
let connections = 0;
const server = http.createServer((req, res) => handler(req, res));
server.on('connection', () => connections++);
let client: AccountsClient;
let url: string;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = createAccountsClient({ url, timeoutMs: 300 });
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const json = (status: number, body: unknown): Handler => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const loc = { namespace: 'taxi', type: 'payout', client_id: '42' };
const write = () => client.writeBatch({ event_type: 'reserve', external_id: 'x-1', events: [{ loc, type: 'debit', amount: '1' }] });
const failure = async (p: Promise<unknown>): Promise<AccountsError> => {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(AccountsError);
  return e as AccountsError;
};

describe('accounts client: what is worth retrying', () => {
  it('a server that never answers → retry (timeout)', async () => {
    handler = () => {};
    expect(await failure(client.listAccounts(loc))).toMatchObject({ kind: 'retry', reason: 'timeout' });
  });

  it('a body that stalls half-way → retry (timeout): the bound covers the body too', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"balances": [');
    };
    expect(await failure(client.read({}))).toMatchObject({ kind: 'retry', reason: 'timeout' });
  });

  it.each([500, 502, 503, 408, 429])('HTTP %i → retry (server-error)', async (status) => {
    handler = (_req, res) => {
      res.writeHead(status, { 'content-type': 'text/html' });
      res.end('<html>down</html>');
    };
    const e = await failure(write());
    expect(e).toMatchObject({ kind: 'retry', reason: 'server-error', status });
    expect(e.message).toContain(String(status));
  });

  it('a connection reset → retry (unreachable)', async () => {
    handler = (req) => req.socket.destroy();
    expect(await failure(write())).toMatchObject({ kind: 'retry', reason: 'unreachable' });
  });

  it('a refused connection → retry (unreachable), naming the cause', async () => {
    const closed = createAccountsClient({ url: `http://127.0.0.1:${await freePort()}`, timeoutMs: 1000 });
    const e = await failure(closed.lockInit(loc, 5));
    expect(e).toMatchObject({ kind: 'retry', reason: 'unreachable' });
    expect(e.message).toContain('ECONNREFUSED');
  });

  it('a 2xx that is not JSON → retry (bad-response)', async () => {
    handler = (_req, res) => res.end('ok');
    expect(await failure(write())).toMatchObject({ kind: 'retry', reason: 'bad-response' });
  });

  it('409 lock_not_held on a write → retry (lock-not-held), not an idempotency conflict', async () => {
    handler = json(409, { error: 'Conflict', code: 'lock_not_held', message: 'locks.0: the lock has expired' });
    const e = await failure(write());
    expect(e).toMatchObject({ kind: 'retry', reason: 'lock-not-held', status: 409 });
    expect(e.message).toContain('the lock has expired');
  });
});

describe('accounts client: what is not', () => {
  it('400 → permanent (rejected) with the server message', async () => {
    handler = json(400, { error: 'Bad Request', code: 'bad_request', message: 'events.0.amount: must be a decimal string' });
    const e = await failure(write());
    expect(e).toMatchObject({ kind: 'permanent', reason: 'rejected', status: 400 });
    expect(e.message).toContain('events.0.amount');
  });

  it('409 external_id_conflict → permanent (idempotency-conflict)', async () => {
    handler = json(409, { error: 'Conflict', code: 'external_id_conflict', message: 'used for a different batch' });
    expect(await failure(write())).toMatchObject({ kind: 'permanent', reason: 'idempotency-conflict' });
  });

  it('409 on taking a lock → lock-busy, with or without a code', async () => {
    handler = json(409, { error: 'Conflict', code: 'lock_busy', message: 'locked' });
    expect(await failure(client.lockInit(loc, 5))).toMatchObject({ kind: 'lock-busy' });
    handler = json(409, { message: 'locked' });
    expect(await failure(client.lockInit(loc, 5))).toMatchObject({ kind: 'lock-busy' });
    expect(await failure(client.read({ lock: { loc, timeout_s: 5 } }))).toMatchObject({ kind: 'lock-busy' });
    expect(await failure(write())).toMatchObject({ kind: 'permanent', reason: 'conflict' });
  });

  it('404 → permanent (not-found), except getBatch, where it means "no such batch"', async () => {
    handler = json(404, { error: 'Not Found', code: 'not_found', message: 'nope' });
    expect(await failure(client.listAccounts(loc))).toMatchObject({ kind: 'permanent', reason: 'not-found' });
    expect(await client.getBatch('x-1')).toBeUndefined();
  });
});

describe('accounts client: the wire', () => {
  it('reuses one keep-alive connection for sequential calls', async () => {
    handler = json(200, []);
    await client.listAccounts(loc); // may open the connection
    const before = connections;
    for (let i = 0; i < 5; i++) await client.listAccounts(loc);
    expect(connections).toBe(before);
  });

  it('sends JSON with amounts as strings and reads 201 as created, 200 as a repeat', async () => {
    const bodies: unknown[] = [];
    let status = 201;
    handler = (req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        bodies.push({ path: req.url, type: req.headers['content-type'], body: JSON.parse(text) });
        json(status, { batch_id: '17' })(req, res);
      });
    };
    expect(await write()).toEqual({ batch_id: '17', created: true });
    status = 200;
    expect(await write()).toEqual({ batch_id: '17', created: false });
    expect(bodies[0]).toEqual({
      path: '/v1/batch/write', type: 'application/json',
      body: { event_type: 'reserve', external_id: 'x-1', events: [{ loc, type: 'debit', amount: '1' }] },
    });
  });
});

describe('accounts client: batches and lists', () => {
  const reqs = ['b-1', 'b-2', 'b-3', 'b-4', 'b-5'].map((external_id) => ({ event_type: 'reserve', external_id, events: [{ loc, type: 'debit' as const, amount: '1' }] }));

  it('maps each result of /v1/batches/write to its outcome, in order', async () => {
    let sent: unknown;
    handler = (req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        sent = { path: req.url, body: JSON.parse(text) };
        json(200, { results: [
          { status: 'created', batch_id: '11' },
          { status: 'existing', batch_id: 7 },
          { status: 'conflict', code: 'external_id_conflict', message: 'used for a different batch' },
          { status: 'lock_invalid', code: 'lock_not_held', message: 'batches.3.locks.0: is not held' },
          { status: 'rejected', code: 'bad_request', message: 'cannot store' },
        ] })(req, res);
      });
    };
    expect(await client.writeBatches(reqs)).toEqual([
      { kind: 'created', batch_id: '11' },
      { kind: 'existing', batch_id: '7' },
      { kind: 'conflict', message: 'used for a different batch' },
      { kind: 'lock-invalid', message: 'batches.3.locks.0: is not held' },
      { kind: 'rejected', message: 'cannot store' },
    ]);
    expect(sent).toEqual({ path: '/v1/batches/write', body: { batches: reqs } });
  });

  it('a 5xx of the whole call → AccountsError (retry); an answer of the wrong length or shape → bad-response', async () => {
    handler = json(503, { error: 'Service Unavailable', message: 'closing' });
    expect(await failure(client.writeBatches(reqs))).toMatchObject({ kind: 'retry', reason: 'server-error', status: 503 });
    handler = json(200, { results: [{ status: 'created', batch_id: '1' }] });
    expect(await failure(client.writeBatches(reqs))).toMatchObject({ kind: 'retry', reason: 'bad-response' });
    handler = json(200, { results: reqs.map(() => ({ status: 'maybe' })) });
    expect(await failure(client.writeBatches(reqs))).toMatchObject({ kind: 'retry', reason: 'bad-response' });
    handler = json(400, { error: 'Bad Request', code: 'bad_request', message: 'batches.3.events.0.amount: must be a decimal string' });
    expect(await failure(client.writeBatches(reqs))).toMatchObject({ kind: 'permanent', reason: 'rejected', message: expect.stringContaining('batches.3.events.0.amount') });
  });

  it('listAccountsOf posts the clients and returns the list; a 5xx → retry', async () => {
    const row = { loc, debit: '0', credit: '5', balance: '5' };
    handler = json(200, [row]);
    expect(await client.listAccountsOf({ namespace: 'taxi', type: 'payout', client_ids: ['42', '43'] })).toEqual([row]);
    handler = json(500, { error: 'Internal Server Error', code: 'internal', message: 'retry later' });
    expect(await failure(client.listAccountsOf({ namespace: 'taxi', type: 'payout', client_ids: ['42'] }))).toMatchObject({ kind: 'retry', reason: 'server-error' });
  });
});
