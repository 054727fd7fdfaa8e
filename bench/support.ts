// Shared plumbing for the benchmarks: a durable throwaway Postgres, child processes, waiting.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbedded, type EmbeddedServer } from '../src/db/embedded.ts';
import { freePort } from '../test/support/ports.ts';

export { freePort };

export const ROOT = path.resolve(import.meta.dirname, '..');

/** A fresh embedded cluster with default (durable) settings: fsync and synchronous_commit on. */
export async function benchPostgres(): Promise<EmbeddedServer & { cleanup(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'payout-bench-'));
  chmodSync(dir, 0o755);
  const server = await startEmbedded({ dataDir: dir, port: await freePort(), postgresFlags: ['-c', 'max_connections=200'] });
  return {
    ...server,
    async cleanup() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `stdin`: give the child a pipe on standard input (to tell it when to start). */
export function spawnNode(script: string, args: string[], env: Record<string, string> = {}, stdin = false): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, script), ...args], {
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
