import { createAccountsClient } from '../accounts/client.ts';
import type { Config } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import type { Logger } from '../log.ts';
import { onShutdown } from '../process.ts';
import { PollLoop } from '../worker/loop.ts';
import { createWorkerRegistry, serveMetrics } from '../worker/metrics.ts';
import { payoutAccountsSource } from './accounts-source.ts';
import { ReqGate } from './gate.ts';

export async function runReqGate(config: Readonly<Config>, log: Logger) {
  const db = await openDatabase(config, log, 'payout-req-gate');
  await migrate(db.sql);
  const registry = createWorkerRegistry('req-gate');
  const accounts = createAccountsClient({ url: config.accounts.url, timeoutMs: config.accounts.timeoutMs });
  const gate = new ReqGate({ config, sql: db.sql, accounts: payoutAccountsSource(accounts), log, registry });
  // A full batch means more may be waiting: go again at once; otherwise wait for the interval.
  const loop = new PollLoop(async () => ((await gate.runOnce()).full ? 1 : 0), {
    idleMs: config.reqGate.intervalMs,
    maxBackoffMs: config.reqGate.intervalMs,
    onError: (err) => log.error({ err }, 'req-gate run failed'),
  });
  loop.start();
  const metrics = config.metricsPort ? serveMetrics(registry, config.api.host, config.metricsPort, config.metricsToken) : undefined;
  log.info({ intervalMs: config.reqGate.intervalMs, limit: config.reqGate.limit, accounts: config.accounts.url }, 'req-gate running');
  onShutdown(log, async () => {
    await loop.stop();
    metrics?.close();
    await db.close();
  });
}
