// End to end through the whole system as `npm start` runs it (supervisor, stand-ins, api, gates as
// separate processes, the built program in dist/) on a durable Postgres: N clients with one funded
// account each, N requests posted through the api; how fast payouts reach `pending` (sent to OEBS)
// and `done`, and who used the CPU meanwhile (per process, from /proc), so that a second replica
// that adds nothing comes with the resource that was saturated.
import autocannon from 'autocannon';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAccountsClient } from '../src/accounts/client.ts';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { loadConfig } from '../src/config.ts';
import { connect, type Sql } from '../src/db/connect.ts';
import { mapLimit } from '../src/worker/concurrency.ts';
import type { Row } from './api.ts';
import { ROOT, benchPostgres, build, childProcesses, cpuMeter, cpuTable, freePort, stopChild, waitForHttp, type CpuReport } from './support.ts';

const N = Number(process.env.BENCH_E2E_ITEMS ?? 4000);
const CONNECTIONS = Number(process.env.BENCH_E2E_CONNECTIONS ?? 32);
/** BENCH_E2E_STATEMENTS=N: also list the N statements that took most of Postgres's time in each round. */
const STATEMENTS = Number(process.env.BENCH_E2E_STATEMENTS ?? 0);
/** BENCH_E2E_ONE=1: only the round with one replica of each gate, on PAYOUT_TOPICS's backend (quicker, for comparing two builds). */
const ONE_ONLY = process.env.BENCH_E2E_ONE === '1';
const TOKEN = 'bench-token';
const BENCH = 'bench process (load generator)';

/** The Postgres backends of each component, by the application_name its pool connects with. */
const BACKENDS: Record<string, string> = {
  'payout-api': 'api', 'payout-req-gate': 'req-gate', 'payout-oebs-gate': 'oebs-gate', 'payout-tasks': 'tasks',
  'payout-accounts': 'accounts stand-in', 'payout-oebs-emulator': 'OEBS stand-in',
};
const PG_REST = 'postgres: the rest (background, start-up, the bench\'s own queries)';
/** Who is not payout: its CPU (and its backends') would be on other machines in a deployment. */
const NOT_PAYOUT = new Set(['accounts stand-in', 'OEBS stand-in', BENCH].flatMap((n) => [n, `postgres for ${n}`]));

/** Names each live backend's process after the component it serves ("postgres for api"). */
async function nameBackends(sql: Sql, roots: Map<number, string>) {
  const rows = await sql<{ pid: number; app: string }[]>`select pid, application_name as app from pg_stat_activity where backend_type = 'client backend'`;
  for (const r of rows) {
    const who = BACKENDS[r.app];
    if (who && !roots.has(r.pid)) roots.set(r.pid, `postgres for ${who}`);
  }
}

/** What each `payout start` child is called in the CPU table (by its command, the last argument). */
const COMPONENTS: Record<string, string> = {
  api: 'api', 'req-gate': 'req-gate', 'oebs-gate': 'oebs-gate', tasks: 'tasks',
  accounts: 'accounts stand-in', 'oebs-emulator': 'OEBS stand-in',
};


