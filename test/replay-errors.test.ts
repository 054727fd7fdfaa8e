// Replaying oebs-errors (payout replay-errors, POST /api/v1/oebs-errors/replay) over real Postgres
// topics, the real receiver and the stand-in ledger: an OEBS answer that gave up waiting for its
// ARD NEW goes to oebs-errors; the NEW comes; a replay moves the payout on to done with its
// confirm written once; a second replay changes nothing and publishes nothing.
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/api/app.ts';
import { chooseTopics, parseSince } from '../src/oebs-gate/replay.ts';
import { parseReplayArgs } from '../src/oebs-gate/replay-main.ts';
import { topicsFor } from '../src/topics/paths.ts';
import type { DeliveredMessage } from '../src/topics/types.ts';
import { ard, balances, errorsAbout, harnessOn, history, ledgerBatches, oebs, payoutRow, pendingPayout, startHarness, uniqueClient, type Harness } from './receiver-support.ts';
import { TAXI_TOKEN, TOKEN, testConfig } from './support/config.ts';

// oplata has topics of its own; taxi and bnpl share the default base.
const ENV = { PAYOUT_TOPIC_BASES: JSON.stringify({ oplata: '/billing-payout/test/oplata' }) };
let h: Harness;
let late: Harness;
let app: FastifyInstance;
let now = new Date();
beforeAll(async () => {
  h = await startHarness(ENV);
  // A receiver whose clock runs two hours ahead: every "not yet" of an unknown payout has waited too long.
  late = await harnessOn(h.s, ENV, { now: () => new Date(now.getTime() + 2 * 3_600_000) });
  app = await buildApp({ config: testConfig({ ...ENV, PAYOUT_ACCOUNTS_URL: h.s.url }), sql: h.s.db.sql });
  return () => app.close();
});

const publish = (m: DeliveredMessage) => h.s.db.sql.begin((tx) => h.topics.publish(tx, { topic: m.topic, key: m.key, msgId: m.msgId, payload: m.payload as Record<string, unknown> }));
const replay = (body: object = {}, token = TOKEN) =>
  app.inject({ method: 'POST', url: '/api/v1/oebs-errors/replay', payload: body, headers: { authorization: `Bearer ${token}` } });
const messageCount = async () => Number((await h.s.db.sql`select count(*) as n from topic_message`)[0]!.n);
/** Runs the receiver until its topics are empty. */
async function drain(r: Harness) {
  while (await r.receiver.runOnce() > 0);
}

describe('replaying oebs-errors', () => {
  it('an OEBS answer that gave up on ARD NEW is applied by a replay once NEW came, its confirm written once; a second replay changes nothing', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '21.30');
    const since = new Date();
    const created = oebs(h, [id], 'CREATED', `${id}1`, '21.30');
    const reconciled = oebs(h, [id], 'RECONCILED', `${id}1`, '21.30');
    await publish(created);
    await publish(reconciled);
    now = new Date();
    await drain(late);
    for (const m of [created, reconciled]) {
      expect(await errorsAbout(h, { msgId: m.msgId })).toEqual([expect.objectContaining({ kind: 'error', source: 'wrong_payout_status', reason: expect.stringContaining('gave up waiting') })]);
    }
    expect(await payoutRow(h, id)).toMatchObject({ status: 'pending' });
    await publish(ard(h, id, 'NEW'));
    await drain(late);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'confirmed' });

    const first = await replay({ since: since.toISOString() });
    expect(first.statusCode).toBe(200);
    expect(first.json().topics).toContainEqual({ topic: h.t.errors, replayed: 2, applied: 2, unchanged: 0, failing: 0 });
    expect(await payoutRow(h, id)).toMatchObject({ status: 'done', oebs_payment_id: `${id}1`, oebs_status: 'RECONCILED' });
    // The replay stored the events in the ledger outbox; oebs-gate's ledger writer sends them.
    expect(await ledgerBatches(h, id)).toEqual(['payout-reserve']);
    expect(await h.writer.drain()).toBe(2);
    expect((await ledgerBatches(h, id)).sort()).toEqual(['payout-confirm', 'payout-register', 'payout-reserve']);
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '0' });

    const messages = await messageCount();
    const again = await replay({ since: since.toISOString(), topic: h.t.errors });
    expect(again.statusCode).toBe(200);
    expect(again.json().topics).toEqual([{ topic: h.t.errors, replayed: 2, applied: 0, unchanged: 2, failing: 0 }]);
    expect(await h.writer.drain()).toBe(0);
    expect((await ledgerBatches(h, id)).sort()).toEqual(['payout-confirm', 'payout-register', 'payout-reserve']);
    expect(await history(h, id)).toEqual(['new', 'pending', 'confirmed', 'done']);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'done', oebs_status: 'RECONCILED' });
    expect(await messageCount()).toBe(messages);
    expect(await h.s.db.sql`select outcome from t_oebs_error_replay where source_msg_id in (${created.msgId}, ${reconciled.msgId}) order by outcome`)
      .toEqual([{ outcome: 'applied' }, { outcome: 'applied' }]);
  });

  it('a message that still cannot be applied stays as it was: replayed twice, nothing is published and nothing moves', async () => {
    const since = new Date();
    const orphan = oebs(h, ['888888888888'], 'RECONCILED', '888888888881', '5');
    await publish(orphan);
    now = new Date();
    await drain(late);
    expect(await errorsAbout(h, { msgId: orphan.msgId })).toHaveLength(1);
    const messages = await messageCount();
    for (let i = 0; i < 2; i++) {
      const res = await replay({ since: since.toISOString() });
      expect(res.json().topics).toContainEqual({ topic: h.t.errors, replayed: 1, applied: 0, unchanged: 0, failing: 1 });
    }
    expect(await messageCount()).toBe(messages);
    expect(await errorsAbout(h, { msgId: orphan.msgId })).toHaveLength(1);
  });

  it('an unparsable message reported once is replayed as failing, and a per-topic count shows only the topics asked for', async () => {
    const since = new Date();
    const junk: DeliveredMessage = { ...oebs(h, ['1'], 'CREATED', '1', '1'), msgId: `junk-${uniqueClient()}` };
    await h.receiver.handle({ ...junk, body: '{"not json', payload: undefined });
    const res = await replay({ since: since.toISOString(), topic: h.t.errors });
    expect(res.json()).toEqual({ topics: [{ topic: h.t.errors, replayed: 1, applied: 0, unchanged: 0, failing: 1 }] });
  });
});

