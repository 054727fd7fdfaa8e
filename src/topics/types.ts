// The topics interface: small on purpose, so the Postgres and NATS backends stay interchangeable
// and domain code only ever sees `publish` (inside its own transaction) and `subscribe`.
import type { Tx } from '../db/connect.ts';

export type Payload = Record<string, unknown>;

export interface OutgoingMessage {
  /** Topic path, from `topicsFor`. */
  topic: string;
  /** Ordering key: messages of one key (within a topic) are handled in publish order. */
  key: string;
  /** Idempotency id, fixed before the first attempt: a repeat publish of (topic, msgId) is a no-op. */
  msgId: string;
  /**
   * JSON object. A number that must be exact (an amount, an int64 id) is a `JsonNumber`: it is
   * written as its literal text; money in payout's own messages is a decimal string.
   */
  payload: Payload;
}

export interface DeliveredMessage {
  /** Topic path (NATS: the subscribed topic whose subject the message came on). */
  topic: string;
  /** Ordering key: from the publisher (Postgres; payout's NATS header), else `keyOf` of the payload. */
  key: string;
  /** Message id: the publisher's, else one the broker fixed (stable across redeliveries). */
  msgId: string;
  /** The body exactly as it was published. */
  body: string;
  /** The body parsed exactly (numbers are `JsonNumber`s); undefined when the body is not JSON. */
  payload: unknown;
  /** True when an earlier delivery of this message is known to have failed or timed out. */
  redelivered?: boolean;
  /** When the message was published (Postgres: its log row; NATS: the stream's timestamp), if known. */
  publishedAt?: Date;
}

/** Does its own transaction; the message is acknowledged only after it resolves. Must be idempotent. */
export type Handler = (msg: DeliveredMessage) => Promise<void>;

/**
 * Handles a round's messages together (at most one per key, in publish order within a topic;
 * Postgres: across topics too). Per message, in order: undefined = done (acknowledged), anything
 * else = the failure (redelivered with backoff, holding back its key). A throw fails them all.
 */
export type BatchHandler = (msgs: DeliveredMessage[]) => Promise<unknown[]>;

export interface SubscribeOptions {
  /** Durable consumer group: replicas with one group share the work; each group sees every message. */
  group: string;
  topics: string[];
  handler: Handler;
  /** When given, used instead of `handler`: a round's messages in one call (see BatchHandler). */
  handlerBatch?: BatchHandler;
  /** Messages claimed per round (default 50). */
  batchSize?: number;
  /**
   * How long a claimed message may go unacknowledged before another replica may take it
   * (default 60 s). NATS: the consumer's ack_wait. Postgres: the claim transaction's
   * idle_in_transaction_session_timeout, i.e. the longest one handler may run.
   */
  ackTimeoutMs?: number;
  /** Redelivery backoff after a handler failure: base · 2^(attempt-1), capped (default 1 s … 5 min). */
  retry?: { baseMs: number; maxMs: number };
  /** Sleep of the `start()` loop when a round found nothing (default 500 ms). */
  idleMs?: number;
  /**
   * Handlers of different keys run at once, up to this many (default 1); each key's messages stay
   * in order (Postgres: a round holds at most one message per key; NATS: a key's messages of a
   * batch are handled one after another).
   */
  concurrency?: number;
  /**
   * NATS: the ordering key of a message another system published without payout's headers (a
   * plain JSON body on the topic's subject), from its parsed payload. Default: every such
   * message of a topic shares one key.
   */
  keyOf?: (topic: string, payload: unknown) => string;
}

import type { Worker } from '../worker/loop.ts';
export type { Worker };

export type Consumer = Worker;

export interface Topics {
  readonly backend: 'postgres' | 'nats';
  /** Writes the message in the caller's open transaction. Returns false for a repeat (topic, msgId). */
  publish(tx: Tx, msg: OutgoingMessage): Promise<boolean>;
  /** Many messages in the caller's open transaction, in order, in one statement; how many were new. */
  publishMany(tx: Tx, msgs: readonly OutgoingMessage[]): Promise<number>;
  /** Registers the group (durably) on the topics and returns its consumer; call `start()` to poll. */
  subscribe(opts: SubscribeOptions): Promise<Consumer>;
  /** Moves committed messages to the wire (NATS); a no-op worker for Postgres, where the table is the topic. */
  readonly relay: Worker;
  /** Stops workers started from this instance and closes connections it opened (not `sql`). */
  close(): Promise<void>;
}

/** What a backend may report through: metrics, and a log for what is worth a line. */
export interface TopicsOptions {
  /** Where the backend's metrics go (NATS: duplicate acks of the relay). */
  registry?: import('prom-client').Registry;
  log?: import('../log.ts').Logger;
  /** The NATS connection closed for good (not by `close()`): the process should exit non-zero. */
  onClosed?: (err: Error | undefined) => void;
}

export const DEFAULT_RETRY = { baseMs: 1000, maxMs: 5 * 60_000 };

/** Redelivery delay before attempt number `attempt + 1`, after `attempt` failures. */
export function retryDelayMs(retry: { baseMs: number; maxMs: number }, attempt: number): number {
  return Math.min(retry.maxMs, retry.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
}
