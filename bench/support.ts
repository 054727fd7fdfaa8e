// Shared plumbing for the benchmarks: a durable throwaway Postgres, child processes, waiting, and
// who used the CPU.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbedded, type EmbeddedServer } from '../src/db/embedded.ts';
import { freePort } from '../test/support/ports.ts';

export { freePort };

export const ROOT = path.resolve(import.meta.dirname, '..');

/** A fresh embedded cluster with default (durable) settings: fsync and synchronous_commit on. */
/** `statements`: load pg_stat_statements, so a bench can say which statements took the server's time. */
export async function benchPostgres(opts: { statements?: boolean } = {}): Promise<EmbeddedServer & { cleanup(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'payout-bench-'));
  chmodSync(dir, 0o755);
  const flags = ['-c', 'max_connections=200', ...(opts.statements ? ['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track=all'] : [])];
  const server = await startEmbedded({ dataDir: dir, port: await freePort(), postgresFlags: flags });
  return {
    ...server,
    async cleanup() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Measure what users run: `bin/payout` runs dist/ when it is there (plain node, no tsx), so build it. */
export function build() {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

/**
 * `script`: TypeScript runs through tsx, JavaScript (the build in dist/) with plain node.
 * `stdin`: give the child a pipe on standard input (to tell it when to start).
 */
export function spawnNode(script: string, args: string[], env: Record<string, string> = {}, stdin = false): ChildProcess {
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  return spawn(process.execPath, [...loader, path.join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'inherit'],
  });
}

export async function waitForHttp(url: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

// CPU accounting from /proc (Linux): who used the machine during a measurement. A ceiling is only
// a ceiling when the load generator is not the bottleneck, and "a second replica adds nothing"
// means something only next to which resource was saturated.

const TICK_MS = (() => {
  try {
    return 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  } catch {
    return 10; // USER_HZ is 100 on every Linux we run on
  }
})();

interface ProcCpu { ppid: number; ms: number }

/** utime+stime of the process (all its threads) and of the children it has reaped, in ms. */
function procCpu(pid: number): ProcCpu | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After "pid (comm) ": state, ppid, …; utime, stime, cutime, cstime are fields 14–17.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ms: (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS };
  } catch {
    return undefined; // gone between listing /proc and reading it
  }
}

function allPids(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

/** The live children of `pid`, with their command lines. */
export function childProcesses(pid: number): { pid: number; args: string[] }[] {
  const out: { pid: number; args: string[] }[] = [];
  for (const p of allPids()) {
    if (procCpu(p)?.ppid !== pid) continue;
    try {
      out.push({ pid: p, args: readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean) });
    } catch {}
  }
  return out;
}

/**
 * CPU ms used so far per name: every live process counts for its nearest ancestor (itself
 * included) in `roots` (pid → name), with the CPU of the children it has reaped, so a postmaster's
 * exited backends stay counted. Processes under no root are left out.
 */
export function cpuByTree(roots: ReadonlyMap<number, string>): Map<string, number> {
  const procs = new Map<number, ProcCpu>();
  for (const pid of allPids()) {
    const p = procCpu(pid);
    if (p) procs.set(pid, p);
  }
  const totals = new Map<string, number>();
  for (const [pid, p] of procs) {
    let owner: number | undefined = pid;
    while (owner !== undefined && owner > 1 && !roots.has(owner)) owner = procs.get(owner)?.ppid;
    const name = owner === undefined ? undefined : roots.get(owner);
    if (name !== undefined) totals.set(name, (totals.get(name) ?? 0) + p.ms);
  }
  return totals;
}

/** The whole machine's CPU time so far (every process, ours or not), busy and total, in ms. */
function machineCpu(): { busy: number; total: number } {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal (guest times are already inside user/nice)
  const t = ticks.slice(0, 8).map(Number);
  const total = t.reduce((a, b) => a + b, 0);
  return { busy: (total - t[3]! - t[4]!) * TICK_MS, total: total * TICK_MS };
}

export interface CpuReport {
  wallMs: number;
  cores: number;
  /** CPU ms per name, largest first, with how many processes the name had when measuring began. */
  byName: { name: string; processes: number; ms: number }[];
  /** Sum of byName. */
  totalMs: number;
  /** Our processes' CPU ÷ (wall × cores). */
  busy: number;
  /** Every process on the machine (/proc/stat), ours and others' (the machine is shared). */
  machineBusy: number;
}

/**
 * Starts measuring the CPU of the process trees in `roots` (pid → name; one name may cover several
 * pids). `roots` may grow before stop(): a process started meanwhile (a Postgres backend a pool
 * opened) then counts for its own name from its start, no longer for its parent's.
 */
export function cpuMeter(roots: ReadonlyMap<number, string>): { stop(): CpuReport } {
  const start = { at: performance.now(), cpu: cpuByTree(roots), machine: machineCpu() };
  return {
    stop() {
      const processes = new Map<string, number>();
      for (const name of roots.values()) processes.set(name, (processes.get(name) ?? 0) + 1);
      const wallMs = performance.now() - start.at;
      const cpu = cpuByTree(roots);
      const machine = machineCpu();
      const cores = os.cpus().length;
      const byName = [...processes].map(([name, n]) => ({ name, processes: n, ms: (cpu.get(name) ?? 0) - (start.cpu.get(name) ?? 0) }))
        .sort((a, b) => b.ms - a.ms);
      const totalMs = byName.reduce((a, b) => a + b.ms, 0);
      return {
        wallMs, cores, byName, totalMs,
        busy: totalMs / (wallMs * cores),
        machineBusy: (machine.busy - start.machine.busy) / (machine.total - start.machine.total),
      };
    },
  };
}

/** A markdown table of a CpuReport, per unit of work (`per`: e.g. 4000 payouts). */
export function cpuTable(r: CpuReport, per: number, unit: string): string[] {
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  return [
    `| process | CPU ms | ms/${unit} | share of our CPU |`,
    '|---|---|---|---|',
    ...r.byName.map((c) => `| ${c.name}${c.processes > 1 ? ` (×${c.processes})` : ''} | ${Math.round(c.ms)} | ${(c.ms / per).toFixed(2)} | ${pct(c.ms / r.totalMs)} |`),
    `| **total** | ${Math.round(r.totalMs)} | ${(r.totalMs / per).toFixed(2)} | 100% |`,
    '',
    `${(r.totalMs / 1000).toFixed(1)} s CPU over ${(r.wallMs / 1000).toFixed(1)} s wall on ${r.cores} cores: ` +
      `our processes kept ${pct(r.busy)} of the machine busy; the whole machine (anyone's processes, /proc/stat) was ${pct(r.machineBusy)} busy.`,
  ];
}
