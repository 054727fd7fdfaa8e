// The stand-in accounts service on a real port, on this file's own database, with a client on it.
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll } from 'vitest';
import { createAccountsClient, type AccountsClient, type Loc } from '../../src/accounts/client.ts';
import { buildAccountsApp } from '../../src/standins/accounts/app.ts';
import { createTestDb, type TestDb } from '../support/db.ts';

export interface Standin {
  db: TestDb;
  app: FastifyInstance;
  url: string;
  client: AccountsClient;
  post(path: string, body: unknown): Promise<{ status: number; body: any }>;
  get(path: string): Promise<{ status: number; body: any }>;
  /** Rows in the stand-in's tables: a refused call must leave these unchanged. */
  counts(): Promise<{ accounts: number; batches: number; events: number }>;
}

export async function startStandin(): Promise<Standin> {
  const db = await createTestDb({ poolSize: 30 });
  const app = await buildAccountsApp({ sql: db.sql });
  await app.listen({ host: '127.0.0.1', port: 0 });
  // Registered after createTestDb's hook, so it runs before it (hooks run as a stack).
  afterAll(() => app.close());
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const send = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    db,
    app,
    url,
    client: createAccountsClient({ url, timeoutMs: 10_000 }),
    post: (path, body) => send('POST', path, body),
    get: (path) => send('GET', path),
    async counts() {
      const [row] = await db.sql<{ accounts: string; batches: string; events: string }[]>`
        select (select count(*) from accounts.account) as accounts, (select count(*) from accounts.batch) as batches,
               (select count(*) from accounts.event) as events`;
      return { accounts: Number(row!.accounts), batches: Number(row!.batches), events: Number(row!.events) };
    },
  };
}

let seq = 0;
/** A payout account of a client no other test uses (unless the same client_id is passed). */
export const payoutLoc = (over: Partial<Loc> = {}): Loc => ({
  namespace: 'taxi', type: 'payout', client_id: `c${process.pid}-${++seq}`, contract_id: '7', service_id: '124', currency: 'RUB', ...over,
});

/** Polls until check() is true: for conditions that become true with time (lock expiry). */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
