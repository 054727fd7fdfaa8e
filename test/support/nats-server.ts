// nats-server processes of a test's own, on free 127.0.0.1 ports: one server, or a three-node
// JetStream cluster whose nodes can be killed and restarted on the same store. The tests that use
// them skip (with a warning) where /usr/sbin/nats-server is not installed, like the other NATS tests.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { freePort } from './ports.ts';

export const NATS_SERVER = '/usr/sbin/nats-server';
export const natsServerInstalled = existsSync(NATS_SERVER);

export type NatsServer = ReturnType<typeof startNatsServer>;

/** One nats-server process with JetStream, on `port`, its store in `dir`; extra args as given. */
export function startNatsServer(port: number, dir: string, args: string[] = []) {
  const child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir, ...args], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child, exited,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export async function natsUp(url: string, auth: { user?: string; pass?: string } = {}): Promise<boolean> {
  try {
    const nc = await natsConnect({ servers: url, reconnect: false, timeout: 500, ...auth });
    await nc.close();
    return true;
  } catch {
    return false;
  }
}

export interface NatsCluster {
  /** Client URLs of the nodes, in node order. */
  urls: string[];
  /** `-n` names of the nodes (what stream info reports as leader and replica names). */
  names: string[];
  /** SIGKILL of node `i`; resolves once the process is gone. */
  kill(i: number): Promise<void>;
  /** Starts node `i` again: same ports, same name, same store. */
  restart(i: number): void;
  /** Stops every node and removes the stores. */
  stop(): Promise<void>;
}

/**
 * `size` nodes routed to each other, JetStream on, each with its own store. Resolves once every
 * node accepts clients and the cluster has a JetStream meta leader (before that, creating a
 * stream fails with "JetStream system temporarily unavailable"): awaited, not slept for.
 */
export async function startNatsCluster(size = 3, deadlineMs = 30_000): Promise<NatsCluster> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'payout-nats-cluster-'));
  const ports: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) ports.push(await freePort()), routePorts.push(await freePort());
  const names = ports.map((_, i) => `n${i + 1}`);
  const urls = ports.map((p) => `nats://127.0.0.1:${p}`);
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`);
  const nodes: (NatsServer | undefined)[] = [];
  const start = (i: number) => {
    nodes[i] = startNatsServer(ports[i]!, path.join(root, names[i]!), [
      '-n', names[i]!, '--cluster_name', 'payout-test', '--cluster', routes[i]!,
      '--routes', routes.filter((_, j) => j !== i).join(','),
    ]);
  };
  const stop = async () => {
    await Promise.all(nodes.map((n) => n?.stop('SIGKILL')));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < size; i++) start(i);
    await until(async () => (await Promise.all(urls.map((u) => natsUp(u)))).every(Boolean), deadlineMs, 'every node accepts clients');
    await until(() => jetStreamReady(urls.join(',')), deadlineMs, 'the JetStream meta leader is elected');
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    urls, names, stop,
    kill: (i) => nodes[i]!.stop('SIGKILL'),
    restart: start,
  };
}

/** The meta leader answers account info; without one the request fails or times out. */
async function jetStreamReady(servers: string): Promise<boolean> {
  const nc = await natsConnect({ servers: servers.split(','), reconnect: false, timeout: 1000 }).catch(() => undefined);
  if (!nc) return false;
  try {
    const jsm = await jetstreamManager(nc, { timeout: 1000 });
    const info = await jsm.getAccountInfo();
    return info !== undefined;
  } catch {
    return false;
  } finally {
    await nc.close();
  }
}

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`nats cluster: timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