describe('who may replay what, and bad input', () => {
  const oplataErrors = topicsFor(testConfig(ENV), 'oplata', false).errors;

  it('a caller of one namespace replays only the topics carrying it; another namespace\'s topic is a 403', async () => {
    const mine = await replay({}, TAXI_TOKEN);
    expect(mine.statusCode).toBe(200);
    const topics = mine.json().topics.map((t: { topic: string }) => t.topic);
    expect(topics).toContain(h.t.errors);
    expect(topics).not.toContain(oplataErrors);
    const theirs = await replay({ topic: oplataErrors }, TAXI_TOKEN);
    expect(theirs.statusCode).toBe(403);
    expect(theirs.json().message).toContain('oplata');
    expect((await replay({ topic: oplataErrors })).statusCode).toBe(200);
  });

  it('a shared topic is replayed for the caller\'s namespaces only', () => {
    const config = testConfig(ENV);
    const choice = chooseTopics(config, ['taxi'], h.t.errors);
    expect(choice).toEqual({ ok: true, topics: new Map([[h.t.errors, ['taxi']]]) });
    expect(chooseTopics(config, ['*'], h.t.errors)).toEqual({ ok: true, topics: new Map([[h.t.errors, ['bnpl', 'taxi']]]) });
  });

  it.each([
    [{ topic: '/billing-payout/test/oebs/payout-status-ard' }, 400, 'not an oebs-errors topic'],
    [{ since: 'yesterday' }, 400, 'since'],
    [{ since: '2025-13-45' }, 400, 'since'],
    [{ extra: 1 }, 400, 'extra'],
  ])('%j → %i, nothing replayed', async (body, status, says) => {
    const messages = await messageCount();
    const res = await replay(body);
    expect(res.statusCode).toBe(status);
    expect(res.json().message).toContain(says);
    expect(await messageCount()).toBe(messages);
  });

  it('no token → 401', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/oebs-errors/replay', payload: {} });
    expect(res.statusCode).toBe(401);
  });

  it('the command line: --since takes a time, a day or a duration back; anything else is refused', () => {
    const at = new Date('2025-03-01T12:00:00Z');
    expect(parseReplayArgs(['--since', '2h', '--topic', 'x'], at)).toEqual({ since: new Date('2025-03-01T10:00:00Z'), topic: 'x' });
    expect(parseReplayArgs(['--since', '2025-02-28'], at)).toEqual({ since: new Date('2025-02-28T00:00:00Z') });
    expect(parseReplayArgs([], at)).toEqual({});
    expect(() => parseReplayArgs(['--since'], at)).toThrow('needs a value');
    expect(() => parseReplayArgs(['--since', '12'], at)).toThrow('not an ISO');
    expect(() => parseReplayArgs(['--all'], at)).toThrow('unknown argument');
    expect(parseSince('2025-03-01T10:00:00+03:00')).toEqual(new Date('2025-03-01T07:00:00Z'));
  });
});
