// The end-to-end scenario and its invariants: clients with one to three funded contracts, some
// with zero or negative balances, some rejected or returned by the OEBS stand-in; requests posted
// through the api; then every request done, every payout final, and the ledger conserved.
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { canon, sub } from '../../src/domain/money.ts';
import { mapLimit } from '../../src/worker/concurrency.ts';
import { eventually } from '../gates-support.ts';
import type { System } from './system.ts';

export interface Scenario {
  clients: number;
  requests: number;
}

const kindOf = (client: number) =>
  client % 20 === 0 ? 'negative' : client % 17 === 0 ? 'zero' : client % 11 === 0 ? 'reject' : client % 13 === 0 ? 'return' : 'accept';

/** PAYOUT_OEBS_EMULATOR for the scenario's clients. */
export function emulatorBehaviour(s: Scenario): string {
  const byClient: Record<string, string> = {};
  for (let c = 1; c <= s.clients; c++) if (kindOf(c) === 'reject' || kindOf(c) === 'return') byClient[String(c)] = kindOf(c);
  return JSON.stringify(byClient);
}

const loc = (client: number, contract: number) =>
  ({ namespace: 'taxi', type: 'payout', client_id: String(client), contract_id: String(contract), service_id: '124', currency: 'RUB' });

/** Credits the accounts, posts the requests, waits for every request and payout to settle. */
export async function runScenario(sys: System, s: Scenario, timeoutMs = 240_000) {
  const accounts = Array.from({ length: s.clients }, (_, i) => i + 1).flatMap((c) => Array.from({ length: (c % 3) + 1 }, (_, k) => [c, k + 1] as const));
  await mapLimit(accounts, 16, async ([c, contract]) => {
    const amount = `${(c % 50) + 1}.${String(c % 100).padStart(2, '0')}5`;
    const kind = kindOf(c);
    if (kind !== 'negative') await sys.accounts.writeBatch({ event_type: 'accrual', external_id: randomUUID(), events: [{ loc: loc(c, contract), type: 'credit', amount }] });
    if (kind === 'zero') await sys.accounts.writeBatch({ event_type: 'charge', external_id: randomUUID(), events: [{ loc: loc(c, contract), type: 'debit', amount }] });
    if (kind === 'negative') await sys.accounts.writeBatch({ event_type: 'charge', external_id: randomUUID(), events: [{ loc: loc(c, contract), type: 'debit', amount: '5' }] });
  });
  const replies = await mapLimit(Array.from({ length: s.requests }, (_, k) => k), 32, (k) =>
    sys.post('/api/v1/payout-by-client', { external_id: `e2e-${k}`, client_id: (k % s.clients) + 1, namespace: 'taxi' }));
  expect(replies.filter((r) => r.status !== 201 && r.status !== 200)).toEqual([]);
  // Settled: every request taken, every payout final, and the returned ones paid again under their
  // second payment (`<payout id>2`) — done under the first payment is not final for them: its
  // RETURNED may still be on its way (OEBS's answers are handled in no promised order) — and
  // every ledger event the receiver decided sent (the ledger outbox empty).
  const returned = Array.from({ length: s.clients }, (_, i) => i + 1).filter((c) => kindOf(c) === 'return').map(String);
  await eventually(async () => {
    const [row] = await sys.db.sql`
      select (select count(*) from t_request where status = 'new')::int as requests,
             (select count(*) from t_payout where status not in ('done', 'rejected'))::int as payouts,
             (select count(*) from t_payout where client_id = any(${returned}::int8[]) and amount > 0
                and oebs_payment_id is distinct from id::text || '2')::int as unreturned,
             (select count(*) from t_ledger_outbox where refused_at is null)::int as outbox`;
    return row!.requests === 0 && row!.payouts === 0 && row!.unreturned === 0 && row!.outbox === 0;
  }, timeoutMs, 500);
}

