import type { Sql } from 'postgres';
import { connect } from '../../src/db/connect.ts';
import { migrate, payoutMigrations, type MigrationSet } from '../../src/db/migrate.ts';
import { accountsMigrations } from '../../src/standins/accounts/migrations.ts';

export const TEMPLATE_DB = 'payout_test_template';

/** Every migration set a test may need: payout's own, and the stand-ins'. */
export const allMigrationSets: MigrationSet[] = [payoutMigrations, accountsMigrations];

export function dbUrl(adminUrl: string, db: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${db}`;
  return u.toString();
}

export async function buildTemplate(admin: Sql, adminUrl: string) {
  await admin.unsafe(`drop database if exists ${TEMPLATE_DB} with (force)`);
  await admin.unsafe(`create database ${TEMPLATE_DB}`);
  const sql = connect(dbUrl(adminUrl, TEMPLATE_DB), { max: 1 });
  try {
    for (const set of allMigrationSets) await migrate(sql, set);
  } finally {
    await sql.end();
  }
}
