// The OEBS stand-in over the real topics (both backends): new-payout messages in, published as
// payout's sender does, and the exact status answers out, read by a group of our own.
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JsonNumber } from '../../src/domain/json.ts';
import { newPayoutMessage } from '../../src/domain/oebs-messages.ts';
import { FailpointError, setFailpoints } from '../../src/failpoints.ts';
import { OebsEmulator } from '../../src/standins/oebs/emulator.ts';
import { allStatusTopics, createTopics, topicsFor } from '../../src/topics/index.ts';
import type { DeliveredMessage, Payload, Topics } from '../../src/topics/types.ts';
import { testConfig } from '../support/config.ts';
import { createTestDb, type TestDb } from '../support/db.ts';
import { NATS_URL, RUN_ID, deleteRunStreams, natsReachable, round, until, type BackendName } from '../topics/harness.ts';

const natsUp = await natsReachable();
if (!natsUp) console.warn(`oebs emulator: no nats-server with JetStream at ${NATS_URL}; NATS backend tests are SKIPPED`);

const BEHAVIOURS = { '101': 'reject', '102': 'return', '103': 'silent' };
const SENT_AT = new Date('2025-03-01T10:00:05.123Z'); // message_dt "2025-03-01 10:00:05", which the answers carry
let db: TestDb;
let envSeq = 0;
beforeAll(async () => {
  db = await createTestDb({ poolSize: 20 });
});

