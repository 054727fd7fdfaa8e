// Shared setup for the gate tests: the stand-in ledger on the test database, credited accounts,
// a misbehaving accounts front for failure cases, and waiting on conditions.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll } from 'vitest';
import type { AccountsClient, Loc } from '../src/accounts/client.ts';
import type { Sql } from '../src/db/connect.ts';
import { insertRequestPayouts } from '../src/store/payouts.ts';

export async function credit(client: AccountsClient, loc: Omit<Loc, 'type'>, amount: string, info: Record<string, unknown> = {}) {
  await client.writeBatch({ event_type: 'accrual', external_id: randomUUID(), info, events: [{ loc: { ...loc, type: 'payout' }, type: 'credit', amount }] });
}

export async function debit(client: AccountsClient, loc: Omit<Loc, 'type'>, amount: string) {
  await client.writeBatch({ event_type: 'charge', external_id: randomUUID(), events: [{ loc: { ...loc, type: 'payout' }, type: 'debit', amount }] });
}

/**
 * An accounts front that fails on purpose for chosen clients (a transient 503, or a permanent
 * 400) and passes everything else to the real stand-in: the process edge these tests are about.
 */
export type Fault = (call: { path: string; clientId: string | undefined; body: string }) => number | undefined;

/** Faults by client id, for any call that names the client (query or body). */
export const faultsByClient = (faults: Map<string, 503 | 400>): Fault => ({ clientId }) => (clientId ? faults.get(clientId) : undefined);

/** `answer`: rewrites the real stand-in's answer body (a ledger that speaks a dialect). */
export async function faultyAccounts(realUrl: string, fault: Fault, answer: (path: string, body: string) => string = (_p, b) => b): Promise<string> {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString();
    const clientId = url.searchParams.get('client_id') ?? /"client_id":"([^"]+)"/.exec(body)?.[1];
    const status = fault({ path: url.pathname, clientId, body });
    if (status) return void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'fault', message: `injected ${status}` }));
    const upstream = await fetch(`${realUrl}${req.url}`, {
      method: req.method, headers: { 'content-type': 'application/json' }, body: chunks.length ? Buffer.concat(chunks) : undefined,
    });
    res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(answer(url.pathname, await upstream.text()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function eventually(check: () => Promise<boolean>, timeoutMs = 30_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A by-client payout as req-gate makes it (amount = the balance req-gate saw), of a done request; its id. */
export async function insertByClientPayout(sql: Sql, a: Required<Omit<Loc, 'type'>>, amount: string): Promise<string> {
  const key = randomUUID();
  const [req] = await sql`insert into t_request (external_id, client_id, namespace, status) values (${`r-${key}`}, ${a.client_id}, ${a.namespace}, 'done') returning id`;
  await insertRequestPayouts(sql, [{ external_id: `p-${key}`, request_id: req!.id, ...a, amount, cpf_only: false, approve_req: false }]);
  return (await sql`select id from t_payout where request_id = ${req!.id}`)[0]!.id as string;
}
