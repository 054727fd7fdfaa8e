// NATS-backend specifics beyond the shared contract: a relay that crashed after publishing but
// before deleting its outbox rows resends them, and the stream's duplicate window drops them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveredMessage, Topics } from '../../src/topics/types.ts';
import { createTestDb, type TestDb } from '../support/db.ts';
import { NATS_URL, deleteRunStreams, freshTopic, natsReachable, openTopics, round, until } from './harness.ts';

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
});
