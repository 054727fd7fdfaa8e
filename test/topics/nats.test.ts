// NATS-backend specifics beyond the shared contract: a relay that crashed after publishing but
// before deleting its outbox rows resends them, and the stream's duplicate window drops them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { durableFor, streamFor } from '../../src/topics/nats-wire.ts';
import { createTopics } from '../../src/topics/index.ts';
import type { DeliveredMessage, Topics } from '../../src/topics/types.ts';
import { testConfig } from '../support/config.ts';
import { createTestDb, type TestDb } from '../support/db.ts';
import { NATS_URL, deleteRunStreams, freshTopic, natsReachable, openTopics, publishAll, round, until } from './harness.ts';

const natsUp = await natsReachable();
if (!natsUp) console.warn(`nats topics: no nats-server with JetStream at ${NATS_URL}; tests SKIPPED`);

describe.skipIf(!natsUp)('nats topics', () => {
  let db: TestDb;
  let topics: Topics;
  beforeAll(async () => {
    db = await createTestDb();
    topics = await openTopics('nats', db.sql);
  });
  afterAll(async () => {
    await topics?.close();
    await deleteRunStreams();
  });

  it('drops a relay resend of an already published message (Nats-Msg-Id)', async () => {
    const topic = freshTopic('nats');
    const got: DeliveredMessage[] = [];
    const consumer = await topics.subscribe({ group: 'g', topics: [topic], handler: async (m) => void got.push(m) });
    await db.sql.begin((tx) => topics.publish(tx, { topic, key: 'k', msgId: 'once', payload: { n: 1 } }));
    await until(() => got.length >= 1, () => round(topics, consumer));
    expect(await db.sql`select * from topic_outbox`).toHaveLength(0);
    // What a crash between the publish ack and the delete leaves behind: the row, again.
    await db.sql`insert into topic_outbox (message_id) select id from topic_message where topic = ${topic}`;
    expect(await topics.relay.runOnce()).toBe(1);
    expect(await db.sql`select * from topic_outbox`).toHaveLength(0);
    expect(await round(topics, consumer)).toBe(0);
    expect(got.map((m) => m.msgId)).toEqual(['once']);
  });

  it('counts and logs a resend JetStream already had (payout_topics_relay_duplicates_total)', async () => {
    const registry = new Registry();
    const warnings: unknown[] = [];
    const own = await createTopics(testConfig({ PAYOUT_TOPICS: 'nats', PAYOUT_NATS_URL: NATS_URL }), db.sql, undefined, { registry, log: { info() {}, error() {}, debug() {}, warn: (o: unknown) => void warnings.push(o) } as never });
    try {
      const topic = freshTopic('nats');
      await db.sql.begin((tx) => own.publish(tx, { topic, key: 'k', msgId: 'dup', payload: {} }));
      expect(await own.relay.runOnce()).toBe(1);
      expect(await registry.getSingleMetricAsString('payout_topics_relay_duplicates_total')).toContain('payout_topics_relay_duplicates_total 0');
      await db.sql`insert into topic_outbox (message_id) select id from topic_message where topic = ${topic}`;
      expect(await own.relay.runOnce()).toBe(1);
      expect(await registry.getSingleMetricAsString('payout_topics_relay_duplicates_total')).toContain('payout_topics_relay_duplicates_total 1');
      expect(warnings).toEqual([expect.objectContaining({ topic, msgId: 'dup' })]);
    } finally {
      await own.close();
    }
  });

  it('a second, fresh database publishing the same message ids on the same topic is not taken for a resend', async () => {
    // Payout ids restart at 1 in a new database (a staging reset, a restore): its messages carry
    // the same msgIds as the first database's, and must still all be delivered.
    const second = await createTestDb();
    const again = await openTopics('nats', second.sql);
    try {
      const topic = freshTopic('nats');
      const got: DeliveredMessage[] = [];
      const consumer = await topics.subscribe({ group: 'g2', topics: [topic], handler: async (m) => void got.push(m) });
      await db.sql.begin((tx) => topics.publish(tx, { topic, key: '1', msgId: '1', payload: { db: 'first' } }));
      await second.sql.begin((tx) => again.publish(tx, { topic, key: '1', msgId: '1', payload: { db: 'second' } }));
      await topics.relay.runOnce();
      await again.relay.runOnce();
      await until(() => got.length >= 2, () => round(topics, consumer));
      expect(got.map((m) => (m.payload as { db: string }).db).sort()).toEqual(['first', 'second']);
    } finally {
      await again.close();
    }
  });

  it('keeps messages in the outbox while they are not yet committed', async () => {
    const topic = freshTopic('nats');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let published = false;
    const tx = db.sql.begin(async (t) => {
      await topics.publish(t, { topic, key: 'k', msgId: 'pending', payload: {} });
      published = true;
      await gate;
    });
    await until(() => published, async () => 0);
    expect(await topics.relay.runOnce()).toBe(0); // the relay sees committed rows only
    release();
    await tx;
    expect(await topics.relay.runOnce()).toBe(1);
  });

  // The acks of a round travel together and only the last asks for the server's answer: every
  // handled message must still be acknowledged, or it would come back after the ack wait.
  it.each([
    ['a handler', (got: string[]) => ({ concurrency: 4, handler: async (m: DeliveredMessage) => void got.push(m.msgId) })],
    ['a batch handler', (got: string[]) => ({
      handler: async () => { throw new Error('the batch handler is used'); },
      handlerBatch: async (ms: DeliveredMessage[]) => ms.map((m) => void got.push(m.msgId)),
    })],
  ])('with %s, acknowledges every handled message of a round, not only the last', async (_, handling) => {
    const topic = freshTopic('nats');
    const got: string[] = [];
    const consumer = await topics.subscribe({ group: 'acks', topics: [topic], ackTimeoutMs: 60_000, ...handling(got) });
    await db.sql.begin((tx) => topics.publishMany(tx, Array.from({ length: 20 }, (_, i) => ({ topic, key: `k${i % 3}`, msgId: `m${i}`, payload: { i } }))));
    await until(() => got.length >= 20, () => round(topics, consumer));
    const nc = await natsConnect({ servers: NATS_URL });
    try {
      const info = await (await jetstreamManager(nc)).consumers.info(streamFor(topic), durableFor('acks'));
      expect({ ackPending: info.num_ack_pending, pending: info.num_pending, redelivered: info.num_redelivered }).toEqual({ ackPending: 0, pending: 0, redelivered: 0 });
    } finally {
      await nc.close();
    }
    expect(got.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`).sort());
  });

  // Found by attacking the change that made a round's acks travel together: in the handler path
  // they waited for the whole batch, so a message handled at once stayed unacknowledged behind a
  // slow one of another key, passed its ack wait and was handled again by another replica.
  it('acknowledges a message handled at once, whatever a slow message of another key in its batch does', async () => {
    const a = await openTopics('nats', db.sql);
    const b = await openTopics('nats', db.sql);
    try {
      const topic = freshTopic('nats');
      let release!: () => void;
      const slowHeld = new Promise<void>((r) => (release = r));
      const handledByA: string[] = [];
      const onA = await a.subscribe({
        group: 'slow', topics: [topic], ackTimeoutMs: 1000, concurrency: 2,
        handler: async (m) => {
          if (m.msgId === 'slow') await slowHeld;
          handledByA.push(m.msgId);
        },
      });
      const gotByB: string[] = [];
      const onB = await b.subscribe({ group: 'slow', topics: [topic], ackTimeoutMs: 1000, handler: async (m) => void gotByB.push(m.msgId) });
      await publishAll(db.sql, a, topic, [{ key: 'k1', msgId: 'fast' }, { key: 'k2', msgId: 'slow' }]);
      await a.relay.runOnce();
      const roundOfA = onA.runOnce();
      await until(() => handledByA.includes('fast'), async () => 0);
      // The slow one passes its ack wait and goes to the other replica; the fast one must not.
      await until(() => gotByB.includes('slow'), () => onB.runOnce());
      await onB.runOnce();
      release();
      await roundOfA;
      expect(gotByB).toEqual(['slow']);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('bounds a stream by PAYOUT_TOPIC_RETENTION (max_age), also on a stream made before it was set', async () => {
    const maxAgeOf = async (topic: string) => {
      const nc = await natsConnect({ servers: NATS_URL });
      try {
        return (await (await jetstreamManager(nc)).streams.info(streamFor(topic))).config.max_age;
      } finally {
        await nc.close();
      }
    };
    const withRetention = (retention: string) => createTopics(testConfig({ PAYOUT_TOPICS: 'nats', PAYOUT_NATS_URL: NATS_URL, PAYOUT_TOPIC_RETENTION: retention }), db.sql);
    const HOUR_NS = 3600 * 1e9;
    const topic = freshTopic('nats');
    const week = await withRetention('7d');
    try {
      await db.sql.begin((tx) => week.publish(tx, { topic, key: 'k', msgId: 'a', payload: {} }));
      await week.relay.runOnce();
    } finally {
      await week.close();
    }
    expect(await maxAgeOf(topic)).toBe(7 * 24 * HOUR_NS);
    // A deployment that shortens its retention updates the existing stream when it first uses it.
    const hour = await withRetention('1h');
    try {
      await db.sql.begin((tx) => hour.publish(tx, { topic, key: 'k', msgId: 'b', payload: {} }));
      await hour.relay.runOnce();
    } finally {
      await hour.close();
    }
    expect(await maxAgeOf(topic)).toBe(HOUR_NS);
  });
});
