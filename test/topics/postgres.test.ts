// Postgres-backend specifics beyond the shared contract: the publish/subscribe lock and the
// state the tables are left in.
import { beforeAll, describe, expect, it } from 'vitest';
import { PostgresTopics } from '../../src/topics/postgres.ts';
import type { DeliveredMessage } from '../../src/topics/types.ts';
import { createTestDb, type TestDb } from '../support/db.ts';
import { freshTopic, tick, until } from './harness.ts';

let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
});

async function waitingOnAdvisoryLock(): Promise<boolean> {
  const rows = await db.sql`
    select 1 from pg_stat_activity
    where datname = current_database() and wait_event_type = 'Lock' and query like '%pg_advisory_xact_lock(%'`;
  return rows.length > 0;
}

describe('postgres topics', () => {
  it('a first subscribe waits for an in-flight publish, so the new group cannot miss it', async () => {
    const topics = new PostgresTopics(db.sql);
    const topic = freshTopic('postgres');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let published = false;
    const publishing = db.sql.begin(async (tx) => {
      await topics.publish(tx, { topic, key: 'k', msgId: 'in-flight', payload: {} });
      published = true;
      await gate; // the publisher's transaction is still open
    });
    await until(() => published, tick);
    let subscribed = false;
    const got: DeliveredMessage[] = [];
    const subscribing = topics.subscribe({ group: 'late', topics: [topic], handler: async (m) => void got.push(m) })
      .then((c) => ((subscribed = true), c));
    const deadline = Date.now() + 10_000;
    while (!(await waitingOnAdvisoryLock())) {
      if (Date.now() > deadline) throw new Error('subscribe never waited on the topic lock');
      await tick();
    }
    expect(subscribed).toBe(false);
    release();
    await publishing;
    const consumer = await subscribing;
    await until(() => got.length >= 1, () => consumer.runOnce());
    expect(got.map((m) => m.msgId)).toEqual(['in-flight']);
  });

  it('keeps the log but leaves no delivery rows once every group acknowledged', async () => {
    const topics = new PostgresTopics(db.sql);
    const topic = freshTopic('postgres');
    const consumer = await topics.subscribe({ group: 'g', topics: [topic], handler: async () => {} });
    await db.sql.begin((tx) => topics.publish(tx, { topic, key: 'k', msgId: 'one', payload: { a: 1 } }));
    expect(await consumer.runOnce()).toBe(1);
    const [log] = await db.sql`select count(*)::int as n from topic_message where topic = ${topic}`;
    const [pending] = await db.sql`select count(*)::int as n from topic_delivery where topic = ${topic}`;
    expect([log!.n, pending!.n]).toEqual([1, 0]);
  });

  it('runs handlers from the start() loop and stops promptly', async () => {
    const topics = new PostgresTopics(db.sql);
    const topic = freshTopic('postgres');
    const got: string[] = [];
    const consumer = await topics.subscribe({ group: 'g', topics: [topic], idleMs: 20, handler: async (m) => void got.push(m.msgId) });
    consumer.start();
    await db.sql.begin((tx) => topics.publish(tx, { topic, key: 'k', msgId: 'looped', payload: {} }));
    await until(() => got.length >= 1, tick);
    await topics.close();
    expect(got).toEqual(['looped']);
  });
});
