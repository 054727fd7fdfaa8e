// Applies numbered plain-SQL migrations (`NNN_name.sql`) in order, each in its own transaction.
// A session advisory lock serialises concurrent migrators: the second one waits, then finds
// nothing left to do. Landed files are never edited; a new change is a new number.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sql } from './connect.ts';

export interface MigrationSet {
  dir: string;
  /** Table (optionally schema-qualified) that records what has been applied. */
  table: string;
  /** Advisory lock key; each set has its own so unrelated sets do not wait for each other. */
  lockKey: number;
}

export const payoutMigrations: MigrationSet = {
  dir: path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
  table: 'payout_migrations',
  lockKey: 7_260_001,
};

interface MigrationFile { version: number; name: string; file: string }

export function listMigrations(dir: string): MigrationFile[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 3)), name: f.replace(/\.sql$/, ''), file: path.join(dir, f) }));
}

/** Returns the names of the migrations applied by this call. */
export async function migrate(sql: Sql, set: MigrationSet = payoutMigrations): Promise<string[]> {
  const applied: string[] = [];
  await sql.begin(async (tx) => {
    // Transaction-scoped lock on one connection: released on commit or on a crash.
    await tx`select pg_advisory_xact_lock(${set.lockKey})`;
    await tx.unsafe(`create table if not exists ${set.table} (
      version int primary key, name text not null, applied_at timestamptz not null default now())`);
    const done = new Set((await tx.unsafe(`select version from ${set.table}`)).map((r) => Number(r.version)));
    for (const m of listMigrations(set.dir)) {
      if (done.has(m.version)) continue;
      await tx.unsafe(readFileSync(m.file, 'utf8'));
      await tx.unsafe(`insert into ${set.table} (version, name) values ($1, $2)`, [m.version, m.name]);
      applied.push(m.name);
    }
  });
  return applied;
}
