import postgres from 'postgres';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { connect } from '../src/db/connect.ts';
import { listMigrations, migrate, payoutMigrations } from '../src/db/migrate.ts';
import { accountsMigrations } from '../src/standins/accounts/migrations.ts';
import { dbUrl } from './support/template.ts';

describe('migrations', () => {
  const name = `payout_migrate_${randomBytes(4).toString('hex')}`;
  const admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => {} });
  afterAll(async () => {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  });

  it('apply on an empty database, safely from several processes at once, and only once', async () => {
    await admin.unsafe(`create database ${name}`);
    const pools = Array.from({ length: 4 }, () => connect(dbUrl(inject('adminUrl'), name), { max: 1 }));
    const applied = await Promise.all(pools.map((sql) => migrate(sql, payoutMigrations)));
    const all = listMigrations(payoutMigrations.dir).map((m) => m.name);
    // Exactly one migrator applied everything; the others found nothing left to do.
    expect(applied.filter((a) => a.length > 0)).toEqual([all]);
    expect(await migrate(pools[0]!, payoutMigrations)).toEqual([]);
    // The stand-in's set lives beside payout's without touching it.
    expect((await migrate(pools[1]!, accountsMigrations)).length).toBeGreaterThan(0);
    const [row] = await pools[0]!`select count(*)::int as n from payout_migrations`;
    expect(row!.n).toBe(all.length);
    await Promise.all(pools.map((p) => p.end()));
  });
});
