// Transactions with a bounded retry of the two failures Postgres asks the client to retry: a
// serialization failure (repeatable-read reads that raced a writer) and a deadlock. The lock
// order (accounts created in key order, row-locked in id order) should make deadlocks impossible;
// the retry is the belt to those braces, so a surprise costs a few milliseconds, not a 500.
import type { Sql, Tx } from '../../db/connect.ts';

const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 8;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function inTx<T>(sql: Sql, fn: (tx: Tx) => Promise<T>, isolation?: 'repeatable read'): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      const run = isolation ? sql.begin(`isolation level ${isolation}`, fn) : sql.begin(fn);
      return (await run) as T;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt >= MAX_ATTEMPTS || typeof code !== 'string' || !RETRYABLE_SQLSTATES.has(code)) throw err;
      // jittered, growing pause so the racers do not collide again in lockstep
      await sleep(Math.random() * 5 * attempt);
    }
  }
}
