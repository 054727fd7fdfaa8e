// NATS JetStream backend. Publishing stays transactional: `publish` writes the message and an
// outbox row in the caller's transaction; the relay moves committed rows to JetStream and deletes
// them only after the server's publish ack. A crash between ack and delete resends with the same
// Nats-Msg-Id, which the stream's duplicate window drops. Consumers are durable pull consumers
// named by group (replicas of a group share one), with explicit acks after the handler.
//
// Per-key order: JetStream on 2.9 has no keyed partitions for competing pull clients, so the order
// of one key is kept by one consumer (messages are handled in stream order, and a failure holds
// back the rest of its key in that batch), but two replicas may handle two messages of one key at
// the same time. Handlers guard state changes in SQL, so a late message cannot move a payout back.
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, headers, nanos, type NatsConnection } from '@nats-io/transport-node';
import { Counter } from 'prom-client';
import type { Sql, Tx } from '../db/connect.ts';
import { mapLimit } from '../worker/concurrency.ts';
import { PollLoop } from '../worker/loop.ts';
import * as store from './store.ts';
import { HDR, ack, deliveryInfo, durableFor, nak, natsMsgId, pullNoWait, streamFor, subjectFor } from './nats-wire.ts';
import {
  DEFAULT_RETRY, retryDelayMs, type Consumer, type OutgoingMessage, type SubscribeOptions, type Topics, type TopicsOptions, type Worker,
} from './types.ts';

/** Long enough to cover a relay restart; the log's unique (topic, msg_id) covers the rest. */
const DUPLICATE_WINDOW_MS = 10 * 60_000;
const RELAY_BATCH = 500;

export class NatsTopics implements Topics {
  readonly backend = 'nats' as const;
  readonly relay: Worker;
  private readonly consumers = new Set<Consumer>();
  private readonly streams = new Set<string>();

  private constructor(
    private readonly sql: Sql,
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly onError: (err: unknown) => void,
    private readonly opts: TopicsOptions,
  ) {
    this.relay = new PollLoop(() => this.relayOnce(), { idleMs: 200, onError });
    this.duplicates = new Counter({
      name: 'payout_topics_relay_duplicates_total',
      help: 'outbox messages JetStream already had (a resend after a crash between its ack and the outbox delete; anything else is a bug)',
      registers: opts.registry ? [opts.registry] : [],
    });
  }

  private readonly duplicates: Counter;

  static async open(sql: Sql, natsUrl: string, onError: (err: unknown) => void = () => {}, opts: TopicsOptions = {}): Promise<NatsTopics> {
    const nc = await connect({ servers: natsUrl, name: 'payout' });
    return new NatsTopics(sql, nc, jetstream(nc), await jetstreamManager(nc), onError, opts);
  }

  publish(tx: Tx, msg: OutgoingMessage): Promise<boolean> {
    return store.insertMessageWithOutbox(tx, msg);
  }

  async subscribe(opts: SubscribeOptions): Promise<Consumer> {
    const durable = durableFor(opts.group);
    for (const topic of opts.topics) {
      await this.ensureStream(topic);
      await this.ensureConsumer(streamFor(topic), durable, opts.ackTimeoutMs ?? 60_000);
    }
    const consumer = new PollLoop(() => this.consumeOnce(opts, durable), { idleMs: opts.idleMs ?? 500, onError: this.onError });
    this.consumers.add(consumer);
    return consumer;
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
    await this.relay.stop();
    if (!this.nc.isClosed()) await this.nc.close();
  }

  /** Closes the connection abruptly (no drain): what a crashed process looks like to the server. */
  async kill(): Promise<void> {
    await this.nc.close();
  }

  /** Stream names of topics this instance created or checked (tests delete them). */
  knownStreams(): string[] {
    return [...this.streams];
  }

  /**
   * Limits retention (not interest): a group that subscribes later must still find messages
   * published before it existed. Adding an existing stream with the same config is a no-op.
   */
  private async ensureStream(topic: string): Promise<void> {
    const name = streamFor(topic);
    if (this.streams.has(name)) return;
    try {
      await this.jsm.streams.add({
        name, subjects: [subjectFor(topic)], retention: RetentionPolicy.Limits, storage: StorageType.File,
        duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      });
    } catch (err) {
      await this.jsm.streams.info(name).catch(() => { throw err; }); // exists with other settings: use it
    }
    this.streams.add(name);
  }