async function until(sql: Sql, query: string, timeoutMs = 600_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await sql.unsafe(query);
    if (row!.done) return performance.now();
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${query}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Posts one request for each client first … first+N-1 with autocannon (keep-alive connections,
 * bodies built in a setupRequest hook: a fraction of the CPU `fetch` took per request); every
 * answer must be a 201 (a new request), or the round measures nothing.
 */
async function post(apiUrl: string, first: number): Promise<{ ms: number; cpuMs: number }> {
  let next = first;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await autocannon({
    url: `${apiUrl}/api/v1/payout-by-client`,
    connections: CONNECTIONS,
    amount: N,
    timeout: 60,
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    requests: [{
      setupRequest: (req) => {
        const c = next++;
        req.body = `{"external_id":"bench-${c}","client_id":${c},"namespace":"taxi"}`;
        return req;
      },
    }],
  });
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const created = r.statusCodeStats?.['201']?.count ?? 0;
  if (created !== N || next !== first + N) {
    throw new Error(`api: ${created} of ${N} requests answered 201 (answers ${JSON.stringify(r.statusCodeStats)}, ` +
      `${r.errors} errors, ${r.timeouts} timeouts, ${next - first} bodies built)`);
  }
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

interface Round {
  replicas: number;
  pendingPerS: number;
  donePerS: number;
  posted: { ms: number; cpuMs: number };
  cpu: CpuReport;
  /** Not measured: `payout start` until the api and the accounts stand-in answer; funding the accounts. */
  setup: { startMs: number; fundMs: number };
  /** From the first post to the first payout pending and done, and to the last done. */
  firstMs: { pending: number; done: number };
  roundMs: number;
  statements: Statement[];
  /** The topics backend of the round. */
  topics: Backend;
}

type Backend = 'postgres' | 'nats';
const NATS_URL = process.env.PAYOUT_NATS_URL ?? 'nats://127.0.0.1:4222';
/** Topic paths of this run's NATS round (and so its streams), apart from every other run's and deployment's. */
const NATS_BASE = `/payout-bench/r${process.pid}x${Date.now().toString(36)}/oebs`;

/** Whether a NATS server with JetStream answers at PAYOUT_NATS_URL (the NATS round needs one). */
async function natsUp(): Promise<boolean> {
  try {
    const nc = await natsConnect({ servers: NATS_URL, timeout: 2000, reconnect: false });
    try {
      await (await jetstreamManager(nc)).getAccountInfo();
      return true;
    } finally {
      await nc.close();
    }
  } catch {
    return false;
  }
}

/** Deletes the streams of this run's NATS round (their subjects start with its base). */
async function deleteBenchStreams(): Promise<void> {
  const nc = await natsConnect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    const prefix = NATS_BASE.slice(1).replaceAll('/', '_');
    for await (const name of jsm.streams.names()) if (name.startsWith(prefix)) await jsm.streams.delete(name);
  } finally {
    await nc.close();
  }
}

interface Statement { db: string; calls: number; ms: number; rows: number; query: string }

/** The statements that took most of the server's execution time since the reset, every database. */
async function topStatements(sql: Sql, n: number): Promise<Statement[]> {
  const rows = await sql<{ db: string; calls: string; ms: number; rows: string; query: string }[]>`
    select d.datname as db, s.calls, s.total_exec_time as ms, s.rows, s.query
    from pg_stat_statements s join pg_database d on d.oid = s.dbid
    order by s.total_exec_time desc limit ${n}`;
  return rows.map((r) => ({ db: r.db, calls: Number(r.calls), ms: r.ms, rows: Number(r.rows), query: r.query }));
}

async function round(pgUrl: string, clusterDir: string, sql: Sql, replicas: number, first: number, topics: Backend = 'postgres'): Promise<Round> {
  const [apiPort, accountsPort] = [await freePort(), await freePort()];
  const namespaces = loadConfig({}).namespaces;
  const nats = topics === 'nats'
    ? { PAYOUT_TOPICS: 'nats', PAYOUT_NATS_URL: NATS_URL, PAYOUT_TOPIC_BASES: JSON.stringify(Object.fromEntries(namespaces.map((ns) => [ns, NATS_BASE]))) }
    : { PAYOUT_TOPICS: 'postgres' };
  const accountsUrl = `http://127.0.0.1:${accountsPort}`;
  const env: Record<string, string | undefined> = {
    ...process.env, PAYOUT_DB_URL: pgUrl, PAYOUT_API_PORT: String(apiPort), PAYOUT_ACCOUNTS_PORT: String(accountsPort),
    PAYOUT_ACCOUNTS_URL: accountsUrl, PAYOUT_API_TOKENS: JSON.stringify({ [TOKEN]: { name: 'bench', namespaces: ['*'] } }),
    PAYOUT_GATE_REPLICAS: String(replicas), PAYOUT_REQ_GATE_INTERVAL: '100ms', PAYOUT_OEBS_GATE_INTERVAL: '100ms',
    PAYOUT_LOG_LEVEL: 'warn', PAYOUT_EXIT_WITH_PARENT: '1', PAYOUT_DATA_DIR: path.join(ROOT, '.data', `bench-${process.pid}`), ...nats,
  };
  delete env.PAYOUT_FROM_SOURCE; // the built program, as users run it
  const spawnedAt = performance.now();
  const system = spawn(path.join(ROOT, 'bin/payout'), ['start'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], env });
  try {
    await waitForHttp(`http://127.0.0.1:${apiPort}/ping`, 60_000);
    await waitForHttp(`${accountsUrl}/ping`, 60_000);

    // Who to measure: bin/payout execs node, so the supervisor is `system`; its children are the
    // components; the bench's own Postgres (its postmaster and every backend) is a tree of its own.
    const roots = new Map<number, string>([[process.pid, BENCH], [system.pid!, 'supervisor']]);
    roots.set(Number(readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]), PG_REST);
    const children = childProcesses(system.pid!);
    for (const c of children) {
      if (!c.args.some((a) => a.endsWith(path.join('dist', 'cli.js')))) throw new Error(`not the built program: ${c.args.join(' ')}`);
      roots.set(c.pid, COMPONENTS[c.args.at(-1)!] ?? c.args.at(-1)!);
    }
    if (children.length !== 4 + 2 * replicas) throw new Error(`expected ${4 + 2 * replicas} components, found ${children.length}`);

    const upAt = performance.now();
    // One funded account per client, 500 accruals a call (setup, not measured).
    const accounts = createAccountsClient({ url: accountsUrl, timeoutMs: 60_000 });
    const chunks = Array.from({ length: Math.ceil(N / 500) }, (_, k) =>
      Array.from({ length: Math.min(500, N - k * 500) }, (_, i) => String(first + k * 500 + i)));
    await mapLimit(chunks, 2, async (clients) => {
      const outcomes = await accounts.writeBatches(clients.map((c) => ({
        event_type: 'accrual', external_id: randomUUID(),
        events: [{ loc: { namespace: 'taxi', type: 'payout', client_id: c, contract_id: '7', service_id: '124', currency: 'RUB' }, type: 'credit', amount: '10.5' }],
      })));
      const refused = outcomes.find((o) => o.kind !== 'created');
      if (refused) throw new Error(`funding the bench's accounts: ${JSON.stringify(refused)}`);
    });

    if (STATEMENTS) await sql`select pg_stat_statements_reset()`;
    await nameBackends(sql, roots);
    const meter = cpuMeter(roots);
    const startedAt = Date.now();
    const started = performance.now();
    const posted = await post(`http://127.0.0.1:${apiPort}`, first);
    const last = first + N - 1;
    const range = `client_id between ${first} and ${last}`;
    const sent = await until(sql, `select count(*) filter (where status <> 'new') = ${N} as done from t_payout where ${range}`);
    const done = await until(sql, `select count(*) filter (where status = 'done') = ${N} as done from t_payout where ${range}`);
    await nameBackends(sql, roots); // backends the pools opened during the round
    const cpu = meter.stop();
    const statements = STATEMENTS ? await topStatements(sql, STATEMENTS) : [];
    // The pipeline's latency, a fixed cost at the start of a round that N must dwarf.
    const [firsts] = await sql.unsafe(`select
        extract(epoch from min(h.created_at) filter (where h.status = 'pending')) * 1000 as pending,
        extract(epoch from min(h.created_at) filter (where h.status = 'done')) * 1000 as done
      from t_payout p join t_payout_history h on h.payout_id = p.id where p.client_id between ${first} and ${last}`);
    const firstMs = { pending: Number(firsts!.pending) - startedAt, done: Number(firsts!.done) - startedAt };
    const perSecond = (t: number) => Math.round(N / ((t - started) / 1000));
    const setup = { startMs: upAt - spawnedAt, fundMs: started - upAt };
    return { replicas, pendingPerS: perSecond(sent), donePerS: perSecond(done), posted, cpu, setup, firstMs, roundMs: done - started, statements, topics };
  } finally {
    await stopChild(system);
    if (topics === 'nats') await deleteBenchStreams();
  }
}

