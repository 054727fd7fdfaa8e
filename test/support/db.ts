// A database per test file (or per test, where a test wants a clean slate), cloned from the
// migrated template: fast, isolated, and real Postgres.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, inject } from 'vitest';
import { connect, type Sql } from '../../src/db/connect.ts';
import { resetDeploymentId } from '../../src/store/deployment.ts';
import { TEMPLATE_DB, dbUrl } from './template.ts';

export interface TestDb {
  name: string;
  url: string;
  sql: Sql;
}

async function admin<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(inject('adminUrl'), { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

/** Creates a fresh migrated database; it is dropped after the file's tests. */
export async function createTestDb(opts: { poolSize?: number } = {}): Promise<TestDb> {
  const name = `payout_test_${randomBytes(5).toString('hex')}`;
  // The template may be briefly in use by another file's clone: retry that one error.
  for (let attempt = 0; ; attempt++) {
    try {
      await admin((sql) => sql.unsafe(`create database ${name} template ${TEMPLATE_DB}`));
      break;
    } catch (e) {
      if (attempt > 20 || !String(e).includes('is being accessed by other users')) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const url = dbUrl(inject('adminUrl'), name);
  const sql = connect(url, { max: opts.poolSize ?? 10, app: 'payout-test' });
  // A clone of the template is a copy of one database: give it a deployment id of its own, as an
  // operator does for a restored copy (payout deployment-id --reset), so the ledger keys and NATS
  // message ids of two test databases never meet.
  await resetDeploymentId(sql);
  afterAll(async () => {
    await sql.end({ timeout: 5 });
    await admin((a) => a.unsafe(`drop database if exists ${name} with (force)`));
  });
  return { name, url, sql };
}