  /** deliver_policy all: a new group starts at the beginning of the stream, like the Postgres backfill. */
  private async ensureConsumer(stream: string, durable: string, ackWaitMs: number): Promise<void> {
    try {
      await this.jsm.consumers.add(stream, {
        durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(ackWaitMs), max_deliver: -1,
      });
    } catch (err) {
      await this.jsm.consumers.info(stream, durable).catch(() => { throw err; }); // 2.9 cannot update in place
    }
  }

  /**
   * Publishes the oldest outbox rows pipelined (one connection keeps them in order), then deletes
   * the rows acknowledged before the first failure; the rest stay for the next round. The relay
   * lock keeps a single relay active, so the stream order is the log order.
   */
  private async relayOnce(): Promise<number> {
    let failure: unknown;
    const sent = await this.sql.begin(async (tx) => {
      if (!(await store.tryRelayLock(tx))) return 0;
      const rows = await store.selectOutbox(tx, RELAY_BATCH);
      for (const topic of new Set(rows.map((r) => r.topic))) await this.ensureStream(topic);
      const results = await Promise.allSettled(rows.map((r) => {
        const h = headers();
        h.set(HDR.topic, r.topic);
        h.set(HDR.key, r.key);
        h.set(HDR.msgId, r.msg_id);
        return this.js.publish(subjectFor(r.topic), JSON.stringify(r.payload), { msgID: natsMsgId(r.deployment_id, r.topic, r.msg_id), headers: h });
      }));
      for (const [i, r] of results.entries()) {
        if (r.status !== 'fulfilled' || !r.value.duplicate) continue;
        this.duplicates.inc();
        this.opts.log?.warn({ topic: rows[i]!.topic, msgId: rows[i]!.msg_id, seq: r.value.seq },
          'relay: JetStream already had this message (expected only when resending after a crash)');
      }
      const firstFailed = results.findIndex((r) => r.status === 'rejected');
      const done = firstFailed === -1 ? rows.length : firstFailed;
      if (firstFailed !== -1) failure = (results[firstFailed] as PromiseRejectedResult).reason;
      if (done > 0) await store.deleteOutbox(tx, rows.slice(0, done).map((r) => r.id));
      return done;
    });
    if (failure !== undefined && sent === 0) throw failure;
    if (failure !== undefined) this.onError(failure);
    return sent;
  }

  private async consumeOnce(opts: SubscribeOptions, durable: string): Promise<number> {
    let handled = 0;
    for (const topic of opts.topics) handled += await this.consumeTopic(opts, streamFor(topic), durable);
    return handled;
  }

  /**
   * Handles a batch key by key: each key's messages in stream order, and a failed key naks its
   * later messages of the batch unhandled. Different keys run `concurrency` at a time.
   */
  private async consumeTopic(opts: SubscribeOptions, stream: string, durable: string): Promise<number> {
    const retry = opts.retry ?? DEFAULT_RETRY;
    const batch = await pullNoWait(this.nc, stream, durable, opts.batchSize ?? 50);
    const byKey = new Map<string, typeof batch>();
    for (const m of batch) {
      const key = m.headers?.get(HDR.key) ?? '';
      byKey.set(key, [...(byKey.get(key) ?? []), m]);
    }
    await mapLimit([...byKey.entries()], opts.concurrency ?? 1, async ([key, msgs]) => {
      let failedDelay: number | undefined;
      for (const m of msgs) {
        const { delivered, publishedAt } = deliveryInfo(m.reply!);
        if (failedDelay !== undefined) {
          nak(this.nc, m, failedDelay);
          continue;
        }
        try {
          await opts.handler({
            topic: m.headers?.get(HDR.topic) ?? '', key, msgId: m.headers?.get(HDR.msgId) ?? '',
            payload: m.json(), redelivered: delivered > 1, publishedAt,
          });
        } catch (err) {
          this.onError(err);
          failedDelay = retryDelayMs(retry, delivered);
          nak(this.nc, m, failedDelay);
          continue;
        }
        await ack(this.nc, m);
      }
    });
    return batch.length;
  }
}