const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
/** CPU at least this busy (ours, or the whole machine's) in the round with two replicas: CPU-bound. */
const SATURATED = 0.85;

/**
 * Payout's own CPU per payout (its processes and their Postgres backends, and Postgres's
 * background work), apart from the stand-ins' and the load generator's, which a deployment runs
 * elsewhere; and the rate that CPU would allow payout alone on this machine's cores.
 */
function split(r: Round) {
  const ms = (pick: (name: string) => boolean) => r.cpu.byName.filter((c) => pick(c.name)).reduce((a, c) => a + c.ms, 0) / N;
  const own = ms((n) => !NOT_PAYOUT.has(n));
  return { own, others: ms((n) => NOT_PAYOUT.has(n)), postgres: ms((n) => n.startsWith('postgres')), aloneMax: Math.round((r.cpu.cores * 1000) / own) };
}

const label = (r: Round) => `${r.replicas} replica(s) of each gate${r.topics === 'nats' ? ', NATS topics' : ''}`;

function report(r: Round): string[] {
  const top = r.cpu.byName[0]!;
  const s = split(r);
  return [
    `## ${label(r)}`,
    '',
    `payouts reaching pending: ${r.pendingPerS}/s; requests → done: ${r.donePerS}/s`,
    `from the first post: first payout pending after ${(r.firstMs.pending / 1000).toFixed(1)} s, first done after ` +
      `${(r.firstMs.done / 1000).toFixed(1)} s, the last done after ${(r.roundMs / 1000).toFixed(1)} s`,
    `posted ${N} requests in ${(r.posted.ms / 1000).toFixed(1)} s (${Math.round(N / (r.posted.ms / 1000))} req/s accepted, every one 201); ` +
      `the load generator used ${(r.posted.cpuMs / N).toFixed(2)} ms CPU per request while posting`,
    `top CPU consumer: ${top.name}, ${pct(top.ms / r.cpu.totalMs)} of our CPU`,
    `(not measured: \`payout start\` answered in ${(r.setup.startMs / 1000).toFixed(1)} s, funding ${N} accounts took ${(r.setup.fundMs / 1000).toFixed(1)} s)`,
    '',
    `CPU from the first post to the last payout done (utime+stime from /proc, per payout):`,
    '',
    ...cpuTable(r.cpu, N, 'payout'),
    '',
    `Postgres in all (every backend and its background work): ${s.postgres.toFixed(2)} ms/payout. ` +
      `Payout's own processes and their backends: ${s.own.toFixed(2)} ms/payout; the stand-ins and the load generator with theirs: ` +
      `${s.others.toFixed(2)} ms/payout. With the stand-ins elsewhere, as in a deployment, payout's own CPU would allow at most ` +
      `~${s.aloneMax} payouts/s end to end on these ${r.cpu.cores} cores.`,
    '',
    ...(r.statements.length ? [
      `Statements by Postgres execution time (pg_stat_statements, BENCH_E2E_STATEMENTS=${STATEMENTS}; planning and commit not included):`,
      '',
      '| database | calls/payout | ms/payout | rows/call | statement |',
      '|---|---|---|---|---|',
      ...r.statements.map((s) => `| ${s.db} | ${(s.calls / N).toFixed(2)} | ${(s.ms / N).toFixed(3)} | ${(s.rows / Math.max(1, s.calls)).toFixed(1)} | \`${s.query.replace(/\s+/g, ' ').slice(0, 160).replaceAll('|', '\\|')}\` |`),
      '',
    ] : []),
  ];
}

