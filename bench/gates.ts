// npm run bench:gates — req-gate requests/s and sender payouts/s with 1 and 2 replica processes,
// against the accounts stand-in (its own process) on a durable Postgres, and in the same run the
// ceilings: a bare claim-and-update loop on the same table with no accounts calls, and the ledger
// alone doing the sender's two calls per batch (locking read, reservation write) with nothing of
// payout around them. The sender cannot be faster than the two one after the other: that sum is
// the ceiling its own overhead is measured against.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Row } from './api.ts';
import { createAccountsClient } from '../src/accounts/client.ts';
import { connect, type Sql } from '../src/db/connect.ts';
import { migrate } from '../src/db/migrate.ts';
import { senderLedger } from '../src/oebs-gate/ledger.ts';
import { accountsMigrations } from '../src/standins/accounts/migrations.ts';
import { insertRequestPayouts } from '../src/store/payouts.ts';
import { insertRequests } from '../src/store/requests.ts';
import { mapLimit } from '../src/worker/concurrency.ts';
import { ROOT, benchPostgres, freePort, spawnNode, stopChild, waitForHttp } from './support.ts';

// 6,000: with 2,000 each measurement lasted about a second (four calls of the ledger alone), and
// one run could put the ceiling below the sender it bounds.
const N = Number(process.env.BENCH_ITEMS ?? 6000);
const LIMIT = process.env.BENCH_BATCH ?? '500';
let round = 0;

async function creditAccounts(url: string, clients: string[]) {
  const client = createAccountsClient({ url, timeoutMs: 30_000 });
  await mapLimit(clients, 32, (c) => client.writeBatch({
    event_type: 'accrual', external_id: randomUUID(),
    events: [{ loc: { namespace: 'taxi', type: 'payout', client_id: c, contract_id: '7', service_id: '124', currency: 'RUB' }, type: 'credit', amount: '10.5' }],
  }));
}

const clientsOf = () => Array.from({ length: N }, (_, i) => String(++round * 1_000_000 + i + 1));

async function untilNoneLeft(sql: Sql, table: 't_request' | 't_payout', env: Record<string, string>, replicas: number, kind: string) {
  const children = Array.from({ length: replicas }, () => spawnNode('bench/gate-worker.ts', [kind], env, true));
  const exited = children.map((c) => new Promise((r) => c.once('exit', r)));
  // Every replica loaded and connected, then all start at once: start-up is not gate time.
  await Promise.all(children.map((c) => new Promise<void>((resolve) => c.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()))));
  const started = performance.now();
  for (const c of children) c.stdin!.write('go\n');
  await Promise.all(exited);
  const seconds = (performance.now() - started) / 1000;
  const [left] = await sql.unsafe(`select count(*)::int as n from ${table} where status = 'new' and not ${table === 't_payout' ? 'approve_req' : 'false'}`);
  if (left!.n !== 0) throw new Error(`${left!.n} rows of ${table} still new after ${kind}`);
  return N / seconds;
}

/** The ceiling: claim a batch with SKIP LOCKED and update it, nothing else, until none is left. */
async function bareClaimLoop(sql: Sql, table: 't_request' | 't_payout', status: string) {
  const started = performance.now();
  for (;;) {
    const rows = await sql.begin((tx) => tx.unsafe(`
      with c as (select id from ${table} where status = 'new' order by id limit ${LIMIT} for update skip locked)
      update ${table} t set status = '${status}', updated_at = now() from c where t.id = c.id returning t.id`));
    if (rows.length === 0) break;
  }
  return N / ((performance.now() - started) / 1000);
}

/**
 * The ledger's own part of the sender's work, measured from this process: for each batch of
 * LIMIT funded accounts the sender's two calls, one locking read (balance and history) and one
 * write of every reservation, exactly as the sender makes them, and no payout tables.
 */
async function ledgerAlone(accountsUrl: string, clients: string[]): Promise<number> {
  const ledger = senderLedger(createAccountsClient({ url: accountsUrl, timeoutMs: 60_000 }), 30);
  const deploymentId = randomBytes(16).toString('hex');
  const limit = Number(LIMIT);
  const started = performance.now();
  for (let i = 0; i < clients.length; i += limit) {
    const items = clients.slice(i, i + limit).map((c, j) => ({
      account: { namespace: 'taxi', client_id: c, contract_id: '7', service_id: '124', currency: 'RUB' },
      key: { deploymentId, payoutId: String(i + j + 1), createdAt: new Date() },
      fromBatchId: null,
    }));
    const views = await ledger.lockAndRead(items);
    const held = await ledger.reserve(items.map((it, j) => {
      const v = views[j]!;
      if (!v.locked) throw new Error(`ledger alone: account of client ${it.account.client_id} not locked: ${v.reason}`);
      return { key: it.key, account: it.account, lockUid: v.lockUid, r: { amount: '10.50', dryRun: false, cpfs: [] } };
    }));
    const bad = held.find((h) => h.kind !== 'held');
    if (bad) throw new Error(`ledger alone: a reservation was not written: ${JSON.stringify(bad)}`);
  }
  return clients.length / ((performance.now() - started) / 1000);
}

