// `payout oebs-gate`: the sender loop, the receiver's consumer and the topics relay in one process.
import { createAccountsClient } from '../accounts/client.ts';
import type { Config } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import type { Logger } from '../log.ts';
import { onShutdown } from '../process.ts';
import { createTopics, topicsFor } from '../topics/index.ts';
import { PollLoop } from '../worker/loop.ts';
import { createWorkerRegistry, serveMetrics } from '../worker/metrics.ts';
import { senderLedger } from './ledger.ts';
import { receiverLedger } from './receiver-ledger.ts';
import { Receiver } from './receiver.ts';
import { Sender } from './sender.ts';

export async function runOebsGate(config: Readonly<Config>, log: Logger) {
  const db = await openDatabase(config, log, 'payout-oebs-gate');
  await migrate(db.sql);
  const registry = createWorkerRegistry('oebs-gate');
  const accounts = createAccountsClient({ url: config.accounts.url, timeoutMs: config.accounts.timeoutMs });
  const topics = await createTopics(config, db.sql, (err) => log.warn({ err }, 'oebs-gate: topics round failed'));
  const sender = new Sender({
    config, sql: db.sql, ledger: senderLedger(accounts), publisher: topics,
    newPayoutTopic: (ns, dry) => topicsFor(config, ns, dry).newPayout, log, registry,
  });
  // A full batch means more may be waiting: go again at once; otherwise wait for the interval.
  const senderLoop = new PollLoop(async () => ((await sender.runOnce()).full ? 1 : 0), {
    idleMs: config.oebsGate.intervalMs,
    maxBackoffMs: config.oebsGate.intervalMs,
    onError: (err) => log.error({ err }, 'sender run failed'),
  });
  const receiver = await Receiver.create({ config, sql: db.sql, ledger: receiverLedger(accounts), topics, log, registry });
  // NATS: the sender's new-payout messages and the receiver's reports reach the broker through it.
  topics.relay.start();
  senderLoop.start();
  receiver.start();
  const metrics = config.metricsPort ? serveMetrics(registry, config.api.host, config.metricsPort) : undefined;
  log.info({ intervalMs: config.oebsGate.intervalMs, limit: config.oebsGate.limit, backend: topics.backend, statusTopics: receiver.topics() }, 'oebs-gate running');
  onShutdown(log, async () => {
    await senderLoop.stop();
    await receiver.stop();
    await topics.close();
    metrics?.close();
    await db.close();
  });
}
