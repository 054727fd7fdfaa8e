// `payout accounts credit …`: credits a payout account through the HTTP API of a running stand-in,
// so a demo can be set up from the shell. It speaks plain HTTP on purpose: the stand-in is another
// system and does not borrow payout's client.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { isAmount } from '../../domain/money.ts';

export const CREDIT_USAGE =
  'usage: payout accounts credit --namespace taxi --client 42 --contract 7 --service 124 --currency RUB --amount 100.00\n' +
  '         [--info \'{"dry_run":false}\'] [--external-id ID] [--event-type accrual] [--dt 2025-01-31T00:00:00Z]';

interface CreditArgs {
  loc: { namespace: string; type: 'payout'; client_id: string; contract_id: string; service_id: string; currency: string };
  amount: string;
  info: object | undefined;
  external_id: string;
  event_type: string;
  dt: string | undefined;
}

export function parseCreditArgs(args: string[]): CreditArgs {
  const { values: v } = parseArgs({
    args,
    strict: true,
    options: {
      namespace: { type: 'string' }, client: { type: 'string' }, contract: { type: 'string' }, service: { type: 'string' },
      currency: { type: 'string' }, amount: { type: 'string' }, info: { type: 'string' },
      'external-id': { type: 'string' }, 'event-type': { type: 'string' }, dt: { type: 'string' },
    },
  });
  const missing = (['namespace', 'client', 'contract', 'service', 'currency', 'amount'] as const).filter((k) => !v[k]);
  if (missing.length) throw new Error(`missing --${missing.join(', --')}\n${CREDIT_USAGE}`);
  if (!isAmount(v.amount!)) throw new Error(`--amount ${v.amount}: expected a decimal string like 100.00`);
  let info: object | undefined;
  if (v.info !== undefined) {
    try {
      info = JSON.parse(v.info) as object;
    } catch {
      throw new Error('--info: not valid JSON');
    }
    if (typeof info !== 'object' || info === null || Array.isArray(info)) throw new Error('--info: expected a JSON object');
  }
  return {
    loc: { namespace: v.namespace!, type: 'payout', client_id: v.client!, contract_id: v.contract!, service_id: v.service!, currency: v.currency! },
    amount: v.amount!,
    info,
    external_id: v['external-id'] ?? `cli-credit-${randomUUID()}`,
    event_type: v['event-type'] ?? 'accrual',
    dt: v.dt,
  };
}

async function call(url: string, init: RequestInit): Promise<unknown> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) }).catch((e: unknown) => {
    throw new Error(`the accounts service at ${url} is unreachable (${String((e as Error).cause ?? e)}); is \`payout accounts\` running?`);
  });
  const body = (await res.json().catch(() => undefined)) as { message?: string } | undefined;
  if (!res.ok) throw new Error(`accounts service answered ${res.status}: ${body?.message ?? res.statusText}`);
  return body;
}

/** Writes the credit, then prints the batch and the client's payout balances after it. */
export async function runCredit(baseUrl: string, args: string[], print: (line: string) => void): Promise<void> {
  const a = parseCreditArgs(args);
  const written = (await call(`${baseUrl}/v1/batch/write`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      event_type: a.event_type, external_id: a.external_id,
      ...(a.dt ? { dt: a.dt } : {}), ...(a.info ? { info: a.info } : {}),
      events: [{ loc: a.loc, type: 'credit', amount: a.amount }],
    }),
  })) as { batch_id: string };
  const q = new URLSearchParams({ namespace: a.loc.namespace, type: 'payout', client_id: a.loc.client_id });
  const accounts = await call(`${baseUrl}/v1/accounts?${q}`, { method: 'GET' });
  print(JSON.stringify({ batch_id: written.batch_id, external_id: a.external_id, accounts }, null, 2));
}
