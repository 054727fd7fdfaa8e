// npm run bench:api — how many payout requests per second the api accepts durably, against a
// bare Fastify route measured in the same run on the same machine (ratios, not absolutes: the
// machines are noisy). Every 201 must be a committed row: the script checks the count.
import autocannon from 'autocannon';
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { migrate } from '../src/db/migrate.ts';
import { ROOT, benchPostgres, freePort, spawnNode, stopChild, waitForHttp } from './support.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 15);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const TOKEN = 'bench-token';

interface Result { name: string; rps: number; p99: number; ok: number; errors: number }

/**
 * The same generator for the ceiling and the api: autocannon's idReplacement fills `[<id>]` with a
 * fresh id per request inside autocannon, so no JS builds a body per request. A body built in a
 * setupRequest hook capped the bare route at ~9k req/s here (the generator was the bottleneck,
 * not the server); with idReplacement the bare route reaches ~3x that.
 */
async function load(name: string, url: string, warmup = true): Promise<Result> {
  const run = (duration: number) =>
    autocannon({
      url: `${url}/api/v1/payout-by-client`,
      connections: CONNECTIONS,
      duration,
      idReplacement: true,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: `{"external_id":"${name}-${process.pid}-${Date.now()}-[<id>]","client_id":42,"namespace":"taxi"}`,
    });
  if (warmup) await run(2);
  const r = await run(DURATION);
  const res = { name, rps: r.requests.average, p99: r.latency.p99, ok: r['2xx'], errors: r.non2xx + r.errors + r.timeouts };
  // A run that answered errors measures nothing: say so rather than print a ratio.
  if (res.errors > res.ok / 100) throw new Error(`${name}: ${res.errors} errors for ${res.ok} 2xx`);
  return res;
}

export interface Row { measure: string; value: string; ratio: string }

/** The api rows of the benchmark table: bare route, api, ratio; also returns the markdown. */
export async function benchApi(): Promise<Row[]> {
  const pg = await benchPostgres();
  const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
  await migrate(admin);
  const barePort = await freePort();
  const apiPort = await freePort();
  const bare = spawnNode('bench/bare-server.ts', [String(barePort)]);
  const api = spawnNode('src/cli.ts', ['api'], {
    PAYOUT_DB_URL: pg.url,
    PAYOUT_API_PORT: String(apiPort),
    PAYOUT_API_TOKENS: JSON.stringify({ [TOKEN]: { name: 'bench', namespaces: ['*'] } }),
    PAYOUT_LOG_LEVEL: 'warn',
  });
  try {
    await waitForHttp(`http://127.0.0.1:${apiPort}/ping`);
    await new Promise((r) => setTimeout(r, 300));
    const baseline = await load('bare', `http://127.0.0.1:${barePort}`);
    const before = Number((await admin`select count(*) from t_request`)[0]!.count);
    const measured = await load('api', `http://127.0.0.1:${apiPort}`, false);
    const stored = Number((await admin`select count(*) from t_request`)[0]!.count) - before;
    const ratio = measured.rps / baseline.rps;
    const table = [
      `api benchmark: POST /api/v1/payout-by-client, ${CONNECTIONS} connections, ${DURATION}s, unique external ids (autocannon idReplacement for both), durable commits`,
      '',
      '| target | req/s | p99 ms | 2xx | errors |',
      '|---|---|---|---|---|',
      ...[baseline, measured].map((r) => `| ${r.name} | ${Math.round(r.rps)} | ${r.p99} | ${r.ok} | ${r.errors} |`),
      '',
      `api / bare: ${(ratio * 100).toFixed(1)}%  (goal ≥ 50%)`,
      `rows stored during the api run: ${stored} (2xx answered: ${measured.ok}) → ${stored >= measured.ok ? 'every 2xx is stored' : 'MISSING ROWS'}`,
    ].join('\n');
    console.log(table);
    mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
    writeFileSync(path.join(ROOT, 'bench/results/api.md'), `${table}\n`);
    return [
      { measure: 'ceiling: bare Fastify route, req/s (p99 ms)', value: `${Math.round(baseline.rps)} (${baseline.p99})`, ratio: '100%' },
      { measure: 'api POST /payout-by-client accepted, req/s (p99 ms)', value: `${Math.round(measured.rps)} (${measured.p99})`, ratio: `${(ratio * 100).toFixed(1)}%` },
    ];
  } finally {
    await Promise.all([stopChild(bare), stopChild(api)]);
    await admin.end();
    await pg.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchApi();
