// A running oebs-gate process whose NATS server goes away: it stays up, logs each change of the
// connection's state, reconnects when the server is back and consumes again; when the connection
// closes for good (here: the server comes back demanding credentials it does not have), it exits
// non-zero so that its supervisor restarts it. The test runs its OWN nats-server on a free port.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicsFor } from '../../src/topics/paths.ts';
import { subjectFor } from '../../src/topics/nats-wire.ts';
import { startStandin, type Standin } from '../accounts/support.ts';
import { eventually } from '../gates-support.ts';
import { testConfig } from '../support/config.ts';
import { freePort } from '../support/ports.ts';
import { natsServerInstalled, natsUp, startNatsServer } from '../support/nats-server.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

if (!natsServerInstalled) console.warn('nats reconnect: no /usr/sbin/nats-server; test SKIPPED');

describe.skipIf(!natsServerInstalled)('oebs-gate under a NATS server that stops and comes back', () => {
  let s: Standin;
  let port: number;
  let dir: string;
  let gate: ChildProcess | undefined;
  const servers: ReturnType<typeof startNatsServer>[] = [];
  beforeAll(async () => {
    s = await startStandin();
    port = await freePort();
    dir = mkdtempSync(path.join(os.tmpdir(), 'payout-nats-'));
  });
  afterAll(async () => {
    if (gate && gate.exitCode === null) gate.kill('SIGKILL');
    for (const srv of servers) await srv.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs disconnect and reconnect, consumes again after, and exits non-zero when the connection is closed for good', async () => {
    const url = `nats://127.0.0.1:${port}`;
    servers.push(startNatsServer(port, dir));
    await eventually(() => natsUp(url), 10_000, 50);
    const env = `rc${process.pid}`;
    const lines: Record<string, unknown>[] = [];
    gate = spawn(path.join(ROOT, 'bin/payout'), ['oebs-gate'], {
      env: {
        ...process.env, PAYOUT_DB_URL: s.db.url, PAYOUT_ACCOUNTS_URL: s.url, PAYOUT_TOPICS: 'nats', PAYOUT_NATS_URL: url,
        PAYOUT_ENV: env, PAYOUT_OEBS_GATE_INTERVAL: '200ms', PAYOUT_LOG_LEVEL: 'info', PAYOUT_FAILPOINTS: '',
        PAYOUT_RETRY_BACKOFF_BASE: '200ms', // a transient accounts failure is retried within the test's waits
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffered = '';
    gate.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      for (const p of parts) if (p.trim()) lines.push(JSON.parse(p));
    });
    const exited = new Promise<number | null>((r) => gate!.once('exit', (code) => r(code)));
    const logged = (msg: string) => lines.some((l) => l.msg === msg);
    await eventually(async () => logged('oebs-gate running'), 60_000, 50);

    // The server goes away: the gate stays up and says so.
    await servers[0]!.stop();
    await eventually(async () => logged('nats: disconnected'), 20_000, 50);
    expect(gate.exitCode).toBeNull();
    // It comes back (same port, same store): the gate reconnects and consumes again.
    servers.push(startNatsServer(port, dir));
    await eventually(async () => logged('nats: reconnected'), 30_000, 50);
    const t = topicsFor(testConfig({ PAYOUT_ENV: env }), 'taxi', false);
    const nc = await natsConnect({ servers: url });
    const body = '{"status_system":"oebs","status_type":"NEW","message_id":999999999,"payment_batch_id":1,"payment_check_id":1}';
    await jetstream(nc).publish(subjectFor(t.statusArd), body);
    await nc.close();
    await eventually(async () => (await s.db.sql`select 1 from topic_message where topic = ${t.errors} and payload->>'message' = ${body}`).length === 1, 30_000, 100);
    expect(gate.exitCode).toBeNull();

    // Closed for good: the server returns demanding credentials; the client gives up, the process exits 1.
    await servers[1]!.stop();
    servers.push(startNatsServer(port, dir, ['--user', 'someone', '--pass', 'else']));
    expect(await exited).toBe(1);
    expect(logged('nats: connection closed for good')).toBe(true);
  }, 180_000);
});
