// Housekeeping: deletes topic messages every group has consumed (and the relay has relayed)
// older than PAYOUT_TOPIC_RETENTION, and finished requests that made no payout older than
// PAYOUT_REQUEST_RETENTION. Small batches, each its own statement with SKIP LOCKED: a gate never
// waits on a delete, and a delete never waits on a gate. A run stops after MAX_BATCHES per table;
// the next run goes on.
import type { Config } from '../config.ts';
import type { Sql } from '../db/connect.ts';
import { deleteConsumedMessages, deleteFinishedRequests } from '../store/tasks.ts';

export const HOUSEKEEPING_BATCH = 500;
const MAX_BATCHES = 200;

async function drain(step: () => Promise<number>): Promise<number> {
  let total = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const n = await step();
    total += n;
    if (n < HOUSEKEEPING_BATCH) break;
  }
  return total;
}

export async function runHousekeeping(sql: Sql, config: Pick<Config, 'tasks'>, now: Date): Promise<{ messages: number; requests: number }> {
  const messagesBefore = new Date(now.getTime() - config.tasks.topicRetentionMs);
  const requestsBefore = new Date(now.getTime() - config.tasks.requestRetentionMs);
  const messages = await drain(() => deleteConsumedMessages(sql, messagesBefore, HOUSEKEEPING_BATCH));
  const requests = await drain(() => deleteFinishedRequests(sql, requestsBefore, HOUSEKEEPING_BATCH));
  return { messages, requests };
}
