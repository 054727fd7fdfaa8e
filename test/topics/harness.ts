// Shared pieces of the topics contract tests: backend setup, a "crash" per backend, and polling
// with a deadline instead of sleeps.
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { connect, type Sql } from '../../src/db/connect.ts';
import { createTopics } from '../../src/topics/index.ts';
import { NatsTopics } from '../../src/topics/nats.ts';
import type { Consumer, Payload, Topics } from '../../src/topics/types.ts';
import { testConfig } from '../support/config.ts';

export const NATS_URL = process.env.PAYOUT_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
export type BackendName = 'postgres' | 'nats';

export async function natsReachable(): Promise<boolean> {
  try {
    const nc = await natsConnect({ servers: NATS_URL, timeout: 2000, reconnect: false });
    const ok = await jetstreamManager(nc).then(() => true, () => false);
    await nc.close();
    return ok;
  } catch {
    return false;
  }
}

/** Unique per run, so topics, streams and durables never meet an earlier run's leftovers. */
export const RUN_ID = `t${randomBytes(4).toString('hex')}`;
let seq = 0;
export const freshTopic = (backend: BackendName) => `/billing-payout/${RUN_ID}${backend[0]}${++seq}/oebs/new-payout`;

export function openTopics(backend: BackendName, sql: Sql): Promise<Topics> {
  return createTopics(testConfig({ PAYOUT_TOPICS: backend, PAYOUT_NATS_URL: NATS_URL }), sql);
}

/**
 * A topics instance that can "die": Postgres, its own one-connection pool is ended under the
 * claim transaction; NATS, its connection is closed without acking.
 */
export async function openKillable(backend: BackendName, dbUrl: string): Promise<{ topics: Topics; kill: () => Promise<void> }> {
  if (backend === 'postgres') {
    const own = connect(dbUrl, { max: 1 });
    return { topics: await openTopics(backend, own), kill: () => own.end({ timeout: 0 }) };
  }
  const topics = (await openTopics(backend, connect(dbUrl, { max: 2 }))) as NatsTopics;
  return { topics, kill: () => topics.kill() };
}

/** Deletes the streams this run created (all named after RUN_ID). */
export async function deleteRunStreams(): Promise<void> {
  const nc = await natsConnect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  for await (const name of jsm.streams.names()) {
    if (name.startsWith(`billing-payout_${RUN_ID}`)) await jsm.streams.delete(name);
  }
  await nc.close();
}

export const tick = () => new Promise((r) => setTimeout(r, 10));

/** Runs `step` until `done()` holds, failing after `ms`. */
export async function until(done: () => boolean, step: () => Promise<unknown>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('condition not reached before the deadline');
    if (!(await step())) await tick();
  }
}

/** One round: relay committed messages (NATS), then let each consumer take a batch. */
export async function round(topics: Topics, ...consumers: Consumer[]): Promise<number> {
  await topics.relay.runOnce();
  let n = 0;
  for (const c of consumers) n += await c.runOnce();
  return n;
}

export async function publishAll(sql: Sql, topics: Topics, topic: string, msgs: { key: string; msgId: string; payload?: Payload }[]) {
  await sql.begin(async (tx) => {
    for (const m of msgs) await topics.publish(tx, { topic, key: m.key, msgId: m.msgId, payload: m.payload ?? { id: m.msgId } });
  });
}
