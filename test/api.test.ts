import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/api/app.ts';
import { createTestDb, type TestDb } from './support/db.ts';
import { TAXI_TOKEN, TOKEN, testConfig } from './support/config.ts';

let db: TestDb;
let app: FastifyInstance;
const auth = { authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  db = await createTestDb();
  app = await buildApp({ config: testConfig({ PAYOUT_APPROVE_REQUIRED: '["bnpl"]', PAYOUT_CURRENCY_DECIMALS: '{"JPY": 0}' }), sql: db.sql });
});
afterAll(() => app.close());

const post = (url: string, payload: unknown, headers: Record<string, string> = auth) =>
  app.inject({ method: 'POST', url, payload: payload as object, headers });
const get = (url: string, headers: Record<string, string> = auth) => app.inject({ method: 'GET', url, headers });
const count = async (table: string) => Number((await db.sql.unsafe(`select count(*) from ${table}`))[0]!.count);

describe('POST /api/v1/payout-by-client', () => {
  it('stores a new request and answers 201 with its id', async () => {
    const res = await post('/api/v1/payout-by-client', { external_id: 'r-1', client_id: 42, namespace: 'taxi' });
    expect(res.statusCode).toBe(201);
    const { id } = res.json();
    const [row] = await db.sql`select * from t_request where id = ${id}`;
    expect(row).toMatchObject({ external_id: 'r-1', client_id: '42', namespace: 'taxi', cpf_only: false, status: 'new' });
  });

  it('answers a repeat with the same body 200 and the same id, a different body 409', async () => {
    const body = { external_id: 'r-2', client_id: 7, namespace: 'oplata', cpf_only: true };
    const first = await post('/api/v1/payout-by-client', body);
    const again = await post('/api/v1/payout-by-client', body);
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(200);
    expect(again.json().id).toBe(first.json().id);
    const other = await post('/api/v1/payout-by-client', { ...body, client_id: 8 });
    expect(other.statusCode).toBe(409);
    expect(other.json().message).toContain('r-2');
    expect(Number((await db.sql`select count(*) from t_request where external_id = 'r-2'`)[0]!.count)).toBe(1);
  });

  it('makes exactly one row from fifty concurrent posts of one external_id', async () => {
    const body = { external_id: 'r-concurrent', client_id: 9, namespace: 'taxi' };
    const replies = await Promise.all(Array.from({ length: 50 }, () => post('/api/v1/payout-by-client', body)));
    const codes = replies.map((r) => r.statusCode).sort();
    expect(codes.filter((c) => c === 201)).toHaveLength(1);
    expect(codes.filter((c) => c === 200)).toHaveLength(49);
    expect(new Set(replies.map((r) => r.json().id)).size).toBe(1);
    expect(Number((await db.sql`select count(*) from t_request where external_id = 'r-concurrent'`)[0]!.count)).toBe(1);
  });

  it('keeps concurrent posts with different external ids apart', async () => {
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => post('/api/v1/payout-by-client', { external_id: `many-${i}`, client_id: i + 1, namespace: 'taxi' })),
    );
    expect(replies.every((r) => r.statusCode === 201)).toBe(true);
    const rows = await db.sql<{ external_id: string; id: string }[]>`select external_id, id from t_request where external_id like 'many-%'`;
    const idByExt = new Map(rows.map((r) => [r.external_id, Number(r.id)]));
    replies.forEach((r, i) => expect(r.json().id).toBe(idByExt.get(`many-${i}`)));
  });
});

