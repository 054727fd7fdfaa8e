// Issue 10, points 4 and 5 at the api: idempotency keys per namespace, text Postgres cannot store,
// and a micro-batch in which one row fails at the database. Real api (app.inject), real Postgres.
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/api/app.ts';
import { RequestWriter } from '../src/api/request-writer.ts';
import { createTestDb, type TestDb } from './support/db.ts';
import { TOKEN, testConfig } from './support/config.ts';

let db: TestDb;
let app: FastifyInstance;
const logs: { level: number; msg: string }[] = [];
const auth = { authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  db = await createTestDb();
  const sink = new Writable({ write: (chunk, _enc, done) => (logs.push(JSON.parse(String(chunk))), done()) });
  app = await buildApp({ config: testConfig(), sql: db.sql, logger: pino({ level: 'warn' }, sink) });
});
afterAll(() => app.close());

const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object, headers: auth });
const get = (url: string) => app.inject({ method: 'GET', url, headers: auth });
const stored = async () => (await db.sql`select (select count(*) from t_request)::int as requests, (select count(*) from t_payout)::int as payouts`)[0];

/** Every id a message names ("(id 12)"): a 409 may name the caller's own request, no other. */
const namedIds = (message: string) => [...message.matchAll(/\bid (\d+)/g)].map((m) => Number(m[1]));

describe('idempotency keys are per namespace', () => {
  it('POST /payout-by-client: one external_id in two namespaces is two requests; a 409 names only its own namespace\'s id', async () => {
    const taxi = await post('/api/v1/payout-by-client', { external_id: 'shared-1', client_id: 1, namespace: 'taxi' });
    const oplata = await post('/api/v1/payout-by-client', { external_id: 'shared-1', client_id: 2, namespace: 'oplata' });
    expect([taxi.statusCode, oplata.statusCode]).toEqual([201, 201]);
    const [taxiId, oplataId] = [taxi.json().id, oplata.json().id];
    expect(taxiId).not.toBe(oplataId);

    const taxiAgain = await post('/api/v1/payout-by-client', { external_id: 'shared-1', client_id: 1, namespace: 'taxi' });
    const oplataAgain = await post('/api/v1/payout-by-client', { external_id: 'shared-1', client_id: 2, namespace: 'oplata' });
    expect([taxiAgain.statusCode, taxiAgain.json().id]).toEqual([200, taxiId]);
    expect([oplataAgain.statusCode, oplataAgain.json().id]).toEqual([200, oplataId]);

    const conflict = await post('/api/v1/payout-by-client', { external_id: 'shared-1', client_id: 3, namespace: 'taxi' });
    expect(conflict.statusCode).toBe(409);
    expect(namedIds(conflict.json().message)).toEqual([taxiId]);
    const rows = await db.sql`select namespace, client_id from t_request where external_id = 'shared-1' order by namespace`;
    expect(rows).toEqual([{ namespace: 'oplata', client_id: '2' }, { namespace: 'taxi', client_id: '1' }]);
  });

  it('POST /payout-by-client: both namespaces in one micro-batch, each with its own repeat', async () => {
    const bodies = ['taxi', 'bnpl', 'taxi', 'bnpl'].map((namespace) => ({ external_id: 'shared-batch', client_id: 5, namespace }));
    const replies = await Promise.all(bodies.map((b) => post('/api/v1/payout-by-client', b)));
    const idOf = async (ns: string) => Number((await db.sql`select id from t_request where external_id = 'shared-batch' and namespace = ${ns}`)[0]!.id);
    const [taxiId, bnplId] = [await idOf('taxi'), await idOf('bnpl')];
    expect(replies.map((r) => r.json().id)).toEqual([taxiId, bnplId, taxiId, bnplId]);
    expect(replies.map((r) => r.statusCode).sort()).toEqual([200, 200, 201, 201]);
  });

  it('POST /payout: one (service_id, external_id) in two namespaces is two payouts; a 409 names only its own namespace\'s id', async () => {
    const body = { external_id: 'shared-fixed', service_id: 124, contract_id: 7, client_id: 42, amount: '10.00', currency: 'RUB' };
    const taxi = await post('/api/v1/payout', { ...body, namespace: 'taxi' });
    const oplata = await post('/api/v1/payout', { ...body, client_id: 43, namespace: 'oplata' });
    expect([taxi.statusCode, oplata.statusCode]).toEqual([201, 201]);
    expect(taxi.json().id).not.toBe(oplata.json().id);
    expect((await post('/api/v1/payout', { ...body, namespace: 'taxi' })).json()).toEqual({ id: taxi.json().id });
    const oplataAgain = await post('/api/v1/payout', { ...body, client_id: 43, namespace: 'oplata' });
    expect([oplataAgain.statusCode, oplataAgain.json().id]).toEqual([200, oplata.json().id]);
    const conflict = await post('/api/v1/payout', { ...body, amount: '11.00', namespace: 'oplata' });
    expect(conflict.statusCode).toBe(409);
    expect(namedIds(conflict.json().message)).toEqual([oplata.json().id]);
  });
});