describe.each([
  { backend: 'postgres' as BackendName, skip: false },
  { backend: 'nats' as BackendName, skip: !natsUp },
])('oebs emulator: $backend', ({ backend, skip }) => {
  const opened: Topics[] = [];
  afterEach(async () => {
    setFailpoints([]);
    await Promise.all(opened.splice(0).map((t) => t.close()));
  });
  afterAll(async () => {
    if (backend === 'nats' && !skip) await deleteRunStreams();
  });

  /** A fresh environment name per test (fresh topics and streams); bnpl has a topic base of its own. */
  async function setup() {
    const env = `${RUN_ID}o${backend[0]}${++envSeq}`;
    const config = testConfig({
      PAYOUT_ENV: env, PAYOUT_TOPICS: backend, PAYOUT_NATS_URL: NATS_URL,
      PAYOUT_OEBS_EMULATOR: JSON.stringify(BEHAVIOURS),
      PAYOUT_TOPIC_BASES: JSON.stringify({ bnpl: `/billing-payout/${env}/bnpl-oebs` }),
    });
    const errors: unknown[] = [];
    const topics = await createTopics(config, db.sql, (err) => errors.push(err));
    opened.push(topics);
    const logs: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const emulator = await OebsEmulator.create({ config, sql: db.sql, topics, log, retry: { baseMs: 20, maxMs: 200 } });
    const got: DeliveredMessage[] = [];
    const reader = await topics.subscribe({ group: 'reader', topics: allStatusTopics(config), handler: async (m) => void got.push(m) });
    const t = (ns: string, dry = false) => topicsFor(config, ns, dry);
    return { env, config, topics, emulator, reader, got, logs, errors, t };
  }
  type Setup = Awaited<ReturnType<typeof setup>>;

  /** Publishes a new-payout exactly as payout's sender does (key and msgId = payout id unless told). */
  async function send(h: Setup, p: { id: string; client: string; ns?: string; dry?: boolean; amount?: string; msgId?: string }) {
    const ns = p.ns ?? 'taxi';
    const payload = newPayoutMessage(
      { id: p.id, namespace: ns, client_id: p.client, contract_id: '7', service_id: '124', currency: 'RUB', created_at: new Date('2025-03-01T10:00:00Z') },
      p.amount ?? '150.25', SENT_AT,
    );
    await publish(h, h.t(ns, p.dry).newPayout, p.id, p.msgId ?? p.id, { ...payload });
  }

  async function publish(h: Setup, topic: string, key: string, msgId: string, payload: Payload) {
    await db.sql.begin((tx) => h.topics.publish(tx, { topic, key, msgId, payload }));
  }

  /** Lets the emulator take `taken` deliveries, waits for `answers` answers, then checks all is quiet. */
  async function settle(h: Setup, taken: number, answers: number) {
    let took = 0;
    await until(() => took >= taken, async () => {
      await h.topics.relay.runOnce();
      const n = await h.emulator.runOnce();
      took += n;
      return n;
    });
    await until(() => h.got.length >= answers, () => round(h.topics, h.reader));
    expect(await round(h.topics, h.emulator, h.reader)).toBe(0);
    expect(h.got).toHaveLength(answers);
  }

  /**
   * What the reader got, per topic, as exact text, ordered by message id (the order of one key is
   * kept; OEBS's messages are keyed by payment and status, and the order across keys is not promised).
   */
  const byTopic = (got: DeliveredMessage[]) => {
    const out: Record<string, { key: string; msgId: string; body: string }[]> = {};
    for (const m of got) (out[m.topic] ??= []).push({ key: m.key, msgId: m.msgId, body: m.body });
    for (const list of Object.values(out)) list.sort((a, b) => a.msgId.localeCompare(b.msgId));
    return out;
  };
  const DT = '"status_dt":"2025-03-01 10:00:05","status_system":"oebs"';
  const ardNew = (id: string) => ({
    key: id, msgId: `${id}/ard-new`,
    body: `{"status_id":${id}0,${DT},"message_id":${id},"status_type":"NEW","status_info":"","ard_line_id":${id},"payment_batch_id":${id},"payment_check_id":${id}}`,
  });
  const oebs = (id: string, client: string, status: string, attempt: 'A' | 'B', amount = '150.25') => ({
    key: `${id}${attempt === 'A' ? 1 : 2}/${status}`, msgId: `${id}/oebs-${status.toLowerCase()}-${attempt}`,
    body: `{${DT},"status_type":"${status}","ard_line_id":${id},"payment_batch_id":[${id}],"payment_id":${id}${attempt === 'A' ? 1 : 2},`
      + `"payment_amount":${amount},"payment_purpose":"Payout ${id} to client ${client}","total_batch_count":1}`,
  });
  const sorted = <T extends { msgId: string }>(xs: T[]) => [...xs].sort((a, b) => a.msgId.localeCompare(b.msgId));

  describe.skipIf(skip)('', () => {
    it('accepts: ARD NEW, then OEBS CREATED and RECONCILED of the batch', async () => {
      const h = await setup();
      await send(h, { id: '5001', client: '42', amount: '1000.10' });
      await settle(h, 1, 3);
      expect(byTopic(h.got)).toEqual({
        [h.t('taxi').statusArd]: [ardNew('5001')],
        [h.t('taxi').statusOebs]: sorted([oebs('5001', '42', 'CREATED', 'A', '1000.10'), oebs('5001', '42', 'RECONCILED', 'A', '1000.10')]),
      });
      expect(h.errors).toEqual([]);
    });

    it('rejects: ARD ERROR with a reason, nothing more', async () => {
      const h = await setup();
      await send(h, { id: '5002', client: '101' });
      await settle(h, 1, 1);
      expect(byTopic(h.got)).toEqual({
        [h.t('taxi').statusArd]: [{
          key: '5002', msgId: '5002/ard-error',
          body: `{"status_id":50020,${DT},"message_id":5002,"status_type":"ERROR","status_info":"rejected by the OEBS emulator","ard_line_id":5002,"payment_batch_id":null,"payment_check_id":null}`,
        }],
      });
    });

    it('returns: paid under payment A, returned, paid again under payment B of the same batch', async () => {
      const h = await setup();
      await send(h, { id: '5003', client: '102' });
      await settle(h, 1, 6);
      expect(byTopic(h.got)).toEqual({
        [h.t('taxi').statusArd]: [ardNew('5003')],
        [h.t('taxi').statusOebs]: sorted([
          oebs('5003', '102', 'CREATED', 'A'), oebs('5003', '102', 'RECONCILED', 'A'), oebs('5003', '102', 'RETURNED', 'A'),
          oebs('5003', '102', 'CREATED', 'B'), oebs('5003', '102', 'RECONCILED', 'B'),
        ]),
      });
    });

    it('stays silent for a silent client', async () => {
      const h = await setup();
      await send(h, { id: '5004', client: '103' });
      await settle(h, 1, 0);
      expect(h.logs.filter((l) => l.msg === 'oebs emulator answered')).toMatchObject([{ payouts: [{ id: '5004', behaviour: 'silent', answers: 0 }], answers: 0 }]);
    });

    it('answers on the namespace and -dry twin the payout came on', async () => {
      const h = await setup();
      await send(h, { id: '5005', client: '42', dry: true });
      await send(h, { id: '5006', client: '42', ns: 'bnpl' });
      await send(h, { id: '5007', client: '101', ns: 'bnpl', dry: true });
      await settle(h, 3, 7);
      const rejected = { key: '5007', msgId: '5007/ard-error', body: expect.stringContaining('"status_type":"ERROR"') };
      expect(byTopic(h.got)).toEqual({
        [`/billing-payout/${h.env}/oebs/payout-status-ard-dry`]: [ardNew('5005')],
        [`/billing-payout/${h.env}/oebs/payout-status-oebs-dry`]: sorted([oebs('5005', '42', 'CREATED', 'A'), oebs('5005', '42', 'RECONCILED', 'A')]),
        [`/billing-payout/${h.env}/bnpl-oebs/payout-status-ard`]: [ardNew('5006')],
        [`/billing-payout/${h.env}/bnpl-oebs/payout-status-oebs`]: sorted([oebs('5006', '42', 'CREATED', 'A'), oebs('5006', '42', 'RECONCILED', 'A')]),
        [`/billing-payout/${h.env}/bnpl-oebs/payout-status-ard-dry`]: [rejected],
      });
    });

    it('answers a redelivered new-payout (crash after commit, before ack) with nothing new', async () => {
      const h = await setup();
      setFailpoints(['oebs-emulator.after-answers'], 'throw');
      await send(h, { id: '5008', client: '102' });
      await until(() => h.errors.length > 0, () => round(h.topics, h.emulator));
      expect(h.errors).toHaveLength(1);
      expect(h.errors[0]).toBeInstanceOf(FailpointError);
      setFailpoints([]);
      // The failed delivery comes back after its backoff; its answers are all repeats.
      await until(() => h.logs.some((l) => l.msg === 'oebs emulator answered'), () => round(h.topics, h.emulator));
      await settle(h, 0, 6);
      expect(h.logs.filter((l) => l.msg === 'oebs emulator answered')).toMatchObject([{ payouts: [{ id: '5008', answers: 6 }], answers: 6, repeats: 6, redelivered: 1 }]);
      expect(new Set(h.got.map((m) => m.msgId)).size).toBe(6);
    });

    it('answers the same payout published twice (another msgId) once', async () => {
      const h = await setup();
      await send(h, { id: '5009', client: '42' });
      await send(h, { id: '5009', client: '42', msgId: '5009/again' });
      await settle(h, 2, 3);
      expect(h.got.map((m) => m.msgId).sort()).toEqual(['5009/ard-new', '5009/oebs-created-A', '5009/oebs-reconciled-A']);
      expect(h.logs.filter((l) => l.msg === 'oebs emulator answered').map((l) => l.repeats)).toEqual([0, 3]);
    });

    it('drops (acknowledges) messages that are not a valid new-payout, and goes on', async () => {
      const h = await setup();
      const topic = h.t('taxi').newPayout;
      const valid = { ...newPayoutMessage({ id: '1', namespace: 'taxi', client_id: '42', contract_id: '7', service_id: '124', currency: 'RUB', created_at: new Date() }, '1.00', new Date()) };
      await publish(h, topic, 'x1', 'x1', { ...valid, message_id: undefined });
      await publish(h, topic, 'x2', 'x2', { ...valid, message_id: new JsonNumber('2'), amount: '10.00' });
      await publish(h, topic, 'x3', 'x3', { ...valid, message_id: new JsonNumber('3'), amount: new JsonNumber('0.00') });
      await publish(h, topic, 'x4', 'x4', { ...valid, message_id: new JsonNumber('4'), amount: new JsonNumber('12.5') });
      await send(h, { id: '5010', client: '42' });
      await settle(h, 5, 3);
      expect(h.got.every((m) => m.msgId.startsWith('5010/'))).toBe(true);
      const dropped = h.logs.filter((l) => l.msg === 'oebs emulator: not a valid new-payout; dropped');
      expect(dropped.map((l) => l.msgId)).toEqual(['x1', 'x2', 'x3', 'x4']);
      expect(String(dropped[0]!.problem)).toContain('message_id');
      expect(String(dropped[1]!.problem)).toContain('amount');
      expect(h.errors).toEqual([]);
    });
  });
});
