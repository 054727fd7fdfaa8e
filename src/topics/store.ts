// All SQL of the topic tables (migration 002_topics.sql). One function per statement.
import type { Db, Tx } from '../db/connect.ts';
import { encodePayload } from './codec.ts';
import type { OutgoingMessage } from './types.ts';

// Advisory lock space of topics: (TOPIC_LOCK, hashtext(topic)) per topic, (TOPIC_LOCK, 0) for the relay.
// A hash collision between two topics only serialises a little more; it is never wrong.
const TOPIC_LOCK = 7_260_002;
const RELAY_LOCK = 0;

/**
 * Why publish and subscribe share a per-topic advisory lock: a group must get every message
 * published before it first subscribed (backfill from the log) and every message after (fan-out
 * at publish). Without a lock, a publisher whose fan-out ran before the subscription committed,
 * but which itself committed after the backfill's snapshot, would be missed by both. Publishers
 * take the lock shared (they never wait for each other); a first-time subscriber takes it
 * exclusive, so it waits for in-flight publishers to commit and new ones wait for its commit.
 * Transaction-scoped: released on commit, rollback or a dead connection. The exclusive lock is
 * taken only the first time a group meets a topic; a publisher touching two topics while two new
 * groups subscribe to them can, rarely, deadlock, and Postgres aborts one side with 40P01, which
 * callers retry like any serialisation failure.
 */
export async function lockTopicShared(tx: Tx, topic: string): Promise<void> {
  await tx`select pg_advisory_xact_lock_shared(${TOPIC_LOCK}, hashtext(${topic}))`;
}

export async function lockTopicExclusive(tx: Tx, topic: string): Promise<void> {
  await tx`select pg_advisory_xact_lock(${TOPIC_LOCK}, hashtext(${topic}))`;
}

/** Postgres backend: logs the message and fans it out to the subscribed groups. False on a repeat. */
export async function insertMessageWithDeliveries(tx: Tx, m: OutgoingMessage): Promise<boolean> {
  const rows = await tx`
    with msg as (
      insert into topic_message (topic, key, msg_id, payload)
      values (${m.topic}, ${m.key}, ${m.msgId}, ${encodePayload(m.payload)}::text::json)
      on conflict (topic, msg_id) do nothing
      returning id, topic, key
    ), fan as (
      insert into topic_delivery (grp, message_id, topic, key)
      select s.grp, msg.id, msg.topic, msg.key from msg join topic_subscription s on s.topic = msg.topic
    )
    select id from msg`;
  return rows.length > 0;
}

/** Shared locks of several topics at once, in a fixed order (see lockTopicShared). */
export async function lockTopicsShared(tx: Tx, topics: readonly string[]): Promise<void> {
  await tx`select pg_advisory_xact_lock_shared(${TOPIC_LOCK}, hashtext(t)) from unnest(${[...new Set(topics)].sort()}::text[]) as t order by t`;
}

/**
 * Many messages in one statement, in the order given: logged, and either fanned out to the
 * subscribed groups (Postgres backend) or queued for the relay (NATS). The ids of the ones new.
 */
export async function insertMessages(tx: Tx, ms: readonly OutgoingMessage[], then: 'deliveries' | 'outbox'): Promise<string[]> {
  if (!ms.length) return [];
  const rows = await tx<{ id: string }[]>`
    with msg as (
      insert into topic_message (topic, key, msg_id, payload, deployment_id)
      -- The deployment id once for the statement (the column default would read it once per row).
      select u.topic, u.key, u.msg_id, p.payload, (select payout_deployment_id())
      from unnest(${ms.map((m) => m.topic)}::text[], ${ms.map((m) => m.key)}::text[], ${ms.map((m) => m.msgId)}::text[])
             with ordinality as u(topic, key, msg_id, ord)
      -- The payloads as one JSON array of their texts, not a text[]: a text[] parameter escapes
      -- every quote of every payload, which cost more CPU than anything else in publishing. The
      -- json type keeps each element's text exactly as written. (Typed text first: a json-typed
      -- parameter would be sent by postgres.js as one JSON string.)
      join json_array_elements(${payloadArray(ms)}::text::json) with ordinality as p(payload, ord) using (ord)
      order by ord
      on conflict (topic, msg_id) do nothing
      returning id, topic, key
    ), fan as (
      insert into topic_delivery (grp, message_id, topic, key)
      select s.grp, msg.id, msg.topic, msg.key from msg join topic_subscription s on s.topic = msg.topic
      where ${then} = 'deliveries'
    ), queued as (
      insert into topic_outbox (message_id) select id from msg where ${then} = 'outbox'
    )
    select id from msg`;
  return rows.map((r) => r.id);
}

/** The messages' payloads as one JSON array (each payload is JSON text already: nothing to escape). */
const payloadArray = (ms: readonly OutgoingMessage[]) => `[${ms.map((m) => encodePayload(m.payload)).join(',')}]`;

/** NATS backend: logs the message and queues it for the relay. False on a repeat. */
export async function insertMessageWithOutbox(tx: Tx, m: OutgoingMessage): Promise<boolean> {
  const rows = await tx`
    with msg as (
      insert into topic_message (topic, key, msg_id, payload)
      values (${m.topic}, ${m.key}, ${m.msgId}, ${encodePayload(m.payload)}::text::json)
      on conflict (topic, msg_id) do nothing
      returning id
    ), queued as (insert into topic_outbox (message_id) select id from msg)
    select id from msg`;
  return rows.length > 0;
}

