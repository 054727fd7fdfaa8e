// Retries that end: failed attempts back off (capped), a failing row never holds back healthy
// ones, the last attempt parks it (payout `parked`, request `error`), and a person's retry puts it
// back — with the money where it was, never reserved twice, even when an attempt's reservation
// landed unanswered before the payout was parked.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsClient } from '../src/accounts/client.ts';
import { buildApp } from '../src/api/app.ts';
import { sub } from '../src/domain/money.ts';
import { decideApproval } from '../src/domain/approval.ts';
import { afterFailure, backoffMs } from '../src/domain/retry.ts';
import { decideArd, decideOebs } from '../src/domain/status-machine.ts';
import { FailpointError, setFailpoints } from '../src/failpoints.ts';
import { createLogger } from '../src/log.ts';
import { senderLedger } from '../src/oebs-gate/ledger.ts';
import { Sender } from '../src/oebs-gate/sender.ts';
import { payoutAccountsSource } from '../src/req-gate/accounts-source.ts';
import { ReqGate } from '../src/req-gate/gate.ts';
import { claimSendablePayouts, payoutHistory } from '../src/store/payouts.ts';
import { claimNewRequests, insertRequests } from '../src/store/requests.ts';
import { runIntegrity } from '../src/tasks/integrity.ts';
import { createTopics } from '../src/topics/index.ts';
import { topicsFor } from '../src/topics/paths.ts';
import type { Topics } from '../src/topics/types.ts';
import { startStandin, type Standin } from './accounts/support.ts';
import { createTestDb } from './support/db.ts';
import { TAXI_TOKEN, TOKEN, testConfig } from './support/config.ts';
import { credit, faultyAccounts, insertByClientPayout } from './gates-support.ts';

const log = createLogger('test', 'silent');
let s: Standin;
let topics: Topics;
let app: FastifyInstance;
/** The accounts system through a front that fails every call naming a client in `failing` (a 503). */
const failing = new Set<string>();
let faultyUrl: string;
beforeAll(async () => {
  s = await startStandin();
  topics = await createTopics(testConfig(), s.db.sql);
  app = await buildApp({ config: testConfig(), sql: s.db.sql });
  faultyUrl = await faultyAccounts(s.url, ({ body, clientId }) =>
    [...failing].some((c) => clientId === c || body.includes(`"client_id":"${c}"`) || body.includes(`"${c}"`)) ? 503 : undefined);
});
afterAll(() => app.close());

let seq = 0;
const uniqueClient = () => String(300_000 + process.pid * 10 + ++seq * 1000);
const acc = (client: string, over: Record<string, string> = {}) =>
  ({ namespace: 'taxi', client_id: client, contract_id: '7', service_id: '124', currency: 'RUB', ...over });

/** Attempts are due again at once unless a test says otherwise; three of them park. */
const FAST = { PAYOUT_RETRY_BACKOFF_BASE: '1ms', PAYOUT_MAX_ATTEMPTS: '3' };

function sender(env: Record<string, string> = {}, accountsUrl = faultyUrl) {
  const config = testConfig({ PAYOUT_SENDER_LIMIT: '100', ...FAST, ...env });
  return new Sender({
    config, sql: s.db.sql, log, publisher: topics,
    ledger: senderLedger(createAccountsClient({ url: accountsUrl, timeoutMs: 10_000 })),
    newPayoutTopic: (ns, dry) => topicsFor(config, ns, dry).newPayout,
  });
}

function reqGate(env: Record<string, string> = {}, accountsUrl = faultyUrl) {
  const config = testConfig({ PAYOUT_REQUEST_LIMIT: '100', ...FAST, ...env });
  return new ReqGate({ config, sql: s.db.sql, log, accounts: payoutAccountsSource(createAccountsClient({ url: accountsUrl, timeoutMs: 5000 })) });
}

const byClientPayout = (client: string, amount: string, over: Record<string, string> = {}) => insertByClientPayout(s.db.sql, acc(client, over), amount);

const payout = async (id: string) =>
  (await s.db.sql`select status, amount::text, error, attempts, last_error, reserve_batch_id::text,
                         next_attempt_at > now() + interval '1 minute' as waits from t_payout where id = ${id}`)[0]!;
