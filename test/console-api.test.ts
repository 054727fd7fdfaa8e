// The public endpoints the console reads: find (GET /payout with filters and a cursor), the
// request list, the overview, a payout's story (with the real sender, receiver and stand-in
// ledger; and with the ledger down), the console's static files, and the query plans of the find
// and story queries on a table big enough for the planner to prefer a scan if no index served.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsClient, type AccountsClient } from '../src/accounts/client.ts';
import { ledgerKeysOf, ledgerStory } from '../src/api/ledger-story.ts';
import { buildApp } from '../src/api/app.ts';
import { ledgerExternalId } from '../src/domain/oebs-messages.ts';
import { findPayouts, type PayoutFind } from '../src/store/payouts.ts';
import { findRequests } from '../src/store/requests.ts';
import { payoutMessages } from '../src/store/story.ts';
import { minuteRates, statusTotals } from '../src/store/overview.ts';
import { faultyAccounts } from './gates-support.ts';
import { acc, ard, harnessOn, oebs, pendingPayout, startHarness, uniqueClient, type Harness } from './receiver-support.ts';
import { freePort } from './support/ports.ts';
import { TAXI_TOKEN, TOKEN, testConfig } from './support/config.ts';
import { createTestDb } from './support/db.ts';

let h: Harness;
let app: FastifyInstance;
const config = testConfig({ PAYOUT_APPROVE_REQUIRED: '["bnpl"]', PAYOUT_STUCK_AFTER: 'pending=1m' });

beforeAll(async () => {
  h = await startHarness();
  app = await buildApp({ config, sql: h.s.db.sql, accounts: createAccountsClient({ url: h.s.url, timeoutMs: 10_000 }) });
  return () => app.close();
});

const get = (url: string, token = TOKEN) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
const post = (url: string, payload: object, token = TOKEN) => app.inject({ method: 'POST', url, payload, headers: { authorization: `Bearer ${token}` } });
const ids = async (q: string, token = TOKEN): Promise<number[]> => {
  const res = await get(`/api/v1/payout?${q}`, token);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().payouts.map((p: { id: number }) => p.id);
};

