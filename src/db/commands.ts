import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { onShutdown } from '../process.ts';
import { openDatabase } from './database.ts';
import { migrate, payoutMigrations } from './migrate.ts';

export async function runMigrate(config: Readonly<Config>, log: Logger) {
  const db = await openDatabase(config, log, 'payout-migrate');
  try {
    const applied = await migrate(db.sql, payoutMigrations);
    log.info({ applied }, applied.length ? 'migrations applied' : 'database is up to date');
  } finally {
    await db.close();
  }
}

/** `make start-db`: the embedded Postgres in the foreground, migrated, until Ctrl-C. */
export async function runStartDb(config: Readonly<Config>, log: Logger) {
  if (config.db.url) throw new Error('PAYOUT_DB_URL is set: start-db only manages the embedded Postgres');
  const db = await openDatabase(config, log, 'payout-start-db');
  const applied = await migrate(db.sql, payoutMigrations);
  log.info({ applied, url: db.url }, 'database ready');
  if (!db.embedded) {
    log.info('the embedded Postgres was already running (another process owns it); nothing more to do');
    await db.close();
    return;
  }
  console.log(`embedded Postgres ready at ${db.url} — Ctrl-C stops it`);
  onShutdown(log, () => db.close());
}