const request = async (id: string) =>
  (await s.db.sql`select status, error, attempts, last_error from t_request where id = ${id}`)[0]!;
const balances = async (c: string) => {
  const res = await s.client.read({ balances: [{ loc: { ...acc(c), type: 'payout' } }, { loc: { ...acc(c), type: 'payout_sent' } }] });
  return res.balances.map((b) => sub(b.credit, b.debit));
};
const reserveBatches = async (id: string) =>
  (await s.db.sql`select count(*)::int as n from accounts.batch where event_type = 'payout-reserve' and info->>'payout_id' = ${id}`)[0]!.n;
const post = (url: string, token = TOKEN) => app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}` } });
const get = (url: string, token = TOKEN) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

describe('backoff', () => {
  it('doubles from the base and stops at the cap; the last allowed attempt parks', () => {
    const p = { baseMs: 1000, capMs: 60_000, maxAttempts: 20 };
    expect([1, 2, 3, 4, 5, 6, 7, 8, 19].map((n) => backoffMs(n, p))).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    expect(backoffMs(5000, p)).toBe(60_000); // 2^4999 is Infinity; still the cap
    expect(afterFailure(0, 'timeout', p)).toEqual({ kind: 'defer', attempts: 1, delayMs: 1000 });
    expect(afterFailure(18, 'timeout', p)).toEqual({ kind: 'defer', attempts: 19, delayMs: 60_000 });
    expect(afterFailure(19, 'timeout', p)).toEqual({ kind: 'park', attempts: 20, error: 'gave up after 20 failed attempts; last: timeout' });
  });

  it('is configured by PAYOUT_RETRY_BACKOFF_BASE/CAP and PAYOUT_MAX_ATTEMPTS (defaults 1m, 1h, 20)', () => {
    expect(testConfig().retry).toEqual({ baseMs: 60_000, capMs: 3_600_000, maxAttempts: 20 });
    expect(testConfig({ PAYOUT_RETRY_BACKOFF_BASE: '2s', PAYOUT_RETRY_BACKOFF_CAP: '10s', PAYOUT_MAX_ATTEMPTS: '5' }).retry).toEqual({ baseMs: 2000, capMs: 10_000, maxAttempts: 5 });
    expect(() => testConfig({ PAYOUT_RETRY_BACKOFF_BASE: '1h', PAYOUT_RETRY_BACKOFF_CAP: '1m' })).toThrow(/PAYOUT_RETRY_BACKOFF_CAP/);
    expect(() => testConfig({ PAYOUT_MAX_ATTEMPTS: '0' })).toThrow(/PAYOUT_MAX_ATTEMPTS/);
  });
});

describe('the sender: a failing payout waits out its backoff, the others go on', () => {
  it('isolates the failing account of a batch call, counts the attempt against its payout only, and claims newer payouts while it waits', async () => {
    const [bad, ...good] = [uniqueClient(), uniqueClient(), uniqueClient(), uniqueClient()];
    for (const c of [bad, ...good]) await credit(s.client, acc(c), '5');
    const badId = await byClientPayout(bad, '5'); // the oldest: first in the claim
    const goodIds = [];
    for (const c of good) goodIds.push(await byClientPayout(c, '5'));
    failing.add(bad);
    try {
      await sender({ PAYOUT_RETRY_BACKOFF_BASE: '1h' }).runOnce();
      // One wave, one read for all four accounts: it failed for the bad one, and was split until only it failed.
      expect(await payout(badId)).toMatchObject({ status: 'new', attempts: 1, waits: true, last_error: expect.stringContaining('the locking read') });
      for (const id of goodIds) expect(await payout(id)).toMatchObject({ status: 'pending', attempts: 0 });
      expect(await balances(bad)).toEqual(['5', '0']);

      // Not due: a newer payout is claimed, the failing one is not.
      const newer = uniqueClient();
      await credit(s.client, acc(newer), '3');
      const newerId = await byClientPayout(newer, '3');
      await s.db.sql.begin(async (tx) => {
        const claimed = (await claimSendablePayouts(tx, 100)).map((p) => p.id);
        expect(claimed).toContain(newerId);
        expect(claimed).not.toContain(badId);
      });
      await sender({}, s.url).runOnce(); // even with the accounts system healthy again
      expect(await payout(newerId)).toMatchObject({ status: 'pending' });
      expect(await payout(badId)).toMatchObject({ status: 'new', attempts: 1 });

      // Once due (its hour has passed), it is claimed again.
      await s.db.sql`update t_payout set next_attempt_at = now() - interval '1 second' where id = ${badId}`;
      failing.delete(bad);
      await sender().runOnce();
      expect(await payout(badId)).toMatchObject({ status: 'pending', amount: '5.000000', attempts: 1 });
    } finally {
      failing.delete(bad);
    }
  });

  it('parks the payout after PAYOUT_MAX_ATTEMPTS failed attempts, with the last error, its money untouched, the park in its history', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '12.34');
    const id = await byClientPayout(c, '12.34');
    failing.add(c);
    try {
      for (let round = 1; round <= 2; round++) {
        await sender().runOnce();
        expect(await payout(id)).toMatchObject({ status: 'new', attempts: round });
      }
      await sender().runOnce();
    } finally {
      failing.delete(c);
    }
    expect(await payout(id)).toMatchObject({
      status: 'parked', attempts: 3, reserve_batch_id: null,
      error: expect.stringMatching(/^gave up after 3 failed attempts; last: the locking read: .*503/),
      last_error: expect.stringMatching(/^the locking read: .*503/),
    });
    expect(await balances(c)).toEqual(['12.34', '0']);
    const history = await payoutHistory(s.db.sql, id);
    expect(history.at(-1)).toMatchObject({ status: 'parked', actor: 'oebs-gate', action: 'park', reason: '3 failed attempts', error: expect.stringContaining('gave up') });
    // Parked is not new: the sender leaves it alone.
    await sender({}, s.url).runOnce();
    expect(await payout(id)).toMatchObject({ status: 'parked' });
  });
});

describe('POST /api/v1/payout/:id/retry', () => {
  it('puts a parked payout back (200, the GET shape), is a 409 naming the status when not parked, 404 for unknown ids and other namespaces', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '7');
    const id = await byClientPayout(c, '7');
    failing.add(c);
    try {
      for (let i = 0; i < 3; i++) await sender().runOnce();
    } finally {
      failing.delete(c);
    }
    expect(await payout(id)).toMatchObject({ status: 'parked' });
    // The parked list spans clients.
    const listed = await get('/api/v1/payout?status=parked');
    expect(listed.statusCode).toBe(200);
    expect(listed.json().payouts.map((p: { id: number }) => String(p.id))).toContain(id);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const [parked] = await s.db.sql`select count(*)::int as n from t_payout where status = 'parked'`;
    expect(metrics).toContain(`payout_parked{kind="payout"} ${parked!.n}`);

    const res = await post(`/api/v1/payout/${id}/retry`);
    expect(res.statusCode).toBe(200);
    const view = (await get(`/api/v1/payout/${id}`)).json();
    expect(res.json()).toEqual(view);
    expect(view).toMatchObject({ id: Number(id), status: 'new', error: null, attempts: 0, last_error: expect.stringContaining('503') });
    expect((await payoutHistory(s.db.sql, id)).at(-1)).toMatchObject({ status: 'new', actor: 'tests', action: 'retry', reason: expect.stringContaining('gave up') });

    const again = await post(`/api/v1/payout/${id}/retry`);
    expect(again.statusCode).toBe(409);
    expect(again.json().message).toBe(`payout ${id} is not parked (status new)`);

    await sender({}, s.url).runOnce();
    expect(await payout(id)).toMatchObject({ status: 'pending', amount: '7.000000' });
    expect(await balances(c)).toEqual(['0', '7']);
    expect((await post(`/api/v1/payout/${id}/retry`)).json().message).toBe(`payout ${id} is not parked (status pending)`);

    expect((await post('/api/v1/payout/999999999/retry')).statusCode).toBe(404);
    expect((await post(`/api/v1/payout/${id}/retry`, 'no-such-token')).statusCode).toBe(401);
    expect((await post('/api/v1/payout/0/retry')).statusCode).toBe(400);
  });

  it('another namespace\'s parked payout is a 404 and stays parked', async () => {
    const c = uniqueClient();
    const bnpl = { namespace: 'bnpl' };
    await credit(s.client, acc(c, bnpl), '4');
    const id = await byClientPayout(c, '4', bnpl);
    failing.add(c);
    try {
      for (let i = 0; i < 3; i++) await sender().runOnce();
    } finally {
      failing.delete(c);
    }
    const res = await post(`/api/v1/payout/${id}/retry`, TAXI_TOKEN);
    expect(res.statusCode).toBe(404);
    expect(res.json().message).toBe(`payout ${id} not found`);
    expect(await payout(id)).toMatchObject({ status: 'parked' });
    expect((await get('/api/v1/payout?status=parked', TAXI_TOKEN)).json().payouts.map((p: { id: number }) => String(p.id))).not.toContain(id);
  });
});

describe('req-gate: a request whose accounts listing keeps failing', () => {
  it('is deferred, then parked in error after the attempts; POST /request/:id/retry brings it back and it is done', async () => {
    const [bad, good] = [uniqueClient(), uniqueClient()];
    for (const c of [bad, good]) await credit(s.client, acc(c), '9');
    const [r1, r2] = await insertRequests(s.db.sql, [
      { external_id: `park-${bad}`, client_id: bad, namespace: 'taxi', cpf_only: false },
      { external_id: `park-${good}`, client_id: good, namespace: 'taxi', cpf_only: false },
    ]);
    failing.add(bad);
    try {
      await reqGate({ PAYOUT_RETRY_BACKOFF_BASE: '1h' }).runOnce();
      // One listing call for both clients failed; its halves found the failing one.
      expect(await request(r1!.id)).toMatchObject({ status: 'new', attempts: 1, last_error: expect.stringContaining('503') });
      expect(await request(r2!.id)).toMatchObject({ status: 'done', attempts: 0 });
      await s.db.sql.begin(async (tx) => expect((await claimNewRequests(tx, 1000)).map((r) => r.id)).not.toContain(r1!.id));
      await s.db.sql`update t_request set next_attempt_at = now() where id = ${r1!.id}`; // its hour passed
      await reqGate().runOnce();
      await reqGate().runOnce();
    } finally {
      failing.delete(bad);
    }
    expect(await request(r1!.id)).toMatchObject({ status: 'error', attempts: 3, error: expect.stringMatching(/^gave up after 3 failed attempts; last: .*503/) });
    expect(await s.db.sql`select 1 from t_payout where request_id = ${r1!.id}`).toHaveLength(0);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const [errored] = await s.db.sql`select count(*)::int as n from t_request where status = 'error'`;
    expect(metrics).toContain(`payout_parked{kind="request"} ${errored!.n}`);

    const res = await post(`/api/v1/request/${r1!.id}/retry`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual((await get(`/api/v1/request/${r1!.id}`)).json());
    expect(res.json()).toMatchObject({ status: 'new', error: null, attempts: 0, last_error: expect.stringContaining('gave up after 3') });
    expect((await post(`/api/v1/request/${r1!.id}/retry`)).json().message).toBe(`request ${r1!.id} is not in error (status new)`);
    await reqGate({}, s.url).runOnce();
    expect(await request(r1!.id)).toMatchObject({ status: 'done' });
    expect(await s.db.sql`select amount::text from t_payout where request_id = ${r1!.id}`).toEqual([{ amount: '9.000000' }]);

    expect((await post(`/api/v1/request/${r2!.id}/retry`)).statusCode).toBe(409);
    expect((await post('/api/v1/request/999999999/retry')).statusCode).toBe(404);
    const [bnpl] = await insertRequests(s.db.sql, [{ external_id: `bnpl-${bad}`, client_id: bad, namespace: 'bnpl', cpf_only: false }]);
    await s.db.sql`update t_request set status = 'error', error = 'refused' where id = ${bnpl!.id}`;
    expect((await post(`/api/v1/request/${bnpl!.id}/retry`, TAXI_TOKEN)).statusCode).toBe(404);
    expect(await request(bnpl!.id)).toMatchObject({ status: 'error' });
  });
});

describe('parking and crash safety: a reservation that landed before the payout was parked', () => {
  it('is counted by integrity as the parked payout\'s, and reused (never made twice) when the payout is retried', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '30');
    const id = await byClientPayout(c, '30');
    // The sender dies between the ledger write and its commit (a kill at sender.after-reserve).
    setFailpoints(['sender.after-reserve'], 'throw');
    try {
      await expect(sender({}, s.url).runOnce()).rejects.toThrow(FailpointError);
    } finally {
      setFailpoints([]);
    }
    expect(await payout(id)).toMatchObject({ status: 'new', attempts: 0, reserve_batch_id: null });
    expect(await balances(c)).toEqual(['0', '30']);
    // From then on the accounts system fails every call of this client: the payout is parked, its reservation in the ledger.
    failing.add(c);
    try {
      for (let i = 0; i < 3; i++) await sender().runOnce();
    } finally {
      failing.delete(c);
    }
    expect(await payout(id)).toMatchObject({ status: 'parked', reserve_batch_id: null });
    expect(await balances(c)).toEqual(['0', '30']);

    // Integrity, twice (a disagreement is reported on the second run): payout_sent's 30 is the parked payout's.
    const accounts = createAccountsClient({ url: s.url, timeoutMs: 10_000 });
    const since = new Date(Date.now() - 3_600_000);
    for (let run = 0; run < 2; run++) {
      const r = await runIntegrity({ sql: s.db.sql, accounts }, since);
      expect(r.findings.filter((f) => f.client_id === c)).toEqual([]);
    }
    // Without the parked payout's key, the same ledger is a disagreement: the check is not blind.
    await s.db.sql`update t_payout set status = 'rejected' where id = ${id}`;
    const blind = await runIntegrity({ sql: s.db.sql, accounts }, since);
    expect(blind.findings.filter((f) => f.client_id === c && f.kind === 'payout_sent')).toMatchObject([{ expected: '0', actual: '30' }]);
    await s.db.sql`update t_payout set status = 'parked' where id = ${id}`;

    // Retried: the sender finds the reservation under the payout's key and reuses it.
    expect((await post(`/api/v1/payout/${id}/retry`)).statusCode).toBe(200);
    await credit(s.client, acc(c), '5'); // money that came since stays for a later payout
    await sender({}, s.url).runOnce();
    expect(await payout(id)).toMatchObject({ status: 'pending', amount: '30.000000' });
    expect(await reserveBatches(id)).toBe(1);
    expect(await balances(c)).toEqual(['5', '30']);
    expect(await s.db.sql`select 1 from topic_message where msg_id = ${id} and topic like '%new-payout%'`).toHaveLength(1);
    const after = await runIntegrity({ sql: s.db.sql, accounts }, since);
    expect(after.findings.filter((f) => f.client_id === c)).toEqual([]);
  });
});

describe('the claims\' indexes on a table with many rows', () => {
  it('the sender\'s and req-gate\'s claims are index range scans over due rows only', async () => {
    const db = await createTestDb({ poolSize: 2 });
    // 100,000 finished payouts, 5,000 new ones waiting out a backoff, 100 due.
    await db.sql`
      insert into t_payout (external_id, namespace, client_id, contract_id, service_id, currency, by_client, amount, status, error, next_attempt_at, attempts)
      select 'x' || i, 'taxi', 1 + i % 5000, 7, 124, 'RUB', false, 1,
             case when i <= 100000 then 'done' else 'new' end, null,
             case when i between 100001 and 105000 then now() + interval '1 hour' else now() - interval '1 minute' end,
             case when i between 100001 and 105000 then 3 else 0 end
      from generate_series(1, 105100) as i`;
    await db.sql`
      insert into t_request (external_id, client_id, namespace, status, next_attempt_at)
      select 'r' || i, 1 + i % 5000, 'taxi', case when i <= 100000 then 'done' else 'new' end,
             case when i between 100001 and 105000 then now() + interval '1 hour' else now() - interval '1 minute' end
      from generate_series(1, 105100) as i`;
    await db.sql`analyze t_payout`;
    await db.sql`analyze t_request`;
    const plan = async (query: string) => JSON.stringify(await db.sql.unsafe(`explain (format json) ${query}`));
    const payoutPlan = await plan(`select id from t_payout where status = 'new' and not approve_req and next_attempt_at <= now()
                                   order by next_attempt_at, id limit 500 for update skip locked`);
    expect(payoutPlan).toContain('"Index Name":"t_payout_sender_due"');
    expect(payoutPlan).not.toContain('Seq Scan');
    expect(payoutPlan).not.toContain('"Node Type":"Sort"');
    const requestPlan = await plan(`select id from t_request where status = 'new' and next_attempt_at <= now()
                                    order by next_attempt_at, id limit 500 for update skip locked`);
    expect(requestPlan).toContain('"Index Name":"t_request_due"');
    expect(requestPlan).not.toContain('Seq Scan');
    // And the real claim: the 100 due payouts, none of those waiting.
    await db.sql.begin(async (tx) => {
      const claimed = await claimSendablePayouts(tx, 500);
      expect(claimed).toHaveLength(100);
      expect(claimed.every((p) => Number(p.id) > 105000)).toBe(true);
    });
  }, 120_000);
});

describe('integrity with an accounts system failing one client\'s calls', () => {
  it('leaves that client\'s account unjudged and still judges the others', async () => {
    const [broken, edited] = [uniqueClient(), uniqueClient()];
    for (const c of [broken, edited]) await credit(s.client, acc(c), '10');
    const ids = [await byClientPayout(broken, '10'), await byClientPayout(edited, '10')];
    await sender({}, s.url).runOnce();
    for (const id of ids) expect(await payout(id)).toMatchObject({ status: 'pending' });
    // A ledger edited behind payout's back: 1 taken off the pending payout's payout_sent.
    await s.client.writeBatch({ event_type: 'manual', external_id: `edit-${edited}`, events: [{ loc: { ...acc(edited), type: 'payout_sent' }, type: 'debit', amount: '1' }] });
    failing.add(broken);
    try {
      const r = await runIntegrity({ sql: s.db.sql, accounts: createAccountsClient({ url: faultyUrl, timeoutMs: 10_000 }) }, new Date(Date.now() - 3_600_000));
      expect(r.findings.filter((f) => f.client_id === edited)).toMatchObject([{ kind: 'payout_sent', expected: '10', actual: '9' }]);
      expect(r.findings.filter((f) => f.client_id === broken)).toEqual([]);
      expect(r.deferred).toBeGreaterThanOrEqual(1);
    } finally {
      failing.delete(broken);
    }
  });
});

describe('a parked payout elsewhere', () => {
  it('is never sent for ARD and OEBS (their answers about it are impossible), and approvals refuse it', () => {
    expect(decideArd('parked', 'NEW')).toMatchObject({ kind: 'impossible', reason: expect.stringContaining('never sent (parked)') });
    expect(decideArd('parked', 'ERROR')).toMatchObject({ kind: 'impossible' });
    expect(decideOebs('parked', 'RECONCILED', { paymentId: '1' })).toMatchObject({ kind: 'impossible' });
    expect(decideApproval('5', { status: 'parked', approve_req: false }, undefined, 'decline'))
      .toEqual({ kind: 'conflict', message: 'payout 5 is not waiting for approval (status parked)' });
  });

  it('the retry calls are in the OpenAPI document with every answer described', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    for (const path of ['/api/v1/payout/{id}/retry', '/api/v1/request/{id}/retry']) {
      const responses = doc.paths[path].post.responses as Record<string, { description: string }>;
      expect(Object.keys(responses).sort()).toEqual(['200', '400', '401', '404', '409', '500', '503']);
      for (const [code, r] of Object.entries(responses)) if (code !== '200') expect(r.description).not.toBe('Default Response');
    }
    expect(doc.paths['/api/v1/payout/{id}'].get.responses['200'].content['application/json'].schema.properties.status.enum).toContain('parked');
  });
});