function rows(r: Round): Row[] {
  const own = split(r);
  const top = r.cpu.byName[0]!;
  const name = `end to end, ${label(r)}`;
  return [
    { measure: `${name}: payouts reaching pending/s`, value: String(r.pendingPerS), ratio: '' },
    { measure: `${name}: requests → done/s`, value: String(r.donePerS), ratio: '' },
    { measure: `${name}: machine CPU busy (ours; whole machine)`, value: `${pct(r.cpu.busy)}; ${pct(r.cpu.machineBusy)}`, ratio: `of ${r.cpu.cores} cores` },
    { measure: `${name}: top CPU consumer, ms/payout`, value: `${top.name}, ${(top.ms / N).toFixed(2)}`, ratio: `${pct(top.ms / r.cpu.totalMs)} of our CPU` },
    { measure: `${name}: payout's own CPU (without stand-ins and load generator), ms/payout`, value: own.own.toFixed(2), ratio: `payout alone: ≤ ~${own.aloneMax}/s on ${r.cpu.cores} cores` },
  ];
}

/**
 * The question: does a second replica of each gate help, and if not, what is saturated?
 * Judged on the round with two: it had the parallelism, so a full CPU there is the limit.
 */
function verdict(one: Round, two: Round): Row {
  const gain = two.donePerS / one.donePerS - 1;
  const { cpu } = two;
  const top = `${cpu.byName[0]!.name} ${pct(cpu.byName[0]!.ms / cpu.totalMs)}`;
  const busy = `${pct(cpu.busy)} ours, ${pct(cpu.machineBusy)} whole machine, with two`;
  const why = gain >= 0.1
    ? 'helps'
    : cpu.busy >= SATURATED
      ? `no: CPU saturated by the system (${busy}); most: ${top}`
      : cpu.machineBusy >= SATURATED
        ? `no: CPU saturated, partly by processes outside the bench (${busy}); most of ours: ${top}; rerun on a quiet machine`
        : `no, and CPU not saturated (${busy}): the limit is waiting (locks, round trips, intervals), not CPU`;
  return { measure: 'end to end, second replica of each gate: requests → done/s', value: `${gain >= 0 ? '+' : ''}${(gain * 100).toFixed(0)}%`, ratio: why };
}

