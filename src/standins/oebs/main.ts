// `payout oebs-emulator`: the OEBS/ARD stand-in as its own process.
import type { Config } from '../../config.ts';
import { openDatabase } from '../../db/database.ts';
import { migrate } from '../../db/migrate.ts';
import type { Logger } from '../../log.ts';
import { exitOnLost, onShutdown } from '../../process.ts';
import { createTopics } from '../../topics/index.ts';
import { OebsEmulator } from './emulator.ts';

export async function runOebsEmulator(config: Readonly<Config>, log: Logger) {
  const db = await openDatabase(config, log, 'payout-oebs-emulator');
  // The topic tables (log, deliveries, outbox) come with the shared migrations; migrators take
  // turns on an advisory lock, so starting before or beside the api is safe.
  await migrate(db.sql);
  const topics = await createTopics(config, db.sql, (err) => log.error({ err }, 'oebs emulator: topics round failed'),
    { log, onClosed: exitOnLost(log, 'the NATS connection') });
  const emulator = await OebsEmulator.create({ config, sql: db.sql, topics, log });
  // NATS: the answers are written to the outbox and only reach the broker through a relay. The
  // relay lock lets one relay of any process work at a time, so running ours beside payout's is
  // harmless, and the emulator does not depend on payout running one. Postgres: a no-op loop.
  topics.relay.start();
  emulator.start();
  const special = Object.fromEntries(config.oebsEmulator.byClient);
  log.info({ backend: topics.backend, namespaces: config.namespaces, special }, 'oebs emulator answering (accept unless listed)');
  onShutdown(log, async () => {
    await emulator.stop();
    await topics.close();
    await db.close();
  });
}