let seq = 0;
async function fixedPayout(over: Record<string, unknown> = {}): Promise<number> {
  const res = await post('/api/v1/payout', { external_id: `c-${++seq}`, service_id: 124, contract_id: 7, client_id: 9_100_000, amount: '10.00', currency: 'RUB', namespace: 'taxi', ...over });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

describe('GET /api/v1/payout: find', () => {
  it('finds by client, external id (the payout\'s or its request\'s), request id and OEBS ids, newest first', async () => {
    const client = 9_100_001;
    const a = await fixedPayout({ client_id: client, external_id: 'find-a' });
    const b = await fixedPayout({ client_id: client });
    const other = await fixedPayout({ client_id: client + 1 });
    expect(await ids(`client_id=${client}`)).toEqual([b, a]);
    expect(await ids('external_id=find-a')).toEqual([a]);

    const [req] = await h.s.db.sql`insert into t_request (external_id, client_id, namespace, status) values ('find-req', ${client}, 'taxi', 'done') returning id`;
    const [byReq] = await h.s.db.sql`
      insert into t_payout (external_id, request_id, namespace, client_id, contract_id, service_id, currency, by_client, amount)
      values ('req-label', ${req!.id}, 'taxi', ${client}, 8, 124, 'RUB', true, 5) returning id`;
    expect(await ids('external_id=find-req')).toEqual([Number(byReq!.id)]);
    expect(await ids(`request_id=${req!.id}`)).toEqual([Number(byReq!.id)]);

    await h.s.db.sql`update t_payout set oebs_batch_id = 'B-1', oebs_check_id = 'C-1' where id in (${a}, ${other})`;
    await h.s.db.sql`update t_payout set oebs_payment_id = 'P-1' where id = ${b}`;
    // A payment OEBS recorded over batch B-1 finds that batch's payouts too.
    await h.s.db.sql`insert into t_oebs_payment (payment_id, dry_run, namespaces, amount, batch_ids) values ('P-2', false, '{taxi}', 20, '{B-1}')`;
    expect(await ids('oebs_batch_id=B-1')).toEqual([other, a]);
    expect(await ids('oebs_check_id=C-1')).toEqual([other, a]);
    expect(await ids('oebs_payment_id=P-1')).toEqual([b]);
    expect(await ids('oebs_payment_id=P-2')).toEqual([other, a]);
    expect(await ids(`oebs_batch_id=B-1&client_id=${client}`)).toEqual([a]);
  });

  it('filters by status, namespace and creation time, and keeps a token to its namespaces', async () => {
    const client = 9_100_010;
    const taxi = await fixedPayout({ client_id: client });
    const bnpl = await fixedPayout({ client_id: client, namespace: 'bnpl' });
    await h.s.db.sql`update t_payout set status = 'rejected', error = 'x', created_at = '2026-03-05T12:00:00Z' where id = ${taxi}`;
    expect(await ids(`client_id=${client}&status=rejected`)).toEqual([taxi]);
    expect(await ids(`client_id=${client}&namespace=bnpl`)).toEqual([bnpl]);
    expect(await ids(`client_id=${client}&from=2026-03-05&to=2026-03-05`)).toEqual([taxi]);
    expect(await ids(`client_id=${client}`, TAXI_TOKEN)).toEqual([taxi]);
    const refused = await get(`/api/v1/payout?client_id=${client}&namespace=bnpl`, TAXI_TOKEN);
    expect([refused.statusCode, refused.json().message]).toEqual([403, expect.stringContaining('bnpl')]);
    // Without filters: every payout of the token's namespaces, newest first.
    const all = (await get('/api/v1/payout?limit=1000', TAXI_TOKEN)).json().payouts as { namespace: string; id: number }[];
    expect(all.every((p) => p.namespace === 'taxi')).toBe(true);
    expect(all.map((p) => p.id)).toEqual([...all.map((p) => p.id)].sort((x, y) => y - x));
  });

  it('pages with a cursor: every payout once, newest first; the approval queue oldest first', async () => {
    const client = 9_100_020;
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await fixedPayout({ client_id: client }));
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get(`/api/v1/payout?client_id=${client}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...res.json().payouts.map((p: { id: number }) => p.id));
      cursor = res.json().next_cursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual([...made].reverse());
    expect(pages).toBe(3);

    const queue = [];
    for (let i = 0; i < 3; i++) queue.push(await fixedPayout({ client_id: client + 1, namespace: 'bnpl' }));
    const first = (await get(`/api/v1/payout?approve_req=true&status=new&client_id=${client + 1}&limit=2`)).json();
    expect(first.payouts.map((p: { id: number }) => p.id)).toEqual(queue.slice(0, 2));
    const second = (await get(`/api/v1/payout?approve_req=true&status=new&client_id=${client + 1}&limit=2&cursor=${first.next_cursor}`)).json();
    expect([second.payouts.map((p: { id: number }) => p.id), second.next_cursor]).toEqual([queue.slice(2), null]);
    // A cursor of the other order, or one the api never gave, is a 400 naming the cursor.
    for (const bad of [`client_id=${client}&cursor=${first.next_cursor}`, `client_id=${client}&cursor=xyz`, `client_id=${client}&cursor=${Buffer.from('{"o":"desc","id":"1 or 1=1"}').toString('base64url')}`]) {
      const res = await get(`/api/v1/payout?${bad}`);
      expect([res.statusCode, res.json().message]).toEqual([400, expect.stringMatching(/^querystring\.cursor: /)]);
    }
  });

  it('refuses unknown filters and bad values with a 400 naming the field', async () => {
    for (const [q, field] of [['client=1', 'client'], ['status=lost', 'status'], ['namespace=mars', 'namespace'], ['order=sideways', 'order'], ['request_id=x', 'request_id']] as const) {
      const res = await get(`/api/v1/payout?${q}`);
      expect([res.statusCode, res.json().message]).toEqual([400, expect.stringContaining(field)]);
    }
    expect((await app.inject({ method: 'GET', url: '/api/v1/payout' })).statusCode).toBe(401);
  });
});

describe('GET /api/v1/request', () => {
  it('lists requests of a status newest first, paged, within the token\'s namespaces', async () => {
    const rows = await h.s.db.sql<{ id: string }[]>`
      insert into t_request (external_id, client_id, namespace, status, error)
      select 'rl-' || i, 77, case when i % 2 = 0 then 'taxi' else 'bnpl' end, 'error', 'accounts refused' from generate_series(1, 5) i
      returning id`;
    const made = rows.map((r) => Number(r.id));
    const page1 = (await get('/api/v1/request?status=error&limit=3')).json();
    const page2 = (await get(`/api/v1/request?status=error&limit=3&cursor=${page1.next_cursor}`)).json();
    expect([...page1.requests, ...page2.requests].map((r: { id: number }) => r.id).filter((id: number) => made.includes(id))).toEqual([...made].reverse());
    const taxi = (await get('/api/v1/request?status=error', TAXI_TOKEN)).json().requests as { namespace: string }[];
    expect(taxi.length).toBeGreaterThan(0);
    expect(taxi.every((r) => r.namespace === 'taxi')).toBe(true);
    expect((await get('/api/v1/request?namespace=bnpl', TAXI_TOKEN)).statusCode).toBe(403);
  });
});

describe('GET /api/v1/overview', () => {
  it('counts and sums payouts per namespace, currency and status as decimal strings, for the token\'s namespaces', async () => {
    const db = await createTestDb();
    const local = await buildApp({ config, sql: db.sql, accounts: h.s.client });
    afterAll(() => local.close());
    const at = (token = TOKEN) => local.inject({ method: 'GET', url: '/api/v1/overview', headers: { authorization: `Bearer ${token}` } });
    await db.sql`
      insert into t_payout (external_id, namespace, client_id, contract_id, service_id, currency, by_client, amount, status, error, updated_at)
      values ('o1', 'taxi', 1, 1, 1, 'RUB', false, 0.10, 'pending', null, now()),
             ('o2', 'taxi', 1, 1, 1, 'RUB', false, 0.20, 'pending', null, now() - interval '2 minutes'),
             ('o3', 'taxi', 1, 1, 1, 'USD', false, 1000000000000000.01, 'done', null, now()),
             ('o4', 'bnpl', 1, 1, 1, 'RUB', false, 5, 'rejected', 'no', now()),
             ('o5', 'taxi', 1, 1, 1, 'RUB', false, 7, 'done', null, now() - interval '3 days')`;
    const o = (await at()).json();
    expect(o.totals).toEqual([
      { namespace: 'bnpl', currency: 'RUB', status: 'rejected', count: 1, amount: '5.000000' },
      { namespace: 'taxi', currency: 'RUB', status: 'pending', count: 2, amount: '0.300000' },
      { namespace: 'taxi', currency: 'USD', status: 'done', count: 1, amount: '1000000000000000.010000' },
    ]); // o5 finished three days ago: outside the 24 h window
    expect(o.stuck).toContainEqual({ status: 'pending', count: 1, oldest_seconds: expect.any(Number) });
    expect(o.rate).toHaveLength(10);
    // Summed over the window: the minute may turn between the inserts and the read.
    const sumOf = (k: 'created' | 'done') => o.rate.reduce((n: number, r: Record<string, number>) => n + r[k]!, 0);
    expect({ created: sumOf('created'), done: sumOf('done') }).toEqual({ created: 5, done: 1 });
    expect(o.integrity).toMatchObject({ ok: true, violations: [] });
    expect((await at(TAXI_TOKEN)).json().totals.map((t: { namespace: string }) => t.namespace)).not.toContain('bnpl');

    // A violation seen by two runs turns the integrity state red; a caller of another namespace sees it is not ok, not what.
    await db.sql`insert into t_violation (kind, subject, namespace, client_id, payout_ids, expected, actual, detail, seen)
                 values ('account_sent', 'bnpl/1/1/1/RUB', 'bnpl', 1, '{4}', 5, 0, 'planted', 2)`;
    const red = (await at()).json().integrity;
    expect(red).toMatchObject({ ok: false, violations: [{ kind: 'account_sent', namespace: 'bnpl', payout_ids: [4], expected: '5.000000', detail: 'planted' }] });
    expect((await at(TAXI_TOKEN)).json().integrity).toMatchObject({ ok: false, violations: [] });
  });
});

describe('GET /api/v1/payout/:id/story', () => {
  it('tells a paid payout\'s story: history, ledger reserve/register/confirm, CPFs, messages, payment and request', async () => {
    const client = uniqueClient();
    const id = await pendingPayout(h, client, '12.34', true);
    await h.s.db.sql`update t_payout set request_id = null where id = ${id}`;
    await h.receiver.handle(ard(h, id, 'NEW'));
    const payment = `${id}77`;
    await h.receiver.handle(oebs(h, [id], 'CREATED', payment, '12.34'));
    await h.receiver.handle(oebs(h, [id], 'RECONCILED', payment, '12.34'));

    const res = await get(`/api/v1/payout/${id}/story`);
    expect(res.statusCode, res.body).toBe(200);
    const s = res.json();
    expect(s.payout).toMatchObject({ id: Number(id), status: 'done', amount_oebs: '12.34', oebs_payment_id: payment });
    expect(s.request).toBeNull();
    expect(s.history.map((x: { status: string }) => x.status)).toEqual(['new', 'pending', 'confirmed', 'done']);
    expect(s.ledger.available).toBe(true);
    expect(s.ledger.entries.map((e: { step: string }) => e.step)).toEqual(['reserve', 'register', 'confirm']);
    const [deployment] = await h.s.db.sql`select deployment_id from t_payout where id = ${id}`;
    expect(s.ledger.entries[0]).toMatchObject({
      external_id: ledgerExternalId.reserve(deployment!.deployment_id, id), event_type: 'payout-reserve',
      events: expect.arrayContaining([expect.objectContaining({ type: 'debit', amount: expect.stringMatching(/^12\.34/), loc: expect.objectContaining({ type: 'payout', client_id: client }) })]),
    });
    expect(s.cpfs).toEqual([{ operation_type: 'INSERT_NETTING', external_id: `R-${client}`, amount: '12.340000', status: 'done', dry_run: false }]);
    expect(s.messages).toContainEqual(expect.objectContaining({ direction: 'sent', topic: h.t.newPayout, key: id }));
    // The body is the published text: the amount is the literal on the wire.
    expect(s.messages.find((m: { topic: string }) => m.topic === h.t.newPayout).body).toContain('"amount":12.34');
    expect(s.payments).toEqual([expect.objectContaining({ payment_id: payment, amount: '12.34', batch_ids: [id], reconciled: true, returned: false })]);
  });

  it('shows the ledger events decided but not in the ledger yet (the ledger outbox), and a refused one with why', async () => {
    const id = await pendingPayout(h, uniqueClient(), '4.00');
    await h.receiver.handle(ard(h, id, 'NEW'));
    const offline = await harnessOn(h.s, {}, { accountsUrl: await faultyAccounts(h.s.url, () => 503) });
    await offline.receiver.handle(oebs(h, [id], 'RECONCILED', `${id}1`, '4.00'));
    const story = async () => (await get(`/api/v1/payout/${id}/story`)).json();
    const s = await story();
    expect(s.payout).toMatchObject({ status: 'done' });
    expect(s.ledger.entries.map((e: { step: string }) => e.step)).toEqual(['reserve']);
    const [deployment] = await h.s.db.sql`select deployment_id from t_payout where id = ${id}`;
    expect(s.ledger.outbox).toEqual([{
      event_type: 'payout-confirm', external_id: ledgerExternalId.confirm(deployment!.deployment_id, id, `${id}1`), since: expect.any(String), refused: null,
    }]);
    await h.s.db.sql`update t_ledger_outbox set refused_at = now(), refusal = 'conflict: planted' where payout_id = ${id}`;
    expect((await story()).ledger.outbox).toEqual([expect.objectContaining({ refused: { at: expect.any(String), reason: 'conflict: planted' } })]);
    await h.s.db.sql`update t_ledger_outbox set refused_at = null, refusal = null where payout_id = ${id}`;
    await h.writer.drain();
    const sent = await story();
    expect(sent.ledger.outbox).toEqual([]);
    expect(sent.ledger.entries.map((e: { step: string }) => e.step)).toEqual(['reserve', 'confirm']);
  });

  it('shows the messages of the payout\'s payments (OEBS answers keyed by payment) and not another payment\'s', async () => {
    const id = await pendingPayout(h, uniqueClient(), '3.00');
    const payment = `${id}5`;
    await h.s.db.sql`update t_payout set oebs_payment_id = ${payment} where id = ${id}`;
    await h.s.db.sql.begin(async (tx) => {
      await h.topics.publish(tx, { topic: h.t.statusOebs, key: `${payment}/CREATED`, msgId: `m-${payment}`, payload: { payment_id: payment } });
      await h.topics.publish(tx, { topic: h.t.statusOebs, key: `${payment}0/CREATED`, msgId: `m-${payment}0`, payload: { payment_id: `${payment}0` } });
    });
    const s = (await get(`/api/v1/payout/${id}/story`)).json();
    expect(s.messages.filter((m: { direction: string }) => m.direction === 'received').map((m: { key: string }) => m.key)).toEqual([`${payment}/CREATED`]);
  });

  it('orders ledger batches written in one call (one dt, ids in external-id order) by their steps', async () => {
    const dt = '2026-03-05T12:00:00.000000Z';
    const keys = ledgerKeysOf({ id: '7', deployment_id: 'd', paymentIds: ['71'] });
    // The ledger's batch ids follow the external ids of a call: confirm/… sorts before register/….
    const ids = new Map([...keys].map((k) => k.external_id).sort().map((ext, i) => [ext, String(100 + i)]));
    const ledger = {
      getBatch: async (ext: string) => (ext.endsWith('/cancel-reserve') || ext.includes('/cancel-payout/') ? undefined
        : { batch_id: ids.get(ext)!, external_id: ext, event_type: 'x', dt: ext.endsWith('/reserve') ? '2026-03-05T11:00:00.000000Z' : dt, info: null, events: [] }),
    } as unknown as AccountsClient;
    const story = await ledgerStory(ledger, { id: '7', deployment_id: 'd', paymentIds: ['71'] });
    expect(story.available && story.entries.map((e) => e.step)).toEqual(['reserve', 'register', 'confirm']);
  });

  it('answers with the rest of the story, ledger unavailable, when the accounts system is down', async () => {
    const id = await pendingPayout(h, uniqueClient(), '1.00');
    const down = await buildApp({ config, sql: h.s.db.sql, accounts: createAccountsClient({ url: `http://127.0.0.1:${await freePort()}`, timeoutMs: 2_000 }) });
    afterAll(() => down.close());
    const res = await down.inject({ method: 'GET', url: `/api/v1/payout/${id}/story`, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ payout: { id: Number(id), status: 'pending' }, ledger: { available: false, message: expect.stringContaining('accounts'), entries: [] } });
    expect(res.json().history.length).toBeGreaterThan(0);
  });

  it('is a 404 for an unknown payout and for another namespace\'s', async () => {
    expect((await get('/api/v1/payout/987654321/story')).statusCode).toBe(404);
    const bnpl = await fixedPayout({ namespace: 'bnpl' });
    const res = await get(`/api/v1/payout/${bnpl}/story`, TAXI_TOKEN);
    expect([res.statusCode, res.json().message]).toEqual([404, `payout ${bnpl} not found`]);
  });
});

describe('GET /console', () => {
  it('serves the page and its modules under a strict Content-Security-Policy, and nothing else', async () => {
    const page = await app.inject({ method: 'GET', url: '/console' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.body).toContain('/console/js/app.js');
    const js = await app.inject({ method: 'GET', url: '/console/js/app.js' });
    expect([js.statusCode, js.headers['content-type']]).toEqual([200, 'text/javascript; charset=utf-8']);
    for (const url of ['/console/../package.json', '/console/%2e%2e/package.json', '/console/js/nope.js']) {
      expect((await app.inject({ method: 'GET', url })).statusCode).toBe(404);
    }
  });
});

describe('query plans on 100,000 payouts', () => {
  it('find, the request list, the overview and the story read through indexes, not a scan of t_payout', async () => {
    const db = await createTestDb();
    // The history trigger would double the rows written; the plans read t_payout only.
    await db.sql`alter table t_payout disable trigger t_payout_history_inserted`;
    await db.sql`
      insert into t_request (external_id, client_id, namespace, status, error)
      select 'q-' || i, i % 5000 + 1, 'taxi', case when i % 100 = 0 then 'error' else 'done' end, case when i % 100 = 0 then 'x' end
      from generate_series(1, 20000) i`;
    await db.sql`
      insert into t_payout (external_id, request_id, namespace, client_id, contract_id, service_id, currency, by_client, amount, status, error,
                            oebs_batch_id, oebs_check_id, oebs_payment_id, created_at, updated_at)
      select 'x-' || i, null, (array['taxi','oplata','bnpl'])[i % 3 + 1], i % 20000 + 1, 1, 124, 'RUB', false, 10,
             -- as in production: nearly all finished, a few under way
             case i % 100 when 0 then 'pending' when 1 then 'confirmed' when 2 then 'new' when 3 then 'rejected' else 'done' end,
             case when i % 100 = 3 then 'e' end,
             'b' || (i / 10), 'c' || (i / 10), 'p' || (i / 10),
             now() - (100000 - i) * interval '1 minute', now() - (100000 - i) * interval '1 minute'
      from generate_series(1, 100000) i`;
    await db.sql`insert into topic_message (topic, key, msg_id, payload) select 't', (i % 25000)::text || case when i % 2 = 0 then '/CREATED' else '' end, 'm' || i, '{}' from generate_series(1, 50000) i`;
    await db.sql`analyze`;
    const ns = ['taxi', 'oplata', 'bnpl'];
    const base: PayoutFind = { namespaces: ns, order: 'desc', limit: 51 };
    const shapes: [string, PayoutFind][] = [
      ['nothing', base],
      ['client', { ...base, clientId: '4242' }],
      ['client, page 2', { ...base, clientId: '4242', afterId: '90000' }],
      ['request', { ...base, requestId: '77' }],
      ['external id', { ...base, externalId: { value: 'x-5', requestIds: ['12', '13'] } }],
      ['batch', { ...base, batchId: 'b42' }],
      ['check', { ...base, checkId: 'c42' }],
      ['payment', { ...base, paymentId: { value: 'p42', batchIds: ['b43'] } }],
      ['status', { ...base, statuses: ['pending'] }],
      ['status and namespace', { ...base, statuses: ['new'], namespaces: ['bnpl'] }],
      ['created window', { ...base, from: new Date(Date.now() - 86_400_000), to: new Date(Date.now() - 3_600_000) }],
      ['approval queue', { ...base, approveReq: true, statuses: ['new'], order: 'asc' }],
    ];
    // The tables a plan reads with a sequential scan (a walk over the plan tree).
    const seqScans = async (q: unknown): Promise<string[]> => {
      const [row] = await db.sql`explain (format json) ${q as never}`;
      const found: string[] = [];
      const walk = (n: { 'Node Type': string; 'Relation Name'?: string; Plans?: unknown[] }) => {
        if (n['Node Type'] === 'Seq Scan') found.push(n['Relation Name'] ?? '?');
        for (const c of n.Plans ?? []) walk(c as typeof n);
      };
      walk((row!['QUERY PLAN'] as { Plan: never }[])[0]!.Plan);
      return found;
    };
    for (const [name, f] of shapes) expect(await seqScans(findPayouts(db.sql, f)), name).toEqual([]);
    expect(await seqScans(findRequests(db.sql, { namespaces: ['taxi'], statuses: ['error'], limit: 101 }))).toEqual([]);
    expect(await seqScans(payoutMessages(db.sql, '4242', ['p424', 'p425'], 200))).toEqual([]);
    // generate_series is a function scan; only t_payout matters here.
    expect(await seqScans(statusTotals(db.sql, ns, new Date(Date.now() - 86_400_000)))).not.toContain('t_payout');
    expect(await seqScans(minuteRates(db.sql, ns, 10))).not.toContain('t_payout');
  }, 120_000);
});