/** The req-gate and sender rows of the benchmark table (1 and 2 replicas, and the ceilings). */
export async function benchGates(): Promise<Row[]> {
  const pg = await benchPostgres();
  const sql = connect(pg.url, { max: 4 });
  await migrate(sql);
  await migrate(sql, accountsMigrations);
  const accountsPort = await freePort();
  const accountsUrl = `http://127.0.0.1:${accountsPort}`;
  const env = { PAYOUT_DB_URL: pg.url, PAYOUT_ACCOUNTS_URL: accountsUrl, PAYOUT_ACCOUNTS_PORT: String(accountsPort), PAYOUT_LOG_LEVEL: 'warn', PAYOUT_REQUEST_LIMIT: LIMIT, PAYOUT_SENDER_LIMIT: LIMIT, PAYOUT_DB_POOL: '20' };
  const accounts = spawnNode('src/cli.ts', ['accounts'], env);
  const results: [string, number][] = [];
  try {
    await waitForHttp(`${accountsUrl}/ping`);
    for (const replicas of [1, 2]) {
      const clients = clientsOf();
      await creditAccounts(accountsUrl, clients);
      for (let i = 0; i < N; i += 1000) {
        await insertRequests(sql, clients.slice(i, i + 1000).map((c) => ({ external_id: `bench-${c}`, client_id: c, namespace: 'taxi', cpf_only: false })));
      }
      results.push([`req-gate, ${replicas} replica(s), requests/s`, await untilNoneLeft(sql, 't_request', env, replicas, 'req-gate')]);
      results.push([`sender, ${replicas} replica(s), payouts/s`, await untilNoneLeft(sql, 't_payout', env, replicas, 'sender')]);
    }
    const clients = clientsOf();
    const bare = await insertRequests(sql, clients.map((c) => ({ external_id: `bare-${c}`, client_id: c, namespace: 'taxi', cpf_only: false })));
    const requestOf = new Map(bare.map((r) => [r.external_id, r.id]));
    results.push(['ceiling: bare claim-and-update of t_request, rows/s', await bareClaimLoop(sql, 't_request', 'done')]);
    // Each its own request's payout: a request has one payout per account (migration 006's key).
    await insertRequestPayouts(sql, clients.map((c) => ({ external_id: `bare-${c}`, request_id: requestOf.get(`bare-${c}`)!, namespace: 'taxi', client_id: c, contract_id: '7', service_id: '124', currency: 'RUB', amount: '1', cpf_only: false, approve_req: false })));
    results.push(['ceiling: bare claim-and-update of t_payout, rows/s', await bareClaimLoop(sql, 't_payout', 'pending')]);
    const funded = clientsOf();
    await creditAccounts(accountsUrl, funded);
    results.push(['ceiling: the ledger alone, the sender\'s two calls per batch, payouts/s', await ledgerAlone(accountsUrl, funded)]);
  } finally {
    await stopChild(accounts);
    await sql.end();
    await pg.cleanup();
  }
  const ceilingReq = results.find(([n]) => n.includes('t_request'))![1];
  const ceilingPay = results.find(([n]) => n.includes('t_payout'))![1];
  const ceilingLedger = results.find(([n]) => n.includes('the ledger alone'))![1];
  // Claim-and-update, then the ledger's calls, one after the other: the sender's floor per payout.
  const ceilingSender = 1 / (1 / ceilingPay + 1 / ceilingLedger);
  const sender1 = results.find(([n]) => n.startsWith('sender, 1 '))![1];
  results.push(['ceiling: bare claim-and-update of t_payout then the ledger alone, in sequence, payouts/s', ceilingSender]);
  results.push(['sender, 1 replica ÷ that sequence (the sender\'s own overhead)', sender1]);
  const ceilingOf = (name: string, rate: number) => (name.startsWith('req-gate') ? ceilingReq
    : name.includes('÷ that sequence') ? ceilingSender
      : name.startsWith('sender') ? ceilingPay : rate);
  const table = [
    `gates benchmark: ${N} items per run, batch ${LIMIT}, accounts stand-in as its own process, durable Postgres`,
    '',
    '| measure | per second | vs its ceiling |',
    '|---|---|---|',
    ...results.map(([name, rate]) => `| ${name} | ${Math.round(rate)} | ${((rate / ceilingOf(name, rate)) * 100).toFixed(1)}% |`),
  ].join('\n');
  console.log(table);
  mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench/results/gates.md'), `${table}\n`);
  return results.map(([name, rate]) => ({ measure: name, value: String(Math.round(rate)), ratio: `${((rate / ceilingOf(name, rate)) * 100).toFixed(1)}%` }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchGates();
