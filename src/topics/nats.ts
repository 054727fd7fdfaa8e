// NATS JetStream backend. Publishing stays transactional: `publish` writes the message and an
// outbox row in the caller's transaction; the relay moves committed rows to JetStream and deletes
// them only after the server's publish ack. A crash between ack and delete resends with the same
// Nats-Msg-Id, which the stream's duplicate window drops. Consumers are durable pull consumers
// named by group (replicas of a group share one), with explicit acks after the handler.
//
// Other systems publish too: a message needs nothing but its subject and its JSON body. The
// topic is the one whose subject it came on, the key comes from `keyOf(payload)` and the id from
// the broker when payout's own headers (which its relay writes) are absent.
//
// Per-key order: JetStream on 2.9 has no keyed partitions for competing pull clients, so the order
// of one key is kept by one consumer (messages are handled in stream order, and a failure holds
// back the rest of its key in that batch), but two replicas may handle two messages of one key at
// the same time, and a redelivery comes after later messages. Handlers must not rest on order:
// the receiver's decisions give the same end state in any order (src/domain/status-machine.ts).
//
// The connection reconnects forever, with backoff, logging each change of state; should it close
// for good anyway, `onClosed` is told, and the processes exit so that their supervisor restarts
// them (a live process that neither relays nor consumes would be worse than a dead one).
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, headers, nanos, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { Counter } from 'prom-client';
import type { Sql, Tx } from '../db/connect.ts';
import type { Logger } from '../log.ts';
import { decodeBody } from './codec.ts';
import { mapLimit } from '../worker/concurrency.ts';
import { PollLoop } from '../worker/loop.ts';
import * as store from './store.ts';
import { HDR, ackAll, deliveryInfo, durableFor, nak, natsMsgId, pullNoWait, streamFor, subjectFor } from './nats-wire.ts';
import {
  DEFAULT_RETRY, retryDelayMs, type BatchHandler, type Consumer, type DeliveredMessage, type OutgoingMessage, type SubscribeOptions, type Topics, type TopicsOptions, type Worker,
} from './types.ts';

export interface NatsOptions extends TopicsOptions {
  /** One server or a comma-separated list (any nodes of a cluster; the client learns the rest). */
  url: string;
  /** Replicas of each stream (1 for a single server; 3 on a three-node cluster). */
  replicas?: number;
  /** How long a stream keeps a message (PAYOUT_TOPIC_RETENTION); unset: forever. */
  maxAgeMs?: number;
  onError?: (err: unknown) => void;
}

/** Reconnect backoff: 250 ms doubling to 5 s, plus up to 20 % jitter; reset by a reconnect. */
export function reconnectDelayMs(attempt: number, random = Math.random): number {
  const base = Math.min(5000, 250 * 2 ** Math.min(attempt, 10));
  return Math.round(base * (1 + 0.2 * random()));
}

/** Long enough to cover a relay restart; the log's unique (topic, msg_id) covers the rest. */
const DUPLICATE_WINDOW_MS = 10 * 60_000;
const RELAY_BATCH = 500;

export class NatsTopics implements Topics {
  readonly backend = 'nats' as const;
  readonly relay: Worker;
  private readonly consumers = new Set<Consumer>();
  private readonly streams = new Set<string>();
  private closing = false;
  private readonly onError: (err: unknown) => void;
  private readonly replicas: number;

  private constructor(
    private readonly sql: Sql,
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly opts: NatsOptions,
  ) {
    this.onError = opts.onError ?? (() => {});
    this.replicas = opts.replicas ?? 1;
    this.relay = new PollLoop(() => this.relayOnce(), { idleMs: 200, onError: this.onError });
    this.duplicates = new Counter({
      name: 'payout_topics_relay_duplicates_total',
      help: 'outbox messages JetStream already had (a resend after a crash between its ack and the outbox delete; anything else is a bug)',
      registers: opts.registry ? [opts.registry] : [],
    });
    void nc.closed().then((err) => {
      if (this.closing) return;
      opts.log?.error({ err }, 'nats: connection closed for good');
      opts.onClosed?.(err ?? undefined);
    });
  }

  private readonly duplicates: Counter;

  static async open(sql: Sql, opts: NatsOptions): Promise<NatsTopics> {
    let attempt = 0;
    const servers = opts.url.split(',').map((s) => s.trim()).filter(Boolean);
    const nc = await connect({
      servers, name: 'payout',
      // Forever, from the first connect on: a broker that is down or restarting is waited for.
      maxReconnectAttempts: -1, waitOnFirstConnect: true,
      reconnectDelayHandler: () => reconnectDelayMs(attempt++),
      pingInterval: 10_000, maxPingOut: 3,
      // Without it the client builds two Error objects (stack traces) for every request it makes,
      // and every acknowledgement is one: a fifth of oebs-gate's CPU on NATS. Errors still carry
      // their message and subject; only the caller's stack is gone.
      noAsyncTraces: true,
    });
    opts.log?.info({ server: nc.getServer() }, 'nats: connected');
    void (async () => {
      for await (const st of nc.status()) {
        if (st.type === 'reconnect') attempt = 0;
        if (st.type === 'disconnect' || st.type === 'reconnect') opts.log?.warn({ server: st.server }, `nats: ${st.type === 'disconnect' ? 'disconnected' : 'reconnected'}`);
        else if (st.type === 'reconnecting' && attempt <= 1) opts.log?.warn('nats: reconnecting');
        else if (st.type === 'error') opts.log?.error({ err: st.error }, 'nats: server error');
        else if (st.type === 'update') opts.log?.info({ added: st.added, deleted: st.deleted }, 'nats: cluster changed');
      }
    })();
    return new NatsTopics(sql, nc, jetstream(nc), await jetstreamManager(nc), opts);
  }