describe('GET /api/v1/request/:id', () => {
  it('returns the request with its status', async () => {
    const { id } = (await post('/api/v1/payout-by-client', { external_id: 'r-get', client_id: 5, namespace: 'bnpl' })).json();
    const res = await get(`/api/v1/request/${id}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, external_id: 'r-get', client_id: 5, namespace: 'bnpl', status: 'new', error: null });
  });

  it('answers 404 for an unknown id and for a namespace the caller may not see', async () => {
    expect((await get('/api/v1/request/999999')).statusCode).toBe(404);
    const { id } = (await post('/api/v1/payout-by-client', { external_id: 'r-bnpl', client_id: 5, namespace: 'bnpl' })).json();
    expect((await get(`/api/v1/request/${id}`, { authorization: `Bearer ${TAXI_TOKEN}` })).statusCode).toBe(404);
  });
});

describe('POST /api/v1/payout (fixed amount)', () => {
  const body = { external_id: 'p-1', service_id: 124, contract_id: 77, client_id: 42, amount: '100.50', currency: 'RUB', namespace: 'taxi' };

  it('creates a payout in status new, idempotent on (namespace, service_id, external_id)', async () => {
    const first = await post('/api/v1/payout', body);
    expect(first.statusCode).toBe(201);
    const [row] = await db.sql`select * from t_payout where id = ${first.json().id}`;
    expect(row).toMatchObject({ status: 'new', amount: '100.500000', by_client: false, approve_req: false, contract_id: '77' });
    const again = await post('/api/v1/payout', { ...body, amount: '100.500' });
    expect(again.statusCode).toBe(200);
    expect(again.json().id).toBe(first.json().id);
    expect((await post('/api/v1/payout', { ...body, amount: '100.51' })).statusCode).toBe(409);
    // The same external id under another service is another payout.
    expect((await post('/api/v1/payout', { ...body, service_id: 125 })).statusCode).toBe(201);
  });

  it('marks payouts of namespaces that need approval', async () => {
    const res = await post('/api/v1/payout', { ...body, external_id: 'p-bnpl', namespace: 'bnpl' });
    const [row] = await db.sql`select approve_req from t_payout where id = ${res.json().id}`;
    expect(row!.approve_req).toBe(true);
  });

  it('lists a client\'s payouts with filters and returns one by id', async () => {
    const created = (await post('/api/v1/payout', { ...body, external_id: 'p-list', client_id: 4242 })).json().id;
    const list = await get('/api/v1/payout?client_id=4242');
    expect(list.statusCode).toBe(200);
    expect(list.json().payouts.map((p: { id: number }) => p.id)).toEqual([created]);
    expect((await get('/api/v1/payout?client_id=4242&statuses=done,rejected')).json().payouts).toEqual([]);
    expect((await get('/api/v1/payout?client_id=4242&statuses=new')).json().payouts).toHaveLength(1);
    expect((await get('/api/v1/payout?client_id=4242&from=2999-01-01T00:00:00Z')).json().payouts).toEqual([]);
    const one = await get(`/api/v1/payout/${created}`);
    expect(one.json()).toMatchObject({ id: created, amount: '100.500000', status: 'new', client_id: 4242 });
    expect((await get('/api/v1/payout/987654')).statusCode).toBe(404);
  });

  it("takes the original's date-only from/to as whole UTC days, as well as date-times", async () => {
    const id = (await post('/api/v1/payout', { ...body, external_id: 'p-days', client_id: 4343 })).json().id;
    await db.sql`update t_payout set created_at = '2026-03-05T23:59:59.5Z' where id = ${id}`;
    const ids = async (q: string) => (await get(`/api/v1/payout?client_id=4343&${q}`)).json().payouts.map((p: { id: number }) => p.id);
    expect(await ids('from=2026-03-05&to=2026-03-05')).toEqual([id]); // the whole day, its last second too
    expect(await ids('from=2026-03-06')).toEqual([]);
    expect(await ids('to=2026-03-04')).toEqual([]);
    expect(await ids('from=2026-03-05T23:00:00Z&to=2026-03-06')).toEqual([id]);
    const bad = await get('/api/v1/payout?client_id=4343&from=2026-02-30');
    expect([bad.statusCode, bad.json().message]).toEqual([400, expect.stringMatching(/from/)]);
    expect((await get('/api/v1/payout?client_id=4343&from=2026-03-07&to=2026-03-05')).statusCode).toBe(400);
  });
});

describe('POST /api/v1/check', () => {
  it('sums amount_oebs and counts payouts per check id', async () => {
    const ids = [];
    for (const [i, amt] of ['10.01', '20.00'].entries()) {
      ids.push((await post('/api/v1/payout', { external_id: `chk-${i}`, service_id: 1, contract_id: 2, client_id: 3, amount: amt, currency: 'RUB', namespace: 'taxi' })).json().id);
    }
    await db.sql`update t_payout set oebs_check_id = '9001', amount_oebs = round(amount, 2) where id = any(${ids}::int8[])`;
    const res = await post('/api/v1/check', { checks: [9001, 9002] });
    expect(res.statusCode).toBe(200);
    expect(res.json().checks).toEqual([
      { check_id: 9001, amount: '30.01', count: 2 },
      { check_id: 9002, amount: '0', count: 0 },
    ]);
  });

  it('takes check ids up to int64 exactly (never through a float) and answers them exactly; beyond int64 is a 400', async () => {
    // 2^53 + 1 reads as 2^53 through a float: the two must stay two checks.
    const checks = ['9223372036854775807', '9007199254740993', '9007199254740992'];
    for (const [i, check] of checks.entries()) {
      const { id } = (await post('/api/v1/payout', { external_id: `chk64-${i}`, service_id: 1, contract_id: 2, client_id: 3, amount: `${i + 1}.00`, currency: 'RUB', namespace: 'taxi' })).json();
      await db.sql`update t_payout set oebs_check_id = ${check}, amount_oebs = amount where id = ${id}`;
    }
    const raw = (text: string) => app.inject({ method: 'POST', url: '/api/v1/check', payload: text, headers: { ...auth, 'content-type': 'application/json' } });
    const res = await raw(`{"checks": [${checks.join(', ')}, 9002.0]}`);
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe(`{"checks":[${[
      '{"check_id":9223372036854775807,"amount":"1.00","count":1}',
      '{"check_id":9007199254740993,"amount":"2.00","count":1}',
      '{"check_id":9007199254740992,"amount":"3.00","count":1}',
      '{"check_id":9002,"amount":"0","count":0}', // an integer written 9002.0 is still 9002, as before
    ].join(',')}]}`);
    for (const beyond of ['9223372036854775808', '1e19', '18446744073709551616']) {
      const refused = await raw(`{"checks": [1, ${beyond}]}`);
      expect(refused.statusCode).toBe(400);
      expect(refused.json().message).toBe('checks.1: must be an integer from 0 to 9223372036854775807');
    }
    const malformed = await raw('{"checks": [1,');
    expect([malformed.statusCode, malformed.json().message]).toEqual([400, 'body: malformed JSON']);
  });
});

describe('auth', () => {
  it('answers 401 without a token or with an unknown one, 403 for a namespace not granted', async () => {
    const body = { external_id: 'auth-1', client_id: 1, namespace: 'oplata' };
    expect((await post('/api/v1/payout-by-client', body, {})).statusCode).toBe(401);
    expect((await post('/api/v1/payout-by-client', body, { authorization: 'Bearer nope' })).statusCode).toBe(401);
    const forbidden = await post('/api/v1/payout-by-client', body, { authorization: `Bearer ${TAXI_TOKEN}` });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().message).toContain('oplata');
    expect(Number((await db.sql`select count(*) from t_request where external_id = 'auth-1'`)[0]!.count)).toBe(0);
  });

  it('needs no token for health, metrics and docs', async () => {
    expect((await get('/ping', {})).body).toBe('pong');
    expect((await get('/pingdb', {})).body).toBe('pong');
    const metrics = await get('/metrics', {});
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('payout_api_request_duration_seconds_count');
    expect((await get('/docs/json', {})).json().paths).toHaveProperty(['/api/v1/payout-by-client']);
    expect((await get('/docs/', {})).statusCode).toBe(200);
  });
});

describe('bad input', () => {
  const good = { external_id: 'bad-x', client_id: 1, namespace: 'taxi' };
  const goodFixed = { external_id: 'bad-f', service_id: 1, contract_id: 2, client_id: 3, amount: '1.00', currency: 'RUB', namespace: 'taxi' };
  const cases: [string, string, unknown, RegExp][] = [
    ['missing field', '/api/v1/payout-by-client', { external_id: 'b1', namespace: 'taxi' }, /client_id/],
    ['unknown field', '/api/v1/payout-by-client', { ...good, extra: 1 }, /extra/],
    ['client_id as a string', '/api/v1/payout-by-client', { ...good, client_id: '1' }, /client_id/],
    ['negative client_id', '/api/v1/payout-by-client', { ...good, client_id: -1 }, /client_id/],
    ['fractional client_id', '/api/v1/payout-by-client', { ...good, client_id: 1.5 }, /client_id/],
    ['huge client_id', '/api/v1/payout-by-client', { ...good, client_id: 1e20 }, /client_id/],
    ['unknown namespace', '/api/v1/payout-by-client', { ...good, namespace: 'moon' }, /namespace.*taxi/],
    ['empty external_id', '/api/v1/payout-by-client', { ...good, external_id: '' }, /external_id/],
    ['absurd external_id', '/api/v1/payout-by-client', { ...good, external_id: 'x'.repeat(500) }, /external_id/],
    ['cpf_only not boolean', '/api/v1/payout-by-client', { ...good, cpf_only: 'yes' }, /cpf_only/],
    ['body not an object', '/api/v1/payout-by-client', [1, 2], /body/],
    ['amount as a number', '/api/v1/payout', { ...goodFixed, amount: 100 }, /amount/],
    ['amount negative', '/api/v1/payout', { ...goodFixed, amount: '-1.00' }, /amount/],
    ['amount with an exponent', '/api/v1/payout', { ...goodFixed, amount: '1e3' }, /amount/],
    ['amount with too many decimals', '/api/v1/payout', { ...goodFixed, amount: '1.0000001' }, /amount/],
    ['amount in fractions of a kopeck', '/api/v1/payout', { ...goodFixed, amount: '0.005' }, /amount.*0\.005.*RUB.*2 decimals/],
    ['amount in fractions of a yen', '/api/v1/payout', { ...goodFixed, currency: 'JPY', amount: '10.5' }, /amount.*JPY.*0 decimals/],
    ['amount with too many digits', '/api/v1/payout', { ...goodFixed, amount: '1234567890123456789' }, /amount/],
    ['currency lowercase', '/api/v1/payout', { ...goodFixed, currency: 'rub' }, /currency/],
    ['check list empty', '/api/v1/check', { checks: [] }, /checks/],
    ['check id as a string', '/api/v1/check', { checks: ['9001'] }, /checks\.0/],
    ['check id fractional', '/api/v1/check', { checks: [9001.5] }, /checks\.0/],
  ];
  it.each(cases)('%s → 400 naming the field, nothing stored', async (_name, url, payload, message) => {
    const before = [await count('t_request'), await count('t_payout')];
    const res = await post(url, payload);
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(message);
    expect([await count('t_request'), await count('t_payout')]).toEqual(before);
  });

  it('answers malformed JSON 400, a wrong content type 415, an oversize body 413', async () => {
    const raw = (payload: string, type = 'application/json') =>
      app.inject({ method: 'POST', url: '/api/v1/payout-by-client', payload, headers: { ...auth, 'content-type': type } });
    const malformed = await raw('{"external_id": ');
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().message).toMatch(/JSON/);
    expect((await raw('external_id=1', 'application/x-www-form-urlencoded')).statusCode).toBe(415);
    expect((await raw(JSON.stringify({ ...good, external_id: 'x'.repeat(70_000) }))).statusCode).toBe(413);
  });

  it('rejects bad query parameters with 400', async () => {
    expect((await get('/api/v1/payout?client_id=abc')).statusCode).toBe(400);
    expect((await get('/api/v1/payout?client_id=1&statuses=lost')).json().message).toMatch(/statuses/);
    expect((await get('/api/v1/payout?client_id=1&from=yesterday')).json().message).toMatch(/from/);
    expect((await get('/api/v1/payout?client_id=1&from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z')).statusCode).toBe(400);
    expect((await get('/api/v1/payout/abc')).statusCode).toBe(400);
  });
});

describe('5xx', () => {
  it('hides the internals of a failure', async () => {
    const broken = await createTestDb({ poolSize: 1 });
    const brokenApp = await buildApp({ config: testConfig(), sql: broken.sql });
    await broken.sql`drop table t_request cascade`;
    const res = await brokenApp.inject({ method: 'POST', url: '/api/v1/payout-by-client', payload: good(), headers: auth });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toMatch(/t_request|relation|select|insert/i);
    await brokenApp.close();
  });
  const good = () => ({ external_id: 'e-1', client_id: 1, namespace: 'taxi' });
});
