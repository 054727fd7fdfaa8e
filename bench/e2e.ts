// End to end through the whole system as `npm start` runs it (supervisor, stand-ins, api, gates as
// separate processes) on a durable Postgres: N clients with one funded account each, N requests
// posted through the api; how fast payouts reach `pending` (sent to OEBS) and `done`.
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createAccountsClient } from '../src/accounts/client.ts';
import { connect, type Sql } from '../src/db/connect.ts';
import { mapLimit } from '../src/worker/concurrency.ts';
import type { Row } from './api.ts';
import { ROOT, benchPostgres, freePort, stopChild, waitForHttp } from './support.ts';

const N = Number(process.env.BENCH_E2E_ITEMS ?? 2000);
const TOKEN = 'bench-token';

async function until(sql: Sql, query: string, timeoutMs = 600_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await sql.unsafe(query);
    if (row!.done) return performance.now();
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${query}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function round(pgUrl: string, sql: Sql, replicas: number, first: number): Promise<Row[]> {
  const [apiPort, accountsPort] = [await freePort(), await freePort()];
  const accountsUrl = `http://127.0.0.1:${accountsPort}`;
  const system = spawn(path.join(ROOT, 'bin/payout'), ['start'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env, PAYOUT_DB_URL: pgUrl, PAYOUT_API_PORT: String(apiPort), PAYOUT_ACCOUNTS_PORT: String(accountsPort),
      PAYOUT_ACCOUNTS_URL: accountsUrl, PAYOUT_API_TOKENS: JSON.stringify({ [TOKEN]: { name: 'bench', namespaces: ['*'] } }),
      PAYOUT_GATE_REPLICAS: String(replicas), PAYOUT_REQ_GATE_INTERVAL: '100ms', PAYOUT_OEBS_GATE_INTERVAL: '100ms',
      PAYOUT_LOG_LEVEL: 'warn', PAYOUT_EXIT_WITH_PARENT: '1', PAYOUT_DATA_DIR: path.join(ROOT, '.data', `bench-${process.pid}`),
    },
  });
  try {
    await waitForHttp(`http://127.0.0.1:${apiPort}/ping`, 60_000);
    await waitForHttp(`${accountsUrl}/ping`, 60_000);
    const accounts = createAccountsClient({ url: accountsUrl, timeoutMs: 30_000 });
    const clients = Array.from({ length: N }, (_, i) => String(first + i));
    await mapLimit(clients, 32, (c) => accounts.writeBatch({
      event_type: 'accrual', external_id: randomUUID(),
      events: [{ loc: { namespace: 'taxi', type: 'payout', client_id: c, contract_id: '7', service_id: '124', currency: 'RUB' }, type: 'credit', amount: '10.5' }],
    }));
    const started = performance.now();
    await mapLimit(clients, 32, async (c) => {
      const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1/payout-by-client`, {
        method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ external_id: `bench-${c}`, client_id: Number(c), namespace: 'taxi' }),
      });
      if (res.status !== 201) throw new Error(`api answered ${res.status}`);
    });
    const range = `client_id between ${first} and ${first + N - 1}`;
    const sent = await until(sql, `select count(*) filter (where status <> 'new') = ${N} as done from t_payout where ${range}`);
    const done = await until(sql, `select count(*) filter (where status = 'done') = ${N} as done from t_payout where ${range}`);
    const perSecond = (t: number) => String(Math.round(N / ((t - started) / 1000)));
    return [
      { measure: `end to end, ${replicas} replica(s) of each gate: payouts reaching pending/s`, value: perSecond(sent), ratio: '' },
      { measure: `end to end, ${replicas} replica(s) of each gate: requests → done/s`, value: perSecond(done), ratio: '' },
    ];
  } finally {
    await stopChild(system);
  }
}

export async function benchE2e(): Promise<Row[]> {
  const pg = await benchPostgres();
  const sql = connect(pg.url, { max: 2 });
  try {
    const rows = [...(await round(pg.url, sql, 1, 1_000_000)), ...(await round(pg.url, sql, 2, 2_000_000))];
    for (const r of rows) console.log(`${r.measure}: ${r.value}`);
    return rows;
  } finally {
    await sql.end();
    await pg.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchE2e();
