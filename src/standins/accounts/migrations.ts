// The stand-in's own migration set: its own folder, record table and advisory lock key, so it
// migrates independently of payout (and `payout migrate` never touches it).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MigrationSet } from '../../db/migrate.ts';

export const accountsMigrations: MigrationSet = {
  dir: path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
  table: 'accounts_migrations',
  lockKey: 7_260_101,
};
