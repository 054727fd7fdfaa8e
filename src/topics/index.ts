// Picks the topics backend from configuration. Components depend on the `Topics` interface only.
import type { Config } from '../config.ts';
import type { Sql } from '../db/connect.ts';
import { NatsTopics } from './nats.ts';
import { PostgresTopics } from './postgres.ts';
import * as store from './store.ts';
import type { Topics, TopicsOptions } from './types.ts';

/**
 * `opts.onClosed`: the NATS connection closed for good (it reconnects forever otherwise); a
 * process should exit non-zero then, so its supervisor restarts it.
 */
export async function createTopics(config: Pick<Config, 'topics'> & { tasks?: Pick<Config['tasks'], 'topicRetentionMs'> }, sql: Sql, onError?: (err: unknown) => void, opts: TopicsOptions = {}): Promise<Topics> {
  return config.topics.backend === 'nats'
    ? NatsTopics.open(sql, { url: config.topics.natsUrl, replicas: config.topics.natsReplicas, maxAgeMs: config.tasks?.topicRetentionMs, onError, ...opts })
    : new PostgresTopics(sql, onError);
}

/**
 * Publishing only, with no connection of its own (a process that neither consumes nor relays,
 * such as the api replaying oebs-errors): Postgres writes the message and its deliveries; NATS
 * queues it in the outbox, and oebs-gate's relay sends it.
 */
export function createPublisher(config: Pick<Config, 'topics'>, sql: Sql): Pick<Topics, 'publish' | 'publishMany'> {
  if (config.topics.backend === 'postgres') return new PostgresTopics(sql);
  return {
    publish: (tx, msg) => store.insertMessageWithOutbox(tx, msg),
    publishMany: async (tx, msgs) => (await store.insertMessages(tx, msgs, 'outbox')).length,
  };
}

export { allStatusTopics, noticesTopic, topicsFor, TOPIC_NAMES, type TopicSet } from './paths.ts';
export type * from './types.ts';
