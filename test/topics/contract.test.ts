// The topics contract, run against both backends: what payout relies on, whatever carries it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JsonNumber } from '../../src/domain/json.ts';
import type { Consumer, DeliveredMessage, SubscribeOptions, Topics } from '../../src/topics/types.ts';
import { createTestDb, type TestDb } from '../support/db.ts';
import {
  NATS_URL, deleteRunStreams, freshTopic, natsReachable, openKillable, openTopics, publishAll, round, tick, until,
  type BackendName,
} from './harness.ts';

const natsUp = await natsReachable();
if (!natsUp) console.warn(`topics contract: no nats-server with JetStream at ${NATS_URL}; NATS backend tests are SKIPPED`);

const FAST_RETRY = { baseMs: 20, maxMs: 200 };
let db: TestDb;
beforeAll(async () => {
  db = await createTestDb({ poolSize: 20 });
});

describe.each([
  { backend: 'postgres' as BackendName, skip: false },
  { backend: 'nats' as BackendName, skip: !natsUp },
])('topics contract: $backend', ({ backend, skip }) => {
  const opened: Topics[] = [];
  const open = async (sql = db.sql) => {
    const t = await openTopics(backend, sql);
    opened.push(t);
    return t;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((t) => t.close()));
  });
  afterAll(async () => {
    if (backend === 'nats' && !skip) await deleteRunStreams();
  });

  /** Subscribes with a handler that records every successful delivery. */
  async function recorder(topics: Topics, opts: Partial<SubscribeOptions> & { topics: string[] }) {
    const got: DeliveredMessage[] = [];
    const consumer = await topics.subscribe({
      group: 'g', retry: FAST_RETRY, ...opts,
      handler: opts.handler ?? (async (m) => void got.push(m)),
    });
    return { got, consumer };
  }

  describe.skipIf(skip)('', () => {
    it('delivers what a committed transaction published, never what a rolled-back one did', async () => {
      const topics = await open();
      const topic = freshTopic(backend);
      await publishAll(db.sql, topics, topic, [{ key: 'a', msgId: 'm1', payload: { amount: '10.50' } }]);
      await expect(db.sql.begin(async (tx) => {
        await topics.publish(tx, { topic, key: 'a', msgId: 'm2', payload: {} });
        throw new Error('roll back');
      })).rejects.toThrow('roll back');
      // Subscribing after the first publish: a new group still gets the earlier message.
      const { got, consumer } = await recorder(topics, { topics: [topic] });
      await publishAll(db.sql, topics, topic, [{ key: 'b', msgId: 'm3' }]);
      await until(() => got.length >= 2, () => round(topics, consumer));
      expect(await round(topics, consumer)).toBe(0);
      expect(got.map((m) => m.msgId).sort()).toEqual(['m1', 'm3']);
      expect(got.find((m) => m.msgId === 'm1')).toMatchObject({ topic, key: 'a', payload: { amount: '10.50' }, redelivered: false });
      // The publish time comes along (the receiver bounds how long a message may wait by it).
      const age = Date.now() - got.find((m) => m.msgId === 'm1')!.publishedAt!.getTime();
      expect(age).toBeGreaterThanOrEqual(-5_000);
      expect(age).toBeLessThan(60_000);
    });

    it('carries the body as it was written: exact numbers (100.50, int64), field order, and reads numbers without a float', async () => {
      const topics = await open();
      const topic = freshTopic(backend);
      const payload = { message_id: new JsonNumber('9223372036854775807'), amount: new JsonNumber('100.50'), tiny: new JsonNumber('0.10000000000000000555'), a: 'x' };
      const text = '{"message_id":9223372036854775807,"amount":100.50,"tiny":0.10000000000000000555,"a":"x"}';
      await publishAll(db.sql, topics, topic, [{ key: 'k', msgId: 'exact', payload }]);
      const { got, consumer } = await recorder(topics, { topics: [topic] });
      await until(() => got.length >= 1, () => round(topics, consumer));
      expect(got[0]!.body).toBe(text);
      const p = got[0]!.payload as Record<string, JsonNumber>;
      expect([p.message_id!.text, p.amount!.text, p.tiny!.text]).toEqual(['9223372036854775807', '100.50', '0.10000000000000000555']);
    });

    it('with concurrency, runs handlers of different keys at once and keeps each key in order', async () => {
      const topics = await open();
      const topic = freshTopic(backend);
      const seen = new Map<string, number[]>();
      let running = 0;
      let most = 0;
      const { consumer } = await recorder(topics, {
        topics: [topic], concurrency: 8,
        handler: async (m) => {
          most = Math.max(most, ++running);
          await new Promise((r) => setTimeout(r, 5)); // long enough for the others to start
          const p = m.payload as { key: string; n: JsonNumber };
          seen.set(p.key, [...(seen.get(p.key) ?? []), Number(p.n.text)]);
          running--;
        },
      });
      await publishAll(db.sql, topics, topic, Array.from({ length: 80 }, (_, i) => ({
        key: `k${i % 8}`, msgId: `m${i}`, payload: { key: `k${i % 8}`, n: Math.floor(i / 8) },
      })));
      await until(() => [...seen.values()].flat().length >= 80, () => round(topics, consumer));
      expect(most).toBeGreaterThan(1);
      for (const ns of seen.values()) expect(ns).toEqual([...Array(10).keys()]);
    });

    it('keeps publish order within a key', async () => {
      const topics = await open();
      const topic = freshTopic(backend);
      const { got, consumer } = await recorder(topics, { topics: [topic], batchSize: 7 });
      for (let i = 0; i < 20; i++) {
        await publishAll(db.sql, topics, topic, ['x', 'y', 'z'].map((k) => ({ key: k, msgId: `${k}-${i}` })));
      }
      await until(() => got.length >= 60, () => round(topics, consumer));
      for (const k of ['x', 'y', 'z']) {
        expect(got.filter((m) => m.key === k).map((m) => m.msgId)).toEqual(Array.from({ length: 20 }, (_, i) => `${k}-${i}`));
      }
    });

    it('redelivers after a handler failure, keeps the key in order and other keys moving', async () => {
      const topics = await open();
      const topic = freshTopic(backend);
      const done: DeliveredMessage[] = [];
      let failures = 0;
      const { consumer } = await recorder(topics, {
        topics: [topic],
        handler: async (m) => {
          if (m.msgId === 'a1' && failures < 2) {
            failures++;
            throw new Error('handler failed');
          }
          done.push(m);
        },
      });
      await publishAll(db.sql, topics, topic, [{ key: 'A', msgId: 'a1' }, { key: 'A', msgId: 'a2' }, { key: 'B', msgId: 'b1' }]);
      await until(() => done.some((m) => m.msgId === 'b1'), () => round(topics, consumer));
      await until(() => done.length >= 3, () => round(topics, consumer));
      expect(failures).toBe(2);
      expect(done.filter((m) => m.key === 'A').map((m) => m.msgId)).toEqual(['a1', 'a2']);
      expect(done.find((m) => m.msgId === 'a1')!.redelivered).toBe(true);
      expect(done.filter((m) => m.msgId === 'b1')).toHaveLength(1);
    });

    it('a batch handler gets a round at a time: each key in publish order, a failed message redelivered and holding back its key only', async () => {
      const topics = await open();
      const topic = freshTopic(backend);
      const done: DeliveredMessage[] = [];
      const rounds: string[][] = [];
      let failures = 0;
      const consumer = await topics.subscribe({
        group: 'g', topics: [topic], retry: FAST_RETRY, batchSize: 10,
        handler: async () => { throw new Error('the batch handler is used'); },
        handlerBatch: async (ms) => {
          rounds.push(ms.map((m) => m.msgId));
          return ms.map((m) => {
            if (m.msgId === 'a1' && failures < 2) {
              failures++;
              return new Error('a1 failed');
            }
            done.push(m);
            return undefined;
          });
        },
      });
      await publishAll(db.sql, topics, topic, [
        { key: 'A', msgId: 'a1' }, { key: 'A', msgId: 'a2' }, { key: 'B', msgId: 'b1' }, { key: 'B', msgId: 'b2' }, { key: 'C', msgId: 'c1' },
      ]);
      await until(() => done.length >= 5, () => round(topics, consumer));
      expect(failures).toBe(2);
      for (const k of ['a', 'b']) expect(done.filter((m) => m.msgId.startsWith(k)).map((m) => m.msgId)).toEqual([`${k}1`, `${k}2`]);
      expect(done.map((m) => m.msgId).sort()).toEqual(['a1', 'a2', 'b1', 'b2', 'c1']);
      // Several messages per call, never two of one key in a call, and a2 never before a1 succeeded.
      expect(rounds.some((r) => r.length > 1)).toBe(true);
      for (const r of rounds) expect(new Set(r.map((id) => id[0])).size).toBe(r.length);
      expect(done.find((m) => m.msgId === 'a1')!.redelivered).toBe(true);
    });

    it('redelivers to another replica what a consumer held when it died', async () => {
      const dying = await openKillable(backend, db.url);
      opened.push(dying.topics);
      const topic = freshTopic(backend);
      const seenByDying: string[] = [];
      const dead = await dying.topics.subscribe({
        group: 'g', topics: [topic], ackTimeoutMs: 1000,
        handler: async (m) => {
          seenByDying.push(m.msgId);
          await dying.kill(); // dies mid-handling, before any ack
        },
      });
      await publishAll(db.sql, dying.topics, topic, [{ key: 'k', msgId: 'only' }]);
      await dying.topics.relay.runOnce();
      await expect(dead.runOnce()).rejects.toThrow();
      expect(seenByDying).toEqual(['only']);
      const survivor = await open();
      const { got, consumer } = await recorder(survivor, { topics: [topic], ackTimeoutMs: 1000 });
      await until(() => got.length >= 1, () => consumer.runOnce());
      expect(got.map((m) => m.msgId)).toEqual(['only']);
    });

    it('loses nothing across a restart: a new instance of the group gets the rest', async () => {
      const first = await open();
      const topic = freshTopic(backend);
      const msgs = Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, msgId: `m${i}` }));
      await publishAll(db.sql, first, topic, msgs);
      const a = await recorder(first, { topics: [topic], batchSize: 5 });
      await first.relay.runOnce();
      await until(() => a.got.length >= 5, () => a.consumer.runOnce());
      await first.close();
      const second = await open();
      const b = await recorder(second, { topics: [topic] });
      await until(() => a.got.length + b.got.length >= 20, () => round(second, b.consumer));
      expect(await round(second, b.consumer)).toBe(0);
      const all = [...a.got, ...b.got].map((m) => m.msgId).sort();
      expect(all).toEqual(msgs.map((m) => m.msgId).sort());
    });

    it('shares 500 messages among 3 competing consumers, each handled once', async () => {
      const publisher = await open();
      const topic = freshTopic(backend);
      const counts = new Map<string, number>();
      const byKey = new Map<string, string[]>();
      const handler = async (m: DeliveredMessage) => {
        counts.set(m.msgId, (counts.get(m.msgId) ?? 0) + 1);
        byKey.set(m.key, [...(byKey.get(m.key) ?? []), m.msgId]);
        await db.sql`select 1`; // a real round trip, so the replicas interleave
      };
      const consumers: Consumer[] = [];
      for (let i = 0; i < 3; i++) consumers.push(await (await open()).subscribe({ group: 'g', topics: [topic], handler, batchSize: 20 }));
      for (let t = 0; t < 10; t++) {
        await publishAll(db.sql, publisher, topic, Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 25}`, msgId: `m${t}-${i}` })));
      }
      while ((await publisher.relay.runOnce()) > 0); // NATS: everything onto the stream first
      const deadline = Date.now() + 30_000;
      const worked = await Promise.all(consumers.map(async (c) => {
        let n = 0;
        while (counts.size < 500 && Date.now() < deadline) {
          const did = await c.runOnce();
          n += did;
          if (!did) await tick();
        }
        return n;
      }));
      expect(counts.size).toBe(500);
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
      expect(worked.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
      if (backend === 'postgres') {
        // Postgres keeps per-key order even across competing replicas.
        for (const [, ids] of byKey) expect(ids).toEqual([...ids].sort((x, y) => order(x) - order(y)));
      }
    });

    it('publishMany: many messages over several topics in one statement, in order per key, repeats dropped', async () => {
      const topics = await open();
      const [a, b] = [freshTopic(backend), freshTopic(backend)];
      const { got, consumer } = await recorder(topics, { topics: [a, b] });
      const batch = (round: number) => [a, b].flatMap((topic) => ['x', 'y'].map((k) => ({ topic, key: k, msgId: `${k}-${round}`, payload: { round } })));
      const counts = [];
      for (let i = 0; i < 5; i++) counts.push(await db.sql.begin((tx) => topics.publishMany(tx, batch(i))));
      counts.push(await db.sql.begin((tx) => topics.publishMany(tx, batch(2)))); // a repeat: nothing new
      await db.sql.begin(async (tx) => {
        await topics.publishMany(tx, batch(9));
        throw new Error('rolled back');
      }).catch(() => {});
      expect(counts).toEqual([4, 4, 4, 4, 4, 0]);
      await until(() => got.length >= 20, () => round(topics, consumer));
      expect(await round(topics, consumer)).toBe(0);
      for (const topic of [a, b]) {
        for (const k of ['x', 'y']) {
          expect(got.filter((m) => m.topic === topic && m.key === k).map((m) => m.msgId)).toEqual([0, 1, 2, 3, 4].map((i) => `${k}-${i}`));
        }
      }
    });

    it('delivers a duplicate publish of one msgId once', async () => {
      const topics = await open();
      const topic = freshTopic(backend);
      const first = await db.sql.begin(async (tx) => [
        await topics.publish(tx, { topic, key: 'k', msgId: 'dup', payload: { v: 1 } }),
        await topics.publish(tx, { topic, key: 'k', msgId: 'dup', payload: { v: 2 } }),
      ]);
      const again = await db.sql.begin((tx) => topics.publish(tx, { topic, key: 'k', msgId: 'dup', payload: { v: 3 } }));
      expect([...first, again]).toEqual([true, false, false]);
      const { got, consumer } = await recorder(topics, { topics: [topic] });
      await until(() => got.length >= 1, () => round(topics, consumer));
      expect(await round(topics, consumer)).toBe(0);
      expect(got.map((m) => m.body)).toEqual(['{"v":1}']);
    });

    it('gives every group every message, before and after it subscribed', async () => {
      const topics = await open();
      const topic = freshTopic(backend);
      const one = await recorder(topics, { group: 'one', topics: [topic] });
      await publishAll(db.sql, topics, topic, [{ key: 'k', msgId: 'early' }]);
      const two = await recorder(topics, { group: 'two', topics: [topic] });
      await publishAll(db.sql, topics, topic, [{ key: 'k', msgId: 'late' }]);
      await until(() => one.got.length >= 2 && two.got.length >= 2, () => round(topics, one.consumer, two.consumer));
      expect(one.got.map((m) => m.msgId)).toEqual(['early', 'late']);
      expect(two.got.map((m) => m.msgId)).toEqual(['early', 'late']);
    });
  });
});

/** `m<batch>-<index>` → publish order. */
function order(msgId: string): number {
  const [t, i] = msgId.slice(1).split('-').map(Number);
  return t! * 1000 + i!;
}