export async function subscriptionExists(db: Db, topic: string, group: string): Promise<boolean> {
  const rows = await db`select 1 from topic_subscription where topic = ${topic} and grp = ${group}`;
  return rows.length > 0;
}

/** True when this call created the subscription (so the caller backfills). */
export async function insertSubscription(tx: Tx, topic: string, group: string): Promise<boolean> {
  const rows = await tx`
    insert into topic_subscription (topic, grp) values (${topic}, ${group})
    on conflict do nothing returning grp`;
  return rows.length > 0;
}

/** Gives a new group every message already in the topic's log. */
export async function backfillDeliveries(tx: Tx, topic: string, group: string): Promise<void> {
  await tx`
    insert into topic_delivery (grp, message_id, topic, key)
    select ${group}, id, topic, key from topic_message where topic = ${topic}
    on conflict do nothing`;
}

export interface ClaimedDelivery {
  message_id: string;
  attempts: number;
  topic: string;
  key: string;
  msg_id: string;
  /** The payload's exact JSON text. */
  body: string;
  published_at: Date;
}

/**
 * Claims up to `limit` deliveries of a group, locking them until the claiming transaction ends.
 * Only the earliest unacknowledged message of each (topic, key) is a candidate: its successors
 * wait until it is acknowledged (deleted), which gives per-key order with any number of competing
 * replicas, and a failing message (pushed into the future by `delayDelivery`) holds back its own
 * key only. SKIP LOCKED lets replicas pass over each other's claims instead of queueing on them.
 */
export async function claimDeliveries(tx: Tx, group: string, topics: string[], limit: number): Promise<ClaimedDelivery[]> {
  return tx<ClaimedDelivery[]>`
    select d.message_id, d.attempts, m.topic, m.key, m.msg_id, m.payload::text as body, m.created_at as published_at
    from topic_delivery d join topic_message m on m.id = d.message_id
    where d.grp = ${group} and d.topic = any(${topics}::text[]) and d.available_at <= now()
      and not exists (
        select 1 from topic_delivery e
        where e.grp = d.grp and e.topic = d.topic and e.key = d.key and e.message_id < d.message_id)
    order by d.message_id
    limit ${limit}
    for update of d skip locked`;
}

export async function ackDeliveries(tx: Tx, group: string, messageIds: string[]): Promise<void> {
  await tx`delete from topic_delivery where grp = ${group} and message_id = any(${messageIds}::int8[])`;
}

export async function delayDelivery(tx: Tx, group: string, messageId: string, delayMs: number, error: string): Promise<void> {
  await tx`
    update topic_delivery
    set attempts = attempts + 1, available_at = now() + ${delayMs} * interval '1 millisecond', last_error = ${error}
    where grp = ${group} and message_id = ${messageId}`;
}

/**
 * The claim transaction's settings. It bounds how long a claim may sit idle (a hung handler): the
 * server then aborts it and releases the claims. And it keeps the claim's cost bounded by its
 * limit, not by the backlog: topic_delivery churns so fast that its statistics usually say "a
 * few rows", and the planner then reads every delivery of the group by (grp, topic, key) and
 * sorts them, which under a backlog of thousands costs ~100 ms a claim. Without sorting it walks
 * the primary key (grp, message_id) in order and stops at the limit.
 */
export async function setClaimSettings(tx: Tx, idleMs: number): Promise<void> {
  await tx`select set_config('idle_in_transaction_session_timeout', ${String(idleMs)}, true), set_config('enable_sort', 'off', true)`;
}

/** One relay at a time keeps the broker's order equal to the log's; others find it taken and idle. */
export async function tryRelayLock(tx: Tx): Promise<boolean> {
  const [row] = await tx<{ ok: boolean }[]>`select pg_try_advisory_xact_lock(${TOPIC_LOCK}, ${RELAY_LOCK}) as ok`;
  return row!.ok;
}

export interface OutboxRow {
  id: string;
  topic: string;
  key: string;
  msg_id: string;
  /** The payload's exact JSON text, sent as it is. */
  body: string;
  /** The deployment the message was published in: part of its Nats-Msg-Id. */
  deployment_id: string;
}

export async function selectOutbox(tx: Tx, limit: number): Promise<OutboxRow[]> {
  return tx<OutboxRow[]>`
    select m.id, m.topic, m.key, m.msg_id, m.payload::text as body, m.deployment_id
    from topic_outbox o join topic_message m on m.id = o.message_id
    order by o.message_id limit ${limit}`;
}

export async function deleteOutbox(tx: Tx, messageIds: string[]): Promise<void> {
  await tx`delete from topic_outbox where message_id = any(${messageIds}::int8[])`;
}

export interface LoggedMessage {
  id: string;
  msg_id: string;
  /** The payload's exact JSON text. */
  body: string;
  created_at: Date;
}

/**
 * A topic's log from after message `afterId`, oldest first (both backends log every message
 * payout publishes here: it is the outbox). For topics nobody consumes, such as oebs-errors.
 */
export async function readTopicLog(db: Db, topic: string, o: { afterId: string; since: Date | undefined; limit: number }): Promise<LoggedMessage[]> {
  return db<LoggedMessage[]>`
    select id, msg_id, payload::text as body, created_at from topic_message
    where topic = ${topic} and id > ${o.afterId}::int8 and (${o.since ?? null}::timestamptz is null or created_at >= ${o.since ?? null})
    order by id limit ${o.limit}`;
}