  publish(tx: Tx, msg: OutgoingMessage): Promise<boolean> {
    return store.insertMessageWithOutbox(tx, msg);
  }

  async publishMany(tx: Tx, msgs: readonly OutgoingMessage[]): Promise<number> {
    return (await store.insertMessages(tx, msgs, 'outbox')).length;
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
    this.closing = true;
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
   * published before it existed; max_age (PAYOUT_TOPIC_RETENTION) bounds how long they stay. Adding an existing stream with the same config is a no-op.
   */
  private async ensureStream(topic: string): Promise<void> {
    const name = streamFor(topic);
    if (this.streams.has(name)) return;
    // JetStream refuses a max_age shorter than the duplicate window.
    const maxAge = this.opts.maxAgeMs ? nanos(Math.max(this.opts.maxAgeMs, DUPLICATE_WINDOW_MS)) : 0;
    try {
      await this.jsm.streams.add({
        name, subjects: [subjectFor(topic)], retention: RetentionPolicy.Limits, storage: StorageType.File,
        duplicate_window: nanos(DUPLICATE_WINDOW_MS), num_replicas: this.replicas, ...(maxAge ? { max_age: maxAge } : {}),
      });
    } catch (err) {
      const info = await this.jsm.streams.info(name).catch(() => { throw err; }); // exists with other settings: use it
      // Retention is ours to set on a stream made before it was configured (replicas are not: see README).
      if (maxAge && info.config.max_age !== maxAge) {
        await this.jsm.streams.update(name, { ...info.config, max_age: maxAge }).catch((e) => this.onError(e));
      }
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
        return this.js.publish(subjectFor(r.topic), r.body, { msgID: natsMsgId(r.deployment_id, r.topic, r.msg_id), headers: h });
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
    for (const topic of opts.topics) handled += await this.consumeTopic(opts, topic, durable);
    return handled;
  }

  /**
   * Handles a batch key by key: each key's messages in stream order, and a failed key naks its
   * later messages of the batch unhandled. Different keys run `concurrency` at a time.
   */
  private async consumeTopic(opts: SubscribeOptions, topic: string, durable: string): Promise<number> {
    const retry = opts.retry ?? DEFAULT_RETRY;
    const batch = (await pullNoWait(this.nc, streamFor(topic), durable, opts.batchSize ?? 50)).map((m) => this.delivered(opts, topic, m));
    const byKey = new Map<string, typeof batch>();
    for (const d of batch) byKey.set(d.msg.key, [...(byKey.get(d.msg.key) ?? []), d]);
    if (opts.handlerBatch) {
      await this.consumeWaves(opts.handlerBatch, [...byKey.values()], retry);
      return batch.length;
    }
    await mapLimit([...byKey.values()], opts.concurrency ?? 1, async (msgs) => {
      let failedDelay: number | undefined;
      for (const { m, msg, delivered } of msgs) {
        if (failedDelay !== undefined) {
          nak(this.nc, m, failedDelay);
          continue;
        }
        try {
          await opts.handler(msg);
        } catch (err) {
          this.onError(err);
          failedDelay = retryDelayMs(retry, delivered);
          nak(this.nc, m, failedDelay);
          continue;
        }
        // At once, each: a message held back until a slow one of another key finished would pass
        // its ack wait and be handled again by another replica.
        await ackAll(this.nc, [m]);
      }
    });
    return batch.length;
  }

  /**
   * A batch handler gets the pulled messages in waves: the first message of every key, then the
   * second of every key whose first succeeded, and so on, so a key's messages stay in stream order
   * and a failed one naks its key's later messages unhandled.
   */
  private async consumeWaves(handler: BatchHandler, keys: ReturnType<NatsTopics['delivered']>[][], retry: { baseMs: number; maxMs: number }): Promise<void> {
    let live = keys.filter((k) => k.length > 0);
    for (let wave = 0; live.length; wave++) {
      const now = live.map((k) => k[wave]!);
      let results: unknown[];
      try {
        results = await handler(now.map((d) => d.msg));
      } catch (err) {
        results = now.map(() => err);
      }
      const next: typeof live = [];
      const acked: Msg[] = [];
      for (const [i, d] of now.entries()) {
        if (results[i] === undefined) {
          acked.push(d.m);
          if (live[i]!.length > wave + 1) next.push(live[i]!);
          continue;
        }
        this.onError(results[i]);
        const delay = retryDelayMs(retry, d.delivered);
        for (const later of live[i]!.slice(wave)) nak(this.nc, later.m, delay);
      }
      // The wave's acks travel together; a lost one only means a redelivery, which the handler
      // answers as the repeat it is.
      await ackAll(this.nc, acked);
      live = next;
    }
  }

  /**
   * What a handler sees. Payout's relay sets key and id headers; another system's message has
   * only its subject and body: the key then comes from `keyOf(payload)`, the id from its
   * Nats-Msg-Id or else from its place in the stream (sequence and timestamp, stable across
   * redeliveries and unique even if the stream is re-created).
   */
  private delivered(opts: SubscribeOptions, topic: string, m: Msg): { m: Msg; msg: DeliveredMessage; delivered: number } {
    const { delivered, streamSeq, publishedAt } = deliveryInfo(m.reply!);
    const { body, payload } = decodeBody(m.string());
    const key = m.headers?.get(HDR.key) || opts.keyOf?.(topic, payload) || '';
    const msgId = m.headers?.get(HDR.msgId) || m.headers?.get('Nats-Msg-Id') || `nats/${streamSeq}/${publishedAt?.getTime() ?? 0}`;
    return { m, delivered, msg: { topic, key, msgId, body, payload, redelivered: delivered > 1, publishedAt } };
  }
}
