// npm run bench:integrity — the tasks' integrity run over 100,000 payouts, each on its own
// account (the worst case: one ledger location per payout), half pending (reserved), half done
// (reserved and confirmed), read through the accounts client from the stand-in in process.
// Goal: seconds, not minutes; and no violation found, since the ledger agrees.
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Row } from './api.ts';
import { createAccountsClient, type WriteBatchRequest } from '../src/accounts/client.ts';
import { connect } from '../src/db/connect.ts';
import { migrate } from '../src/db/migrate.ts';
import { ledgerEventType, ledgerExternalId } from '../src/domain/oebs-messages.ts';
import { buildAccountsApp } from '../src/standins/accounts/app.ts';
import { accountsMigrations } from '../src/standins/accounts/migrations.ts';
import { runIntegrity } from '../src/tasks/integrity.ts';
import { mapLimit } from '../src/worker/concurrency.ts';
import { ROOT, benchPostgres } from './support.ts';

const PAYOUTS = Number(process.env.BENCH_INTEGRITY_PAYOUTS ?? 100_000);

export async function benchIntegrity(): Promise<Row[]> {
  const pg = await benchPostgres();
  const sql = connect(pg.url, { max: 10 });
  await migrate(sql);
  await migrate(sql, accountsMigrations);
  const app = await buildAccountsApp({ sql });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const accounts = createAccountsClient({ url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, timeoutMs: 120_000 });
  let seconds: number;
  let findings: number;
  try {
    // Payouts straight into the table (client i, amount 1.00): odd ids pending, even ids done.
    await sql`
      insert into t_payout (external_id, namespace, client_id, contract_id, service_id, currency, by_client, amount, amount_oebs, status, dry_run)
      select 'b-' || i, 'taxi', i, 7, 124, 'RUB', false, 1, 1, case when i % 2 = 1 then 'pending' else 'done' end, false
      from generate_series(1, ${PAYOUTS}) as i`;
    const payouts = await sql<{ id: string; client_id: string; status: string; deployment_id: string }[]>`
      select id::text, client_id::text, status, deployment_id from t_payout order by id`;
    const batches: WriteBatchRequest[] = payouts.flatMap((p) => {
      const loc = { namespace: 'taxi', type: 'payout_sent', client_id: p.client_id, contract_id: '7', service_id: '124', currency: 'RUB' };
      const info = { payout_id: p.id, deployment_id: p.deployment_id, dry_run: false };
      const reserve = { event_type: ledgerEventType.reserve, external_id: ledgerExternalId.reserve(p.deployment_id, p.id), info, events: [{ loc, type: 'credit' as const, amount: '1' }] };
      if (p.status === 'pending') return [reserve];
      return [reserve, { event_type: ledgerEventType.confirm, external_id: ledgerExternalId.confirm(p.deployment_id, p.id, `pay-${p.id}`),
        info: { ...info, payment_id: `pay-${p.id}` }, events: [{ loc, type: 'debit' as const, amount: '1' }] }];
    });
    const chunks: WriteBatchRequest[][] = [];
    for (let i = 0; i < batches.length; i += 1000) chunks.push(batches.slice(i, i + 1000));
    await mapLimit(chunks, 2, (c) => accounts.writeBatches(c));

    const started = performance.now();
    const result = await runIntegrity({ sql, accounts }, new Date(0));
    seconds = (performance.now() - started) / 1000;
    findings = result.findings.length;
    if (result.accounts !== PAYOUTS) throw new Error(`integrity checked ${result.accounts} accounts, expected ${PAYOUTS}`);
    if (findings !== 0) throw new Error(`integrity found ${findings} violations in an agreeing ledger: ${JSON.stringify(result.findings.slice(0, 3))}`);
  } finally {
    await app.close();
    await sql.end();
    await pg.cleanup();
  }
  const rows: Row[] = [{ measure: `integrity run, ${PAYOUTS} payouts on ${PAYOUTS} accounts, seconds`, value: seconds.toFixed(1), ratio: '(goal: seconds, not minutes)' }];
  const table = [
    `integrity benchmark: one run over ${PAYOUTS} payouts (half pending, half done), stand-in ledger in process, durable Postgres`,
    '', '| measure | value | goal |', '|---|---|---|', ...rows.map((r) => `| ${r.measure} | ${r.value} | ${r.ratio} |`),
  ].join('\n');
  console.log(table);
  mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench/results/integrity.md'), `${table}\n`);
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchIntegrity();