describe('text Postgres cannot store', () => {
  const NUL = 'a\u0000b';
  const SURROGATE = 'a\ud800b'; // a lone high surrogate: JSON.stringify writes it as "\ud800"
  const byClient = { external_id: 'txt-1', client_id: 1, namespace: 'taxi' };
  const fixed = { external_id: 'txt-2', service_id: 1, contract_id: 2, client_id: 3, amount: '1.00', currency: 'RUB', namespace: 'taxi' };
  // Every field of every body; the numeric and boolean ones get text too (wrong type and bad text).
  const bodies: [string, Record<string, unknown>, string][] = [
    ...Object.keys({ ...byClient, cpf_only: false }).map((f): [string, Record<string, unknown>, string] => ['/api/v1/payout-by-client', byClient, f]),
    ...Object.keys(fixed).map((f): [string, Record<string, unknown>, string] => ['/api/v1/payout', fixed, f]),
  ];
  const cases = bodies.flatMap(([url, body, field]) => [
    [`${url} ${field} with NUL`, url, { ...body, [field]: NUL }, field],
    [`${url} ${field} with a lone surrogate`, url, { ...body, [field]: SURROGATE }, field],
  ] as [string, string, unknown, string][]);
  cases.push(['/api/v1/check checks[1] with NUL', '/api/v1/check', { checks: ['C-1', NUL] }, 'checks.1']);
  cases.push(['/api/v1/check checks[0] with a lone surrogate', '/api/v1/check', { checks: [SURROGATE] }, 'checks.0']);

  it.each(cases)('%s → 400 naming the field, nothing stored', async (_name, url, payload, field) => {
    const before = await stored();
    const res = await post(url, payload);
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(new RegExp(`^${field.replace('.', '\\.')}: `));
    expect(await stored()).toEqual(before);
  });

  it('names the field for NUL in the external_id of an otherwise valid body (not a schema error)', async () => {
    const res = await post('/api/v1/payout-by-client', { ...byClient, external_id: NUL });
    expect(res.json().message).toBe('external_id: must not contain the NUL character (\\u0000)');
    const lone = await post('/api/v1/payout', { ...fixed, external_id: '\udc00' });
    expect(lone.json().message).toBe('external_id: must not contain a lone UTF-16 surrogate');
  });

  it('accepts a well-formed surrogate pair (an emoji) in an external_id', async () => {
    const res = await post('/api/v1/payout-by-client', { ...byClient, external_id: 'smile-\u{1F600}' });
    expect(res.statusCode).toBe(201);
    expect((await db.sql`select external_id from t_request where id = ${res.json().id}`)[0]!.external_id).toBe('smile-\u{1F600}');
  });

  // A query string is percent-decoded as UTF-8: %00 becomes NUL, while no UTF-8 sequence decodes
  // to a lone surrogate (an encoded one, %ED%A0%80, stays as that literal text): both must be 400.
  const query: Record<string, string> = { client_id: '1', from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z', statuses: 'new', limit: '10' };
  const queryCases = Object.keys(query).flatMap((field) => [
    [`${field} with %00`, field, 'x%00y'],
    [`${field} with an encoded lone surrogate`, field, 'x%ED%A0%80y'],
  ]);
  it.each(queryCases)('GET /payout %s → 400 naming the field', async (_name, field, raw) => {
    const ok = await get(`/api/v1/payout?${new URLSearchParams(query)}`);
    expect(ok.statusCode).toBe(200);
    const qs = Object.entries(query).map(([k, v]) => `${k}=${k === field ? raw : encodeURIComponent(v)}`).join('&');
    const res = await get(`/api/v1/payout?${qs}`);
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(new RegExp(`^(querystring\\.)?${field}: `));
  });

  it('GET /request/:id and /payout/:id with NUL in the id → 400 naming the id', async () => {
    for (const url of ['/api/v1/request/1%00', '/api/v1/payout/1%00']) {
      const res = await get(url);
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toMatch(/^id: /);
    }
  });
});

describe('a micro-batch with a row the database refuses', () => {
  it('fails only that caller; every other caller of the batch gets 201 and is stored', async () => {
    // A rule of this test's database that validation knows nothing of: the row passes the api
    // and fails at the INSERT, as a row of unstorable text did before the api refused it.
    await db.sql`alter table t_request add constraint test_poison check (external_id not like 'poison%')`;
    logs.length = 0;
    const bodies = Array.from({ length: 30 }, (_, i) => ({ external_id: i === 13 ? 'poison-13' : `batch-ok-${i}`, client_id: i + 1, namespace: 'taxi' }));
    const replies = await Promise.all(bodies.map((b) => post('/api/v1/payout-by-client', b)));
    expect(replies[13]!.statusCode).toBe(500);
    const others = replies.filter((_, i) => i !== 13);
    expect(others.map((r) => r.statusCode)).toEqual(others.map(() => 201));
    const rows = await db.sql<{ id: string; external_id: string }[]>`select id, external_id from t_request where external_id like 'batch-ok-%'`;
    const idByExt = new Map(rows.map((r) => [r.external_id, Number(r.id)]));
    expect(idByExt.size).toBe(29);
    replies.forEach((r, i) => i !== 13 && expect(r.json().id).toBe(idByExt.get(`batch-ok-${i}`)));
    // The poison row was written in a batch with others, which then fell back to row by row.
    expect(logs.some((l) => l.msg.includes('writing its requests one by one'))).toBe(true);
    await db.sql`alter table t_request drop constraint test_poison`;
  });

  it('the writer alone: a NUL that bypassed validation fails its own submit, not its batch', async () => {
    const writer = new RequestWriter(db.sql);
    // Submitted in one turn of the event loop: one batch by construction.
    const results = await Promise.allSettled(['w-1', 'w-\u0000', 'w-3', 'w-1'].map((ext, i) =>
      writer.submit({ external_id: ext, client_id: String(i + 1), namespace: 'taxi', cpf_only: false })));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const [first, , third, repeat] = results.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    expect(first!.kind).toBe('created');
    expect(third!.kind).toBe('created');
    expect(repeat).toEqual({ kind: 'conflict', id: first!.id }); // same key, another client
    expect((await db.sql`select external_id from t_request where external_id like 'w-%' order by id`).map((r) => r.external_id)).toEqual(['w-1', 'w-3']);
  });
});
