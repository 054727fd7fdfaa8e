// npm run bench:ledger-ab -- <other source tree> — the accounts stand-in of this tree against the
// one of another checkout (e.g. `git worktree add /tmp/old <commit>`; it needs node_modules, a
// symlink to this tree's will do), alternated on one durable Postgres: each run starts that tree's
// stand-in, funds BENCH_ITEMS fresh accounts and makes the sender's two calls (a locking read and
// a reservation write per batch of 500) for them, as bench:gates's "ledger alone". Rates swing run
// to run on a shared 2-core machine; the CPU the stand-in and Postgres spent per payout is the
// steadier figure, so both are printed per run and summarized per tree.
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createAccountsClient } from '../src/accounts/client.ts';
import { connect } from '../src/db/connect.ts';
import { migrate } from '../src/db/migrate.ts';
import { senderLedger } from '../src/oebs-gate/ledger.ts';
import { accountsMigrations } from '../src/standins/accounts/migrations.ts';
import { mapLimit } from '../src/worker/concurrency.ts';
import { ROOT, benchPostgres, cpuByTree, freePort, stopChild, waitForHttp } from './support.ts';
import { spawn } from 'node:child_process';

const other = process.argv[2];
if (!other) {
  console.error('usage: npm run bench:ledger-ab -- <path of another source tree>');
  process.exit(2);
}
const trees: [string, string][] = [['this', ROOT], ['other', path.resolve(other)]];
const N = Number(process.env.BENCH_ITEMS ?? 4000);
const ROUNDS = Number(process.env.BENCH_RUNS ?? 4);
const LIMIT = 500;

const pg = await benchPostgres();
const sql = connect(pg.url, { max: 2 });
// This tree's migrations (the newer schema, if they differ): both stand-ins run on it.
await migrate(sql);
await migrate(sql, accountsMigrations);
const postmaster = Number(readFileSync(path.join(pg.clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
let clientSeq = 0;
const runs = new Map<string, { rate: number; cpuMs: number }[]>(trees.map(([name]) => [name, []]));

async function runOnce(name: string, dir: string, counted: boolean) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(dir, 'src/cli.ts'), 'accounts'], {
    cwd: dir, env: { ...process.env, PAYOUT_DB_URL: pg.url, PAYOUT_ACCOUNTS_PORT: String(port), PAYOUT_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitForHttp(`${url}/ping`);
    const client = createAccountsClient({ url, timeoutMs: 60_000 });
    const clients = Array.from({ length: N }, () => String(++clientSeq));
    const account = (c: string) => ({ namespace: 'taxi', client_id: c, contract_id: '7', service_id: '124', currency: 'RUB' });
    await mapLimit(clients, 32, (c) => client.writeBatch({
      event_type: 'accrual', external_id: randomUUID(), events: [{ loc: { ...account(c), type: 'payout' }, type: 'credit', amount: '10.5' }],
    }));
    const ledger = senderLedger(client, 30);
    const deploymentId = randomBytes(16).toString('hex');
    const roots = new Map([[child.pid!, 'stand-in'], [postmaster, 'postgres']]);
    const cpuBefore = cpuByTree(roots);
    const started = performance.now();
    for (let i = 0; i < N; i += LIMIT) {
      const items = clients.slice(i, i + LIMIT).map((c, j) => ({ account: account(c), key: { deploymentId, payoutId: String(i + j + 1), createdAt: new Date() }, fromBatchId: null }));
      const views = await ledger.lockAndRead(items);
      const held = await ledger.reserve(items.map((it, j) => {
        const v = views[j]!;
        if (!v.locked) throw new Error(`${name}: account of client ${it.account.client_id} not locked: ${v.reason}`);
        return { key: it.key, account: it.account, lockUid: v.lockUid, r: { amount: '10.50', dryRun: false, cpfs: [] } };
      }));
      if (held.some((h) => h.kind !== 'held')) throw new Error(`${name}: a reservation was not written`);
    }
    const seconds = (performance.now() - started) / 1000;
    const cpuAfter = cpuByTree(roots);
    const cpu = (who: string) => (cpuAfter.get(who) ?? 0) - (cpuBefore.get(who) ?? 0);
    const run = { rate: N / seconds, cpuMs: (cpu('stand-in') + cpu('postgres')) / N };
    if (counted) runs.get(name)!.push(run);
    console.log(`${counted ? name.padEnd(5) : `${name} (warm-up, not counted)`} ${Math.round(run.rate)} payouts/s, ${run.cpuMs.toFixed(3)} ms CPU per payout (stand-in ${(cpu('stand-in') / N).toFixed(3)}, Postgres ${(cpu('postgres') / N).toFixed(3)})`);
  } finally {
    await stopChild(child);
  }
}

try {
  // A first round warms Postgres up (the first run after its start is much slower) and is not
  // counted; then alternate, swapping which goes first each round: the run order alone moves results.
  for (const [name, dir] of trees) await runOnce(name, dir, false);
  for (let r = 0; r < ROUNDS; r++) for (const [name, dir] of r % 2 ? [...trees].reverse() : trees) await runOnce(name, dir, true);
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
  };
  for (const [name, rs] of runs) {
    console.log(`${name}: best ${Math.round(Math.max(...rs.map((x) => x.rate)))} payouts/s, median ${median(rs.map((x) => x.cpuMs)).toFixed(3)} ms CPU per payout`);
  }
} finally {
  await sql.end();
  await pg.cleanup();
}
