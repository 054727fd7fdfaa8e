// Approvals through the api, with the real sender and the stand-in ledger: an approval
// namespace's payout waits, is approved and reserved; a declined one is rejected and its money
// stays on `payout`. Who and why are kept in the history.
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAccountsClient } from '../src/accounts/client.ts';
import { buildApp } from '../src/api/app.ts';
import { sub } from '../src/domain/money.ts';
import { createLogger } from '../src/log.ts';
import { senderLedger } from '../src/oebs-gate/ledger.ts';
import { Sender } from '../src/oebs-gate/sender.ts';
import { payoutHistory } from '../src/store/payouts.ts';
import { createTopics } from '../src/topics/index.ts';
import { topicsFor } from '../src/topics/paths.ts';
import { startStandin, type Standin } from './accounts/support.ts';
import { credit } from './gates-support.ts';
import { TAXI_TOKEN, TOKEN, testConfig } from './support/config.ts';

const config = testConfig({ PAYOUT_APPROVE_REQUIRED: '["bnpl"]' });
let s: Standin;
let app: FastifyInstance;
let sender: Sender;
beforeAll(async () => {
  s = await startStandin();
  app = await buildApp({ config, sql: s.db.sql });
  const topics = await createTopics(config, s.db.sql);
  sender = new Sender({
    config, sql: s.db.sql, publisher: topics, log: createLogger('test', 'silent'),
    ledger: senderLedger(createAccountsClient({ url: s.url, timeoutMs: 10_000 })),
    newPayoutTopic: (ns, dry) => topicsFor(config, ns, dry).newPayout,
  });
  return () => app.close();
});

const auth = (token = TOKEN) => ({ authorization: `Bearer ${token}` });
const call = (method: 'GET' | 'POST', url: string, payload?: object, token = TOKEN) =>
  app.inject({ method, url, payload, headers: auth(token) });
let seq = 0;
const account = (namespace = 'bnpl') => ({ namespace, client_id: String(700_000 + ++seq), contract_id: '7', service_id: '124', currency: 'RUB' });

/** A fixed payout of 40.00 from an account holding 100.00; returns its id. */
async function waitingPayout(namespace = 'bnpl') {
  const a = account(namespace);
  await credit(s.client, a, '100.00');
  const res = await call('POST', '/api/v1/payout', { external_id: `ap-${seq}`, ...a, client_id: Number(a.client_id), contract_id: 7, service_id: 124, amount: '40.00' });
  expect(res.statusCode).toBe(201);
  return { id: String(res.json().id), a };
}
const balances = async (a: ReturnType<typeof account>) => {
  const res = await s.client.read({ balances: [{ loc: { ...a, type: 'payout' } }, { loc: { ...a, type: 'payout_sent' } }] });
  return res.balances.map((b) => sub(b.credit, b.debit));
};
const status = async (id: string) => (await call('GET', `/api/v1/payout/${id}`)).json();

describe('approvals', () => {
  it('a payout waits for approval, is listed in the queue, and once approved is reserved by the sender', async () => {
    const { id, a } = await waitingPayout();
    await sender.runOnce();
    expect(await status(id)).toMatchObject({ status: 'new', approve_req: true });
    expect(await balances(a)).toEqual(['100', '0']);

    const queue = await call('GET', '/api/v1/payout?approve_req=true&status=new');
    expect(queue.statusCode).toBe(200);
    expect(queue.json().payouts.map((p: { id: number }) => String(p.id))).toContain(id);

    const approved = await call('POST', `/api/v1/payout/${id}/approve`);
    expect(approved.statusCode).toBe(200);
    expect(approved.json()).toMatchObject({ status: 'new', approve_req: false });
    const again = await call('POST', `/api/v1/payout/${id}/approve`);
    expect(again.statusCode).toBe(200);
    expect((await call('GET', '/api/v1/payout?approve_req=true&status=new')).json().payouts.map((p: { id: number }) => String(p.id))).not.toContain(id);

    await sender.runOnce();
    expect(await status(id)).toMatchObject({ status: 'pending', amount_oebs: '40.00' });
    expect(await balances(a)).toEqual(['60', '40']);
    const history = await payoutHistory(s.db.sql, id);
    // One approval row (the repeat wrote nothing), by the token's caller; the sender's change has no actor.
    expect(history.map((h) => [h.status, h.action, h.actor])).toEqual([['new', null, null], ['new', 'approve', 'tests'], ['pending', null, null]]);
    const decline = await call('POST', `/api/v1/payout/${id}/decline`, { reason: 'too late' });
    expect(decline.statusCode).toBe(409);
    expect(decline.json().message).toContain('status pending');
  });

  it('a declined payout is rejected with the reason and its money stays on payout', async () => {
    const { id, a } = await waitingPayout();
    const declined = await call('POST', `/api/v1/payout/${id}/decline`, { reason: 'contract closed' });
    expect(declined.statusCode).toBe(200);
    expect(declined.json()).toMatchObject({ status: 'rejected', error: 'declined by tests: contract closed' });
    const again = await call('POST', `/api/v1/payout/${id}/decline`, { reason: 'other words' });
    expect(again.statusCode).toBe(200);
    expect(again.json().error).toBe('declined by tests: contract closed');

    await sender.runOnce();
    expect(await status(id)).toMatchObject({ status: 'rejected' });
    expect(await balances(a)).toEqual(['100', '0']);
    const history = await payoutHistory(s.db.sql, id);
    expect(history.at(-1)).toMatchObject({ status: 'rejected', action: 'decline', actor: 'tests', reason: 'contract closed' });
    expect(history).toHaveLength(2);
    const approve = await call('POST', `/api/v1/payout/${id}/approve`);
    expect(approve.statusCode).toBe(409);
    expect(approve.json().message).toBe(`payout ${id} is not waiting for approval (status rejected, declined by tests)`);
  });

  it('refuses a payout that needs no approval (409 naming its status), others\' namespaces (404) and a blank reason (400)', async () => {
    const { id } = await waitingPayout('taxi');
    const res = await call('POST', `/api/v1/payout/${id}/approve`);
    expect(res.statusCode).toBe(409);
    expect(res.json().message).toBe(`payout ${id} is not waiting for approval (status new)`);

    const { id: bnpl } = await waitingPayout();
    expect((await call('POST', `/api/v1/payout/${bnpl}/approve`, undefined, TAXI_TOKEN)).statusCode).toBe(404);
    const blank = await call('POST', `/api/v1/payout/${bnpl}/decline`, { reason: '   ' });
    expect(blank.statusCode).toBe(400);
    expect(blank.json().message).toContain('reason');
    expect((await call('POST', `/api/v1/payout/${bnpl}/decline`, {})).statusCode).toBe(400);
    expect(await status(bnpl)).toMatchObject({ status: 'new', approve_req: true });
    expect((await call('GET', '/api/v1/payout?status=new&namespace=mars')).statusCode).toBe(400);
  });

  it('lets exactly one of two concurrent decisions apply', async () => {
    const { id } = await waitingPayout();
    const [approve, decline] = await Promise.all([call('POST', `/api/v1/payout/${id}/approve`), call('POST', `/api/v1/payout/${id}/decline`, { reason: 'no' })]);
    expect([approve.statusCode, decline.statusCode].sort()).toEqual([200, 409]);
    const decisions = (await payoutHistory(s.db.sql, id)).filter((h) => h.action);
    expect(decisions).toHaveLength(1);
  });
});
