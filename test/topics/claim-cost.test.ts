// The Postgres topics' claim costs what it claims, not what waits: topic_delivery churns so fast
// that its statistics usually say "a few rows", and with them the planner read a group's whole
// backlog and sorted it (~100 ms a claim under 3,000 deliveries in the e2e benchmark). The
// claim transaction turns sorting off, so the claim walks the primary key and stops at its limit.
// Measured with the server's own counters of index tuples read, on the real claim (without
// sorting turned off: 5,050).
import { expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { PostgresTopics } from '../../src/topics/postgres.ts';
import { createTestDb } from '../support/db.ts';
import { indexTuplesRead } from '../support/pg-counters.ts';

it('a claim of 50 under a backlog of 5,000 that the statistics do not know reads about 50 deliveries, not 5,000', async () => {
  const db = await createTestDb({ poolSize: 4 });
  // A pool of the consumer's own: the counters its backends add are flushed on our asking.
  const consumerSql = connect(db.url, { max: 2, app: 'claim-cost' });
  try {
    const topics = new PostgresTopics(consumerSql);
    const got: string[] = [];
    const consumer = await topics.subscribe({ group: 'g', topics: ['/claim/cost'], batchSize: 50, handler: async (m) => void got.push(m.msgId) });
    // Statistics taken while the table is empty, as they usually are for a table that churns.
    await db.sql`analyze topic_delivery`;
    await db.sql.begin((tx) => topics.publishMany(tx, Array.from({ length: 5000 }, (_, i) => ({ topic: '/claim/cost', key: `k${i}`, msgId: `m${i}`, payload: { i } }))));
    const tuples = await indexTuplesRead(db.sql, consumerSql, 2, 'topic_delivery', async () => {
      expect(await consumer.runOnce()).toBe(50);
    });
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`)); // the oldest, in order
    // 50 claimed, a few skipped, and one probe of the key index per candidate for its predecessors.
    expect(tuples).toBeLessThan(1000);
  } finally {
    await consumerSql.end();
  }
});
