// `payout start` (npm start): the whole system on one machine. Starts the embedded Postgres (or
// uses PAYOUT_DB_URL), applies migrations, then runs every component as its own OS process, as
// in production, restarting one that dies. Ctrl-C stops them all, then Postgres.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from './config.ts';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolveDbUrl } from './db/database.ts';
import { chooseLogFormat, type Logger } from './log.ts';

/**
 * How a child is started: the way this process runs, compiled (dist/cli.js, plain node) or from
 * source through tsx. Both paths are resolved from this file, never from the working directory,
 * so `payout start` works from any folder.
 */
function childArgs(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  if (import.meta.url.endsWith('.js')) return [path.join(here, 'cli.js')];
  return ['--import', import.meta.resolve('tsx'), path.join(here, 'cli.ts')];
}

/** Short intervals for a local run; anything set in the environment wins. */
const LOCAL_DEFAULTS: Record<string, string> = {
  PAYOUT_REQ_GATE_INTERVAL: '1s',
  PAYOUT_OEBS_GATE_INTERVAL: '1s',
  PAYOUT_TASKS_INTERVAL: '10s',
  PAYOUT_STUCK_AFTER: 'new=2m,pending=2m,confirmed=5m',
  // A failing payout is tried again within seconds, and parked within minutes, not hours.
  PAYOUT_RETRY_BACKOFF_BASE: '1s',
  PAYOUT_RETRY_BACKOFF_CAP: '30s',
};

/** One supervisor per data folder: a second `payout start` would fight the first over Postgres. */
function claimPidFile(dataDir: string) {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'supervisor.pid');
  if (existsSync(file)) {
    const pid = Number(readFileSync(file, 'utf8'));
    let alive = false;
    try {
      alive = pid > 0 && pid !== process.pid && (process.kill(pid, 0), true);
    } catch {}
    if (alive) throw new Error(`payout is already running from this data folder (supervisor pid ${pid}); stop it first`);
  }
  writeFileSync(file, String(process.pid));
  process.on('exit', () => rmSync(file, { force: true }));
}

interface Component {
  name: string;
  args: string[];
  child?: ChildProcess;
  restarts: number;
}

export async function runSupervisor(config: Readonly<Config>, log: Logger, args: string[], componentNames: string[]) {
  const tokens: Record<string, string> = {};
  // Never printed: a configured token or a password is a secret; only the laptop's dev-token is shown.
  let tokenLine = 'from PAYOUT_API_TOKENS (not shown)';
  if (config.api.tokens.size === 0) {
    if (config.env !== 'dev') throw new Error(`PAYOUT_API_TOKENS: required outside PAYOUT_ENV=dev (PAYOUT_ENV=${config.env})`);
    // A local run with no tokens configured gets a fixed one, so the README's curl lines work.
    // The api listens on 127.0.0.1 unless told otherwise; production sets PAYOUT_API_TOKENS.
    tokens.PAYOUT_API_TOKENS = JSON.stringify({ 'dev-token': { name: 'dev', namespaces: ['*'] } });
    tokenLine = 'Authorization: Bearer dev-token';
  }

  if (!config.db.url) claimPidFile(config.db.dataDir);
  // A Postgres still running on our data folder with no live supervisor is a leftover of a
  // killed run: stop it and start our own, so that Ctrl-C stops it again.
  const { url, embedded } = await resolveDbUrl(config, log, 'restart');
  // Children write to this process's stdout, which they inherit: they log in the format chosen here
  // (pretty on a terminal or when asked, JSON otherwise), so every line of a run looks alike.
  const logFormat = chooseLogFormat(config.logFormat, process.stdout.isTTY === true);
  const env: Record<string, string> = {
    ...LOCAL_DEFAULTS, ...(process.env as Record<string, string>), ...tokens, PAYOUT_DB_URL: url, PAYOUT_LOG_FORMAT: logFormat,
  };
  const cliArgs = childArgs();

  const replicas = (name: string) => (name === 'req-gate' || name === 'oebs-gate' ? config.gateReplicas : 1);
  const components: Component[] = componentNames.flatMap((name) =>
    Array.from({ length: replicas(name) }, (_, i) => ({ name: replicas(name) > 1 ? `${name}#${i + 1}` : name, args: [name], restarts: 0 })));
  let stopping = false;
  const start = (c: Component) => {
    const child = spawn(process.execPath, [...cliArgs, ...c.args], {
      env,
      // The IPC channel is a lifeline: a child whose supervisor dies (even by SIGKILL) sees it
      // close and stops itself, instead of holding the ports for the next start.
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    c.child = child;
    child.on('exit', (code, signal) => {
      if (stopping) return;
      c.restarts++;
      const delay = Math.min(10_000, 500 * 2 ** Math.min(c.restarts, 5));
      log.error({ component: c.name, code, signal, restarts: c.restarts, restartInMs: delay }, `${c.name} died; restarting`);
      setTimeout(() => !stopping && start(c), delay);
    });
  };
  components.forEach(start);

  const api = `http://${config.api.host}:${config.api.port}`;
  console.log(`
payout is starting: ${components.map((c) => c.name).join(', ')}
  api     ${api}/api/v1   (docs: ${api}/docs)
  console ${api}/console
  token   ${tokenLine}
  ledger  ${config.accounts.url}
  db      ${withoutPassword(url)}
Ctrl-C stops everything${embedded ? ', the embedded Postgres included' : ''}.
`);

  const stopAll = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping every component');
    await Promise.all(components.map((c) => new Promise<void>((resolve) => {
      if (!c.child || c.child.exitCode !== null || c.child.signalCode !== null) return resolve();
      c.child.once('exit', () => resolve());
      c.child.kill('SIGTERM');
    })));
    await embedded?.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stopAll('SIGINT'));
  process.on('SIGTERM', () => void stopAll('SIGTERM'));
  // PAYOUT_EXIT_WITH_PARENT=1 (tests, benchmarks): a parent killed without a chance to stop us
  // (a test runner's timeout, SIGKILL) must not leave a whole system running behind it. The
  // parent's pid changes when it is gone (we are re-parented); under systemd it never does.
  if (process.env.PAYOUT_EXIT_WITH_PARENT === '1') {
    const parent = process.ppid;
    setInterval(() => process.ppid !== parent && void stopAll('parent exited'), 1000).unref();
  }
}

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`: the banner never shows a password. */
export function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const k of [...u.searchParams.keys()]) if (/pass|secret|token/i.test(k)) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    return '(a URL that does not parse; not shown)';
  }
}
