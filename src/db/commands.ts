import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { onShutdown } from '../process.ts';
import { openDatabase } from './database.ts';
import { migrate, payoutMigrations } from './migrate.ts';
import { getDeploymentId, resetDeploymentId } from '../store/deployment.ts';

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

/**
 * `payout deployment-id` prints this database's deployment id; `--reset` gives it a new one, for a
 * database restored or copied into another deployment (docs/operations.md). Payouts already
 * created keep the id they were created under.
 */
export async function runDeploymentId(config: Readonly<Config>, log: Logger, args: string[]) {
  const unknown = args.filter((a) => a !== '--reset');
  if (unknown.length) throw new Error(`deployment-id: unknown argument ${unknown[0]} (only --reset)`);
  const db = await openDatabase(config, log, 'payout-deployment-id');
  try {
    await migrate(db.sql, payoutMigrations);
    const before = await getDeploymentId(db.sql);
    if (!args.includes('--reset')) {
      console.log(before);
      return;
    }
    const after = await resetDeploymentId(db.sql);
    log.warn({ before, after }, 'deployment id reset: payouts created from now on use the new id in ledger keys and message ids');
    console.log(after);
  } finally {
    await db.close();
  }
}
