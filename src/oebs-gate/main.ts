// The oebs-gate process: the sender loop (reserve, publish), the status receiver (ARD/OEBS answers)
// and the topics relay (NATS backend), sharing one pool.
import { createAccountsClient } from '../accounts/client.ts';
import type { Config } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import type { Logger } from '../log.ts';
import { exitOnLost, onShutdown } from '../process.ts';
import { createTopics } from '../topics/index.ts';
import { topicsFor } from '../topics/paths.ts';
import { PollLoop } from '../worker/loop.ts';
import { createWorkerRegistry, serveMetrics } from '../worker/metrics.ts';
import { senderLedger } from './ledger.ts';
import { Receiver } from './receiver.ts';
import { NotYet } from './receiver-apply.ts';
import { LedgerWriter } from './ledger-writer.ts';
import { Sender } from './sender.ts';

export async function runOebsGate(config: Readonly<Config>, log: Logger) {
  const db = await openDatabase(config, log, 'payout-oebs-gate');
  await migrate(db.sql);
  const registry = createWorkerRegistry('oebs-gate');
  const accounts = createAccountsClient({ url: config.accounts.url, timeoutMs: config.accounts.timeoutMs });
  // An answer that arrived before the one it follows (OEBS before ARD NEW) waits by redelivery:
  // expected, so not an error in the log.
  const topics = await createTopics(config, db.sql, (err) =>
    err instanceof NotYet ? log.debug({ reason: err.message }, 'receiver: waiting') : log.error({ err }, 'topics'),
  { log, registry, onClosed: exitOnLost(log, 'the NATS connection') });
  const sender = new Sender({
    config, sql: db.sql, ledger: senderLedger(accounts, config.accounts.lockTimeoutS), publisher: topics,
    newPayoutTopic: (ns, dry) => topicsFor(config, ns, dry).newPayout, log, registry,
  });
  // A full batch means more may be waiting: go again at once; otherwise wait for the interval.
  const senderLoop = new PollLoop(async () => ((await sender.runOnce()).full ? 1 : 0), {
    idleMs: config.oebsGate.intervalMs,
    maxBackoffMs: config.oebsGate.intervalMs,
    onError: (err) => log.error({ err }, 'sender run failed'),
  });
  // The receiver's ledger events, committed with its decisions, reach the ledger through the
  // writer: woken by each commit that stored some, else every second at most (the ledger was
  // down, or the rows are another replica's receiver's).
  const writer = new LedgerWriter({
    sql: db.sql, client: accounts, log, registry, callTimeoutMs: config.accounts.timeoutMs,
  });
  const writerLoop = new PollLoop(async () => ((await writer.runOnce()).full ? 1 : 0), {
    idleMs: Math.min(config.oebsGate.intervalMs, 1000),
    onError: (err) => log.error({ err }, 'ledger writer run failed; its events wait in the outbox'),
  });
  // A round's answers are applied as one batch, one transaction (handleBatch);
  // PAYOUT_RECEIVER_BATCH=0 handles them one by one.
  const batch = config.receiver.batch;
  const receiver = await Receiver.create({
    config, sql: db.sql, topics, log, registry, onCommitted: () => writerLoop.wake(),
    ...(batch > 0 ? { batchSize: batch } : { batches: false }),
  });
  senderLoop.start();
  writerLoop.start();
  receiver.start();
  topics.relay.start();
  const metrics = config.metricsPort ? serveMetrics(registry, config.api.host, config.metricsPort, config.metricsToken) : undefined;
  log.info({ intervalMs: config.oebsGate.intervalMs, limit: config.oebsGate.limit, topics: config.topics.backend }, 'oebs-gate running');
  onShutdown(log, async () => {
    await Promise.all([senderLoop.stop(), receiver.stop()]);
    await writerLoop.stop();
    await topics.close();
    metrics?.close();
    await db.close();
  });
}