export async function benchE2e(): Promise<Row[]> {
  build();
  const load = os.loadavg().map((l) => l.toFixed(2)).join(', ');
  const pg = await benchPostgres({ statements: STATEMENTS > 0 });
  const sql = connect(pg.url, { max: 2 });
  if (STATEMENTS) await sql`create extension if not exists pg_stat_statements`;
  try {
    const alone: Backend = process.env.PAYOUT_TOPICS === 'nats' ? 'nats' : 'postgres';
    const one = await round(pg.url, pg.clusterDir, sql, 1, 1_000_000, ONE_ONLY ? alone : 'postgres');
    const two = ONE_ONLY ? undefined : await round(pg.url, pg.clusterDir, sql, 2, 2_000_000);
    // The other topics backend, when a NATS server answers (BENCH_E2E_NATS=0: skip it).
    const nats = ONE_ONLY ? `not run (BENCH_E2E_ONE=1)` : process.env.BENCH_E2E_NATS === '0' ? 'skipped (BENCH_E2E_NATS=0)'
      : (await natsUp()) ? undefined : `skipped: no NATS server with JetStream at ${NATS_URL}`;
    const onNats = nats === undefined ? await round(pg.url, pg.clusterDir, sql, 1, 3_000_000, 'nats') : undefined;
    const all = [...rows(one), ...(two ? [...rows(two), verdict(one, two)] : []), ...(onNats ? rows(onNats) : [])];
    const text = [
      `# end to end — ${new Date().toISOString()}`,
      '',
      `\`npm run bench:e2e\`: the built program (dist/, \`bin/payout start\`), ${N} payouts a round, ${CONNECTIONS} connections ` +
        `(autocannon), durable embedded Postgres, stand-ins on the same machine; ${os.cpus().length} cores, load average before: ${load}.`,
      '',
      ...report(one),
      ...(two ? [...report(two), `second replica of each gate: ${verdict(one, two).value} requests → done/s; ${verdict(one, two).ratio}`, ''] : []),
      ...(onNats ? report(onNats) : ONE_ONLY ? [] : [`## NATS topics: ${nats}`]),
    ].join('\n');
    console.log(text);
    mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
    writeFileSync(path.join(ROOT, 'bench/results/e2e.md'), `${text}\n`);
    return all;
  } finally {
    await sql.end();
    await pg.cleanup();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchE2e();
