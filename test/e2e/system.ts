// The whole system as separate OS processes, the way `npm start` runs it (the supervisor and its
// children), on this test file's own database; the test talks to it over HTTP only.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import { createAccountsClient, type AccountsClient } from '../../src/accounts/client.ts';
import { createTestDb, type TestDb } from '../support/db.ts';
import { freePort } from '../support/ports.ts';
import { eventually } from '../gates-support.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TOKEN = 'e2e-token';
/** A caller retrying every 200 ms for a minute: a killed api restarts well within that, even on a loaded machine. */
const RETRIES = 300;

export interface System {
  db: TestDb;
  apiUrl: string;
  /** The accounts stand-in (its fault switch: PUT /v1/faults). */
  accountsUrl: string;
  accounts: AccountsClient;
  onceDir: string;
  /** POST with the retries a real caller makes (connection lost, 5xx): same body, same external_id. */
  post(pathname: string, body: unknown): Promise<{ status: number; body: any }>;
  get(pathname: string): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

export async function startSystem(env: Record<string, string> = {}): Promise<System> {
  const db = await createTestDb({ poolSize: 5 });
  const [apiPort, accountsPort] = [await freePort(), await freePort()];
  const onceDir = mkdtempSync(path.join(os.tmpdir(), 'payout-failpoints-'));
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'payout-e2e-'));
  const accountsUrl = `http://127.0.0.1:${accountsPort}`;
  const child: ChildProcess = spawn(path.join(ROOT, 'bin/payout'), ['start'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PAYOUT_DB_URL: db.url,
      PAYOUT_DATA_DIR: dataDir,
      PAYOUT_API_PORT: String(apiPort),
      PAYOUT_ACCOUNTS_PORT: String(accountsPort),
      PAYOUT_ACCOUNTS_URL: accountsUrl,
      PAYOUT_API_TOKENS: JSON.stringify({ [TOKEN]: { name: 'e2e', namespaces: ['*'] } }),
      PAYOUT_REQ_GATE_INTERVAL: '200ms',
      PAYOUT_OEBS_GATE_INTERVAL: '200ms',
      PAYOUT_ENV: `e2e${randomBytes(3).toString('hex')}`, // own NATS streams per run
      PAYOUT_LOG_LEVEL: 'warn',
      PAYOUT_ACCOUNTS_LOCK_TIMEOUT: '5s', // a killed sender's lock frees the account sooner
      PAYOUT_FAILPOINTS_ONCE_DIR: onceDir,
      PAYOUT_EXIT_WITH_PARENT: '1', // a test runner that dies takes the system with it
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const send = async (method: string, pathname: string, body?: unknown) => {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(`${apiUrl}${pathname}`, {
          method,
          headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        if (res.status >= 500 && attempt < RETRIES) throw new Error(`status ${res.status}`);
        return { status: res.status, body: await res.json() };
      } catch (err) {
        if (attempt >= RETRIES) throw err;
        await new Promise((r) => setTimeout(r, 200)); // the api restarts after a crash
      }
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    for (const dir of [onceDir, dataDir]) rmSync(dir, { recursive: true, force: true });
  };
  afterAll(stop);
  await eventually(async () => (await fetch(`${apiUrl}/ping`).catch(() => undefined))?.ok === true, 120_000, 100);
  await eventually(async () => (await fetch(`${accountsUrl}/ping`).catch(() => undefined))?.ok === true, 120_000, 100);
  return {
    db, apiUrl, accountsUrl, onceDir,
    accounts: createAccountsClient({ url: accountsUrl, timeoutMs: 30_000 }),
    post: (p, b) => send('POST', p, b),
    get: (p) => send('GET', p),
    stop,
  };
}
