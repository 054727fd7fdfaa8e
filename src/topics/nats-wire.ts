// JetStream details the NATS backend needs, kept apart from its logic. Checked against the
// Debian nats-server 2.9.10 with @nats-io/jetstream 3.4.0.
import { createHash } from 'node:crypto';
import { createInbox, type Msg, type NatsConnection } from '@nats-io/transport-node';

/** `/billing-payout/dev/oebs/new-payout` → `billing-payout.dev.oebs.new-payout` (subjects cannot hold `/`). */
export function subjectFor(topic: string): string {
  return topic.replace(/^\/+/, '').split('/').join('.');
}

/**
 * One stream per topic. Stream names cannot hold `.` or `/`; `_` joins the segments, and a short
 * hash of the exact path keeps `/a_b/c` and `/a/b_c` apart.
 */
export function streamFor(topic: string): string {
  const hash = createHash('sha1').update(topic).digest('hex').slice(0, 8);
  return `${topic.replace(/^\/+/, '').split('/').join('_')}_${hash}`;
}

/** Durable consumer names cannot hold `.`, `*`, `>` or spaces. */
export function durableFor(group: string): string {
  return group.replace(/[^A-Za-z0-9_-]/g, '_');
}

/**
 * Stable across relay restarts, so the server's duplicate window drops a resend; and unique across
 * deployments (ids restart in a fresh database, a second deployment may share the NATS server),
 * so no other database's message is ever taken for a resend of this one.
 */
export function natsMsgId(deploymentId: string, topic: string, msgId: string): string {
  // '' : a message published before deployment ids keeps the id it may already have been sent under.
  return deploymentId ? `${deploymentId}:${topic}#${msgId}` : `${topic}#${msgId}`;
}

export const HDR = { topic: 'Payout-Topic', key: 'Payout-Key', msgId: 'Payout-Msg-Id' } as const;

/**
 * Fetches what is available now, without waiting. The client's `fetch()` insists on
 * `expires >= 1 s` and then waits out that second whenever fewer than `batch` messages are
 * ready, so a `runOnce()` would always cost a second; a raw pull request with `no_wait` ends
 * with a status message (404 No Messages / 408) as soon as the backlog is exhausted.
 */
export async function pullNoWait(nc: NatsConnection, stream: string, durable: string, batch: number, timeoutMs = 5000): Promise<Msg[]> {
  const inbox = createInbox();
  const sub = nc.subscribe(inbox, { max: batch + 1, timeout: timeoutMs });
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`, JSON.stringify({ batch, no_wait: true }), { reply: inbox });
  const out: Msg[] = [];
  try {
    for await (const m of sub) {
      if (!m.reply) break; // a status message: nothing more right now
      out.push(m);
      if (out.length >= batch) break;
    }
  } catch (err) {
    // The subscription timeout only fires when nothing at all arrived; treat as "nothing".
    if (out.length === 0 && !String(err).toLowerCase().includes('timeout')) throw err;
  } finally {
    sub.unsubscribe();
  }
  return out;
}

/**
 * Delivery count, stream sequence and the stream's timestamp (ns since the epoch) from the reply
 * subject `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>…` (v1) or with domain and
 * account hash (v2).
 */
export function deliveryInfo(reply: string): { delivered: number; streamSeq: number; publishedAt: Date | undefined } {
  const t = reply.split('.');
  const at = t.length >= 12 ? 6 : 4;
  const ns = t[at + 3];
  const publishedAt = ns && /^\d+$/.test(ns) ? new Date(Number(BigInt(ns) / 1_000_000n)) : undefined;
  return { delivered: Number(t[at]), streamSeq: Number(t[at + 1]), publishedAt };
}

/**
 * Acknowledges messages of one consumer and waits for the server's answer (a lost ack would mean a
 * needless redelivery). Only the last ack asks for one: a consumer's leader applies its acks one
 * by one in the order they arrive, and one connection delivers them in the order sent, so the
 * answer to the last one means the ones before it were applied too. (Should the consumer's leader
 * change in between, an ack may be lost, asked-for or not: its message comes back after the ack
 * wait, and handlers take a repeat as the repeat it is.) One round trip for the lot: a request per
 * ack cost the client a timer, an inbox entry and an Error object with a stack trace (built on
 * every successful request, in @nats-io/nats-core 3.4), and the server a reply per message.
 */
export async function ackAll(nc: NatsConnection, ms: readonly Msg[]): Promise<void> {
  const last = ms.at(-1);
  if (!last) return;
  for (const m of ms.slice(0, -1)) nc.publish(m.reply!, '+ACK');
  await nc.request(last.reply!, '+ACK', { timeout: 5000 });
}

/** Negative ack: redeliver after `delayMs` (the delay form works on 2.9). */
export function nak(nc: NatsConnection, m: Msg, delayMs: number): void {
  nc.publish(m.reply!, `-NAK ${JSON.stringify({ delay: delayMs * 1_000_000 })}`);
}