export async function checkInvariants(sys: System, s: Scenario) {
  const { sql } = sys.db;
  // Every request stored once and done.
  const [req] = await sql`select count(*)::int as n, count(distinct external_id)::int as distinct_n,
                                 count(*) filter (where status = 'done')::int as done from t_request`;
  expect(req).toEqual({ n: s.requests, distinct_n: s.requests, done: s.requests });

  // Final states as the OEBS stand-in was told: rejected clients' payouts rejected, others done.
  const states = await sql<{ client_id: string; status: string }[]>`select distinct client_id, status from t_payout where amount > 0`;
  for (const { client_id, status } of states) expect([client_id, status]).toEqual([client_id, kindOf(Number(client_id)) === 'reject' ? 'rejected' : 'done']);
  const unpaid = await sql`select distinct client_id from t_payout where client_id = any(${
    Array.from({ length: s.clients }, (_, i) => String(i + 1)).filter((c) => ['zero', 'negative'].includes(kindOf(Number(c))))
  }::int8[]) and amount > 0`;
  expect(unpaid).toEqual([]);

  // Nothing the ledger refused (a refused event would wait in the outbox for a person).
  expect(await sql`select id, refusal from t_ledger_outbox`).toEqual([]);

  // The ledger: per account, what was credited = what is still on `payout` + on `payout_sent`
  // + what was paid out (confirm debits less returns), and paid out = the done payouts' amounts.
  const ledger = await sql<{ client_id: string; contract_id: string; type: string; debit: string; credit: string }[]>`
    select client_id, contract_id, type, debit::text, credit::text from accounts.account where type in ('payout', 'payout_sent')`;
  const paid = await sql<{ client_id: string; contract_id: string; paid: string }[]>`
    select a.client_id, a.contract_id,
           (coalesce(sum(e.amount) filter (where b.event_type = 'payout-confirm'), 0)
            - coalesce(sum(e.amount) filter (where b.event_type = 'payout-cancel-payout'), 0))::text as paid
    from accounts.event e join accounts.batch b on b.id = e.batch_id join accounts.account a on a.id = e.account_id
    where a.type = 'payout_sent' group by a.client_id, a.contract_id`;
  const done = await sql<{ client_id: string; contract_id: string; amount: string }[]>`
    select client_id::text, contract_id::text, sum(amount)::text as amount from t_payout where status = 'done' group by 1, 2`;
  const key = (r: { client_id: string; contract_id: string }) => `${r.client_id}/${r.contract_id}`;
  const paidBy = new Map(paid.map((r) => [key(r), r.paid]));
  const doneBy = new Map(done.map((r) => [key(r), r.amount]));
  for (const a of ledger.filter((r) => r.type === 'payout_sent')) {
    // Nothing is left in flight, and what left the ledger is exactly what the done payouts paid.
    expect({ account: key(a), onPayoutSent: canon(sub(a.credit, a.debit)) }).toEqual({ account: key(a), onPayoutSent: '0' });
    expect({ account: key(a), paidOut: canon(paidBy.get(key(a)) ?? '0') }).toEqual({ account: key(a), paidOut: canon(doneBy.get(key(a)) ?? '0') });
  }
  for (const a of ledger.filter((r) => r.type === 'payout')) {
    const c = Number(a.client_id);
    const credited = kindOf(c) === 'negative' || kindOf(c) === 'zero' ? '0' : `${(c % 50) + 1}.${String(c % 100).padStart(2, '0')}5`;
    const stillThere = sub(a.credit, a.debit);
    const paidOut = paidBy.get(key(a)) ?? '0';
    // credited − charges = on payout + paid out (payout_sent is empty: checked above)
    const charges = kindOf(c) === 'negative' ? '5' : '0';
    expect({ account: key(a), onPayout: canon(stillThere) }).toEqual({ account: key(a), onPayout: canon(sub(sub(credited, charges), paidOut)) });
  }

  // Whole kopecks: what was reserved, stored, told to OEBS and confirmed is one amount.
  const odd = await sql`select id from t_payout where amount <> amount_oebs or amount <> round(amount, 2) or amount_oebs is null`;
  expect(odd).toEqual([]);
  const told = await sql`
    select p.id from t_payout p join topic_message m on m.msg_id = p.id::text and m.topic like '%/new-payout%'
    where (m.payload->>'amount')::numeric <> p.amount_oebs`;
  expect(told).toEqual([]);

  // Published once: one new-payout message per payout that was sent.
  const [dup] = await sql`select count(*)::int as n from (select msg_id from topic_message where topic like '%/new-payout%' group by msg_id having count(*) > 1) d`;
  expect(dup!.n).toBe(0);
}
