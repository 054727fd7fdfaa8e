// npm run bench:history — what a payout costs the sender on an account with a long history
// (100,000 old events, already paid out) against one on a new account, in the same run,
// interleaved. The sender reads an account's events from the previous payout's reservation on,
// so the ratio should stay near 1; a history read from the beginning would grow with the account.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Row } from './api.ts';
import { createAccountsClient, type AccountsClient } from '../src/accounts/client.ts';
import { loadConfig } from '../src/config.ts';
import { connect, type Sql } from '../src/db/connect.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLogger } from '../src/log.ts';
import { senderLedger } from '../src/oebs-gate/ledger.ts';
import { Sender } from '../src/oebs-gate/sender.ts';
import { buildAccountsApp } from '../src/standins/accounts/app.ts';
import { accountsMigrations } from '../src/standins/accounts/migrations.ts';
import { insertRequestPayouts } from '../src/store/payouts.ts';
import { createTopics } from '../src/topics/index.ts';
import { topicsFor } from '../src/topics/paths.ts';
import { ROOT, benchPostgres } from './support.ts';

const OLD_EVENTS = Number(process.env.BENCH_OLD_EVENTS ?? 100_000);
const PAYOUTS = Number(process.env.BENCH_HISTORY_PAYOUTS ?? 200);

const loc = (client: string) => ({ namespace: 'taxi', type: 'payout', client_id: client, contract_id: '7', service_id: '124', currency: 'RUB' });
const accrue = (accounts: AccountsClient, client: string, amount: string, n = 1) =>
  accounts.writeBatch({ event_type: 'accrual', external_id: randomUUID(), events: Array.from({ length: n }, () => ({ loc: loc(client), type: 'credit' as const, amount })) });

async function payout(sql: Sql, client: string) {
  const [req] = await sql`insert into t_request (external_id, client_id, namespace, status) values (${randomUUID()}, ${client}, 'taxi', 'done') returning id`;
  await insertRequestPayouts(sql, [{ external_id: randomUUID(), request_id: req!.id, namespace: 'taxi', client_id: client, contract_id: '7', service_id: '124', currency: 'RUB', amount: '0', cpf_only: false, approve_req: false }]);
}

export async function benchHistory(): Promise<Row[]> {
  const pg = await benchPostgres();
  const sql = connect(pg.url, { max: 10 });
  await migrate(sql);
  await migrate(sql, accountsMigrations);
  const app = await buildAccountsApp({ sql });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const accounts = createAccountsClient({ url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, timeoutMs: 60_000 });
  const config = loadConfig({ PAYOUT_DB_URL: pg.url, PAYOUT_SENDER_LIMIT: '10' });
  const sender = new Sender({
    config, sql, ledger: senderLedger(accounts), publisher: await createTopics(config, sql),
    newPayoutTopic: (ns, dry) => topicsFor(config, ns, dry).newPayout, log: createLogger('bench-history', 'warn'),
  });
  const [long, fresh] = ['1', '2'];
  const costMs = { long: 0, fresh: 0 };
  try {
    // The long history: OLD_EVENTS accruals, all paid out by one payout before the measured ones.
    for (let i = 0; i < OLD_EVENTS; i += 10_000) await accrue(accounts, long, '0.01', Math.min(10_000, OLD_EVENTS - i));
    await payout(sql, long);
    await sender.runOnce();
    for (let i = 0; i < PAYOUTS; i++) {
      for (const [client, key] of [[long, 'long'], [fresh, 'fresh']] as const) {
        await accrue(accounts, client, '1.005');
        await payout(sql, client);
        const started = performance.now();
        const { count } = await sender.runOnce();
        costMs[key] += performance.now() - started;
        if (count !== 1) throw new Error(`the sender handled ${count} payouts, expected 1`);
      }
    }
    const [sent] = await sql`select count(*)::int as n from t_payout where status = 'pending'`;
    if (sent!.n !== 2 * PAYOUTS + 1) throw new Error(`${sent!.n} payouts pending, expected ${2 * PAYOUTS + 1}`);
  } finally {
    await app.close();
    await sql.end();
    await pg.cleanup();
  }
  const per = { long: costMs.long / PAYOUTS, fresh: costMs.fresh / PAYOUTS };
  const rows: Row[] = [
    { measure: 'sender, ms per payout on a new account', value: per.fresh.toFixed(2), ratio: '100%' },
    { measure: `sender, ms per payout on an account with ${OLD_EVENTS} old events`, value: per.long.toFixed(2), ratio: `${((per.long / per.fresh) * 100).toFixed(0)}% (goal ≤ 120%)` },
  ];
  const table = [
    `history benchmark: ${PAYOUTS} payouts on each account, interleaved, durable Postgres, stand-in in process`,
    '', '| measure | value | vs new account |', '|---|---|---|', ...rows.map((r) => `| ${r.measure} | ${r.value} | ${r.ratio} |`),
  ].join('\n');
  console.log(table);
  mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench/results/history.md'), `${table}\n`);
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchHistory();
