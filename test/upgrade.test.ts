// Upgrading to deployment ids (migration 005) with payouts under way: a payout that was reserved
// under the old key (`payout/<id>/reserve`) but not yet committed when the upgrade ran still finds
// its reservation and reuses it, instead of reserving again or finishing with nothing; a message
// waiting in the outbox keeps the NATS message id it may already have been sent under.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, expect, inject, it } from 'vitest';
import { connect } from '../src/db/connect.ts';
import { listMigrations, migrate, payoutMigrations } from '../src/db/migrate.ts';
import { sub } from '../src/domain/money.ts';
import { createLogger } from '../src/log.ts';
import { senderLedger } from '../src/oebs-gate/ledger.ts';
import { Sender } from '../src/oebs-gate/sender.ts';
import { buildAccountsApp } from '../src/standins/accounts/app.ts';
import { accountsMigrations } from '../src/standins/accounts/migrations.ts';
import { createTopics } from '../src/topics/index.ts';
import { selectOutbox } from '../src/topics/store.ts';
import { natsMsgId } from '../src/topics/nats-wire.ts';
import { topicsFor } from '../src/topics/paths.ts';
import { createAccountsClient } from '../src/accounts/client.ts';
import type { AddressInfo } from 'node:net';
import { testConfig } from './support/config.ts';
import { dbUrl } from './support/template.ts';

const name = `payout_upgrade_${randomBytes(4).toString('hex')}`;
const admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => {} });
const oldDir = mkdtempSync(path.join(os.tmpdir(), 'payout-old-migrations-'));
afterAll(async () => {
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.end();
  rmSync(oldDir, { recursive: true, force: true });
});

it('a payout reserved under the old key before the upgrade reuses that reservation after it', async () => {
  await admin.unsafe(`create database ${name}`);
  const sql = connect(dbUrl(inject('adminUrl'), name), { max: 5 });
  try {
    // The database as the previous release left it: migrations up to 004.
    for (const m of listMigrations(payoutMigrations.dir).filter((m) => m.version <= 4)) copyFileSync(m.file, path.join(oldDir, path.basename(m.file)));
    await migrate(sql, { ...payoutMigrations, dir: oldDir });
    await migrate(sql, accountsMigrations);
    const app = await buildAccountsApp({ sql });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const accounts = createAccountsClient({ url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, timeoutMs: 10_000 });
    try {
      const loc = (type: string) => ({ namespace: 'taxi', type, client_id: '42', contract_id: '7', service_id: '124', currency: 'RUB' });
      await accounts.writeBatch({ event_type: 'accrual', external_id: 'acc-1', events: [{ loc: loc('payout'), type: 'credit', amount: '30' }] });
      const [p] = await sql`insert into t_payout (external_id, namespace, client_id, contract_id, service_id, currency, by_client, amount)
                             values ('old-1', 'taxi', 42, 7, 124, 'RUB', false, 30) returning id`;
      // The old sender reserved under the old key, and died before its commit.
      await accounts.writeBatch({
        event_type: 'payout-reserve', external_id: `payout/${p!.id}/reserve`, info: { payout_id: p!.id, dry_run: false, cpf: [] },
        events: [{ loc: loc('payout'), type: 'debit', amount: '30' }, { loc: loc('payout_sent'), type: 'credit', amount: '30' }],
      });
      const [msg] = await sql`insert into topic_message (topic, key, msg_id, payload) values ('/t/x', 'k', '7', '{}') returning id`;
      await sql`insert into topic_outbox (message_id) values (${msg!.id})`;

      await migrate(sql);
      expect((await sql`select deployment_id from t_payout where id = ${p!.id}`)[0]!.deployment_id).toBe('');
      const [out] = await sql.begin((tx) => selectOutbox(tx, 10));
      expect(natsMsgId(out!.deployment_id, out!.topic, out!.msg_id)).toBe('/t/x#7');

      const config = testConfig();
      const sender = new Sender({
        config, sql, ledger: senderLedger(accounts), publisher: await createTopics(config, sql),
        newPayoutTopic: (ns, dry) => topicsFor(config, ns, dry).newPayout, log: createLogger('test', 'silent'),
      });
      await sender.runOnce();
      expect((await sql`select status, amount::text from t_payout where id = ${p!.id}`)[0]).toEqual({ status: 'pending', amount: '30.000000' });
      const res = await accounts.read({ balances: [{ loc: loc('payout') }, { loc: loc('payout_sent') }] });
      expect(res.balances.map((b) => sub(b.credit, b.debit))).toEqual(['0', '30']);
      // A payout created after the upgrade uses the deployment's keys.
      const [fresh] = await sql`insert into t_payout (external_id, namespace, client_id, contract_id, service_id, currency, by_client, amount)
                                 values ('new-1', 'taxi', 42, 7, 124, 'RUB', false, 1) returning deployment_id`;
      expect(fresh!.deployment_id).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      await app.close();
    }
  } finally {
    await sql.end();
  }
});
