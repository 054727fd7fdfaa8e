// Postgres backend: a topic is rows in topic_message; each subscribed group has its pending
// deliveries in topic_delivery. A consumer claims deliveries in a transaction that stays open
// while the handler runs (on another connection) and acknowledges by deleting them in that same
// transaction after the handler resolved. So the row locks are the lease: if the process dies,
// its connection closes, the server rolls the claim back and another replica takes the messages
// at once, with no lease timer to tune. Cost: one connection per consumer held during a round
// (so the pool needs one more than the handlers use). `redelivered` comes from recorded handler
// failures; a redelivery after a crash is not known, since the crash rolled the claim back.
import type { Sql, Tx } from '../db/connect.ts';
import { mapLimit } from '../worker/concurrency.ts';
import { PollLoop } from '../worker/loop.ts';
import { decodeBody } from './codec.ts';
import * as store from './store.ts';
import {
  DEFAULT_RETRY, retryDelayMs, type BatchHandler, type Consumer, type DeliveredMessage, type OutgoingMessage, type SubscribeOptions, type Topics, type Worker,
} from './types.ts';

/** A round through a batch handler: one call, its per-message results sorted into acks and failures. */
async function runBatch(
  handler: BatchHandler, claimed: store.ClaimedDelivery[], delivered: (d: store.ClaimedDelivery) => DeliveredMessage, acked: string[],
): Promise<({ d: store.ClaimedDelivery; err: unknown } | undefined)[]> {
  if (!claimed.length) return [];
  let results: unknown[];
  try {
    results = await handler(claimed.map(delivered));
  } catch (err) {
    return claimed.map((d) => ({ d, err }));
  }
  return claimed.map((d, i) => {
    if (results[i] === undefined) {
      acked.push(d.message_id);
      return undefined;
    }
    return { d, err: results[i] };
  });
}

export class PostgresTopics implements Topics {
  readonly backend = 'postgres' as const;
  readonly relay: Worker = new PollLoop(async () => 0, { idleMs: 60_000 });
  private readonly consumers = new Set<Consumer>();

  constructor(
    private readonly sql: Sql,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  async publish(tx: Tx, msg: OutgoingMessage): Promise<boolean> {
    await store.lockTopicShared(tx, msg.topic);
    return store.insertMessageWithDeliveries(tx, msg);
  }

  async publishMany(tx: Tx, msgs: readonly OutgoingMessage[]): Promise<number> {
    if (!msgs.length) return 0;
    // Issued together: one connection runs them in order, so the locks are taken first.
    const [, ids] = await Promise.all([store.lockTopicsShared(tx, msgs.map((m) => m.topic)), store.insertMessages(tx, msgs, 'deliveries')]);
    return ids.length;
  }

  async subscribe(opts: SubscribeOptions): Promise<Consumer> {
    for (const topic of opts.topics) await this.ensureSubscription(topic, opts.group);
    const consumer = new PollLoop(() => this.consumeOnce(opts), { idleMs: opts.idleMs ?? 500, onError: this.onError });
    this.consumers.add(consumer);
    return consumer;
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
    await this.relay.stop();
  }

  /** Registers a group on a topic once; the first time, backfills it from the log (see store.ts). */
  private async ensureSubscription(topic: string, group: string): Promise<void> {
    if (await store.subscriptionExists(this.sql, topic, group)) return;
    await this.sql.begin(async (tx) => {
      await store.lockTopicExclusive(tx, topic);
      if (await store.insertSubscription(tx, topic, group)) await store.backfillDeliveries(tx, topic, group);
    });
  }

  /**
   * One round: claim a batch (at most one message per key), run the handler for each (in order,
   * or `concurrency` at a time: different keys),
   * then acknowledge the successes and push each failure into the future with backoff, all in
   * the claim transaction. A crash anywhere before its commit means redelivery, never loss.
   */
  private async consumeOnce(opts: SubscribeOptions): Promise<number> {
    const retry = opts.retry ?? DEFAULT_RETRY;
    return this.sql.begin(async (tx) => {
      await store.setClaimSettings(tx, opts.ackTimeoutMs ?? 60_000);
      const claimed = await store.claimDeliveries(tx, opts.group, opts.topics, opts.batchSize ?? 50);
      const acked: string[] = [];
      const delivered = (d: store.ClaimedDelivery) => ({ topic: d.topic, key: d.key, msgId: d.msg_id, ...decodeBody(d.body), redelivered: d.attempts > 0, publishedAt: d.published_at });
      const failures = opts.handlerBatch
        ? await runBatch(opts.handlerBatch, claimed, delivered, acked)
        : await mapLimit(claimed, opts.concurrency ?? 1, async (d) => {
          try {
            await opts.handler(delivered(d));
            acked.push(d.message_id);
            return undefined;
          } catch (err) {
            return { d, err };
          }
        });
      for (const f of failures) {
        if (!f) continue;
        this.onError(f.err);
        await store.delayDelivery(tx, opts.group, f.d.message_id, retryDelayMs(retry, f.d.attempts + 1), String(f.err).slice(0, 2000));
      }
      if (acked.length) await store.ackDeliveries(tx, opts.group, acked);
      return claimed.length;
    });
  }
}
