// `payout tasks`: the periodic jobs (integrity and reconciliation, stuck payouts, housekeeping),
// every PAYOUT_TASKS_INTERVAL. Run as many replicas as you like: each job runs under its own
// advisory lock, so one replica at a time does it (src/tasks/runner.ts).
import { createAccountsClient, type AccountsClient } from '../accounts/client.ts';
import type { Config } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import type { Sql } from '../db/connect.ts';
import { migrate } from '../db/migrate.ts';
import type { Logger } from '../log.ts';
import { onShutdown } from '../process.ts';
import { PollLoop } from '../worker/loop.ts';
import { runHousekeeping } from './housekeeping.ts';
import { runIntegrity } from './integrity.ts';
import { TASK_LOCK_KEYS, runTask } from './runner.ts';
import { parkedCounts, runStuck } from './stuck.ts';

export interface TaskDeps {
  config: Readonly<Config>;
  sql: Sql;
  accounts: AccountsClient;
  log: Logger;
}

/** One round of every job (each skipped if another replica holds it). Tests call this. */
export async function runTasksOnce(d: TaskDeps): Promise<void> {
  const integrity = await runTask(d.sql, { name: 'integrity', lockKey: TASK_LOCK_KEYS.integrity, run: ({ since }) => runIntegrity({ ...d, readTimeoutMs: d.config.accounts.timeoutMs }, since) });
  if (integrity?.findings.length) {
    // Reported (GET /reconciliation, the gauge) once the next run finds them again.
    d.log.warn({ findings: integrity.findings.slice(0, 20), count: integrity.findings.length }, 'integrity: the ledger and the payouts disagree');
  } else if (integrity) d.log.debug({ accounts: integrity.accounts, payments: integrity.payments, checks: integrity.checks, deferred: integrity.deferred }, 'integrity: all agree');
  const stuck = await runTask(d.sql, { name: 'stuck', lockKey: TASK_LOCK_KEYS.stuck, run: () => runStuck(d.sql, d.config) });
  for (const s of stuck ?? []) d.log.warn(s, `stuck: ${s.stuck} payouts ${s.status} for longer than PAYOUT_STUCK_AFTER allows`);
  const parked = stuck && (await parkedCounts(d.sql));
  if (parked && (parked.payout || parked.request)) d.log.warn(parked, 'parked: payouts and requests the gates gave up on wait for POST .../retry');
  const kept = await runTask(d.sql, { name: 'housekeeping', lockKey: TASK_LOCK_KEYS.housekeeping, run: ({ startedAt }) => runHousekeeping(d.sql, d.config, startedAt) });
  if (kept && (kept.messages || kept.requests)) d.log.info(kept, 'housekeeping: deleted old rows');
}

export async function runTasks(config: Readonly<Config>, log: Logger) {
  const db = await openDatabase(config, log, 'payout-tasks');
  await migrate(db.sql);
  const deps: TaskDeps = { config, sql: db.sql, accounts: createAccountsClient({ url: config.accounts.url, timeoutMs: config.accounts.timeoutMs }), log };
  const loop = new PollLoop(async () => {
    await runTasksOnce(deps);
    return 0;
  }, { idleMs: config.tasks.intervalMs, maxBackoffMs: config.tasks.intervalMs * 4, onError: (err) => log.error({ err }, 'tasks run failed') });
  loop.start();
  log.info({ intervalMs: config.tasks.intervalMs, stuckAfterMs: config.tasks.stuckAfterMs }, 'tasks running');
  onShutdown(log, async () => {
    await loop.stop();
    await db.close();
  });
}
