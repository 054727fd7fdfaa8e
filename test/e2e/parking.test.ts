// Retries that end, as OS processes: the accounts stand-in fails every call naming one client
// (its fault switch, PUT /v1/faults). That client's payout is parked after PAYOUT_MAX_ATTEMPTS
// while 500 others are paid — with the sender killed once between a reservation and its commit —
// and the ledger balances, the parked payout's money intact on its payout account. Then the fault
// is removed, a person retries the payout, and it is paid once.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { canon } from '../../src/domain/money.ts';
import { mapLimit } from '../../src/worker/concurrency.ts';
import { eventually } from '../gates-support.ts';
import { startSystem } from './system.ts';

const HEALTHY = 500;
const BAD = 9001;
const loc = (client: number) => ({ namespace: 'taxi', type: 'payout', client_id: String(client), contract_id: '7', service_id: '124', currency: 'RUB' });
const credited = (client: number) => `${(client % 40) + 1}.${String(client % 100).padStart(2, '0')}`;

describe('an accounts system failing one client\'s calls', () => {
  it('parks that payout after the attempts while 500 others are paid; the ledger balances; retried, it is paid once', async () => {
    const sys = await startSystem({
      PAYOUT_MAX_ATTEMPTS: '5',
      PAYOUT_RETRY_BACKOFF_BASE: '100ms',
      PAYOUT_RETRY_BACKOFF_CAP: '400ms',
      PAYOUT_TASKS_INTERVAL: '1s',
      PAYOUT_FAILPOINTS: 'sender.after-reserve',
    });
    try {
      const faults = async (clients: number[]) => {
        const res = await fetch(`${sys.accountsUrl}/v1/faults`, {
          method: 'PUT', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ clients: clients.map((c) => ({ namespace: 'taxi', client_id: String(c) })) }),
        });
        expect(res.status).toBe(200);
      };
      const clients = [...Array.from({ length: HEALTHY }, (_, i) => i + 1), BAD];
      await mapLimit(clients, 16, (c) => sys.accounts.writeBatch({ event_type: 'accrual', external_id: randomUUID(), events: [{ loc: loc(c), type: 'credit', amount: credited(c) }] }));
      await faults([BAD]);
      // The failing client's payout: a fixed one (storing it asks the accounts system nothing).
      const bad = await sys.post('/api/v1/payout', { external_id: 'bad-1', service_id: 124, contract_id: 7, client_id: BAD, amount: credited(BAD), currency: 'RUB', namespace: 'taxi' });
      expect(bad.status).toBe(201);
      const badId = bad.body.id as number;
      const replies = await mapLimit(Array.from({ length: HEALTHY }, (_, i) => i + 1), 32, (c) =>
        sys.post('/api/v1/payout-by-client', { external_id: `park-${c}`, client_id: c, namespace: 'taxi' }));
      expect(replies.filter((r) => r.status !== 201)).toEqual([]);

      const { sql } = sys.db;
      await eventually(async () => {
        const [row] = await sql`
          select (select count(*) from t_request where status <> 'done')::int as requests,
                 (select count(*) from t_payout where status = 'done')::int as done,
                 (select status from t_payout where id = ${badId}) as bad,
                 (select count(*) from t_ledger_outbox)::int as outbox`;
        return row!.requests === 0 && row!.done === HEALTHY && row!.bad === 'parked' && row!.outbox === 0;
      }, 240_000, 500);
      expect(existsSync(path.join(sys.onceDir, 'sender.after-reserve')), 'the sender was killed after a reservation').toBe(true);

      const [parked] = await sql`select status, attempts, error, last_error, amount_oebs from t_payout where id = ${badId}`;
      expect(parked).toMatchObject({ status: 'parked', attempts: 5, amount_oebs: null, error: expect.stringMatching(/^gave up after 5 failed attempts; last: .*fault/) });
      const listed = await sys.get('/api/v1/payout?status=parked');
      expect(listed.body.payouts.map((p: { id: number }) => p.id)).toEqual([badId]);
      const metrics = await (await fetch(`${sys.apiUrl}/metrics`)).text();
      expect(metrics).toContain('payout_parked{kind="payout"} 1');
      expect(metrics).toContain('payout_parked{kind="request"} 0');

      // The ledger: nothing left on payout_sent; paid = the done payouts; the rest still on payout.
      const balances = async () => new Map((await sql<{ client_id: string; type: string; balance: string }[]>`
        select client_id, type, (credit - debit)::text as balance from accounts.account where type in ('payout', 'payout_sent')`)
        .map((r) => [`${r.client_id}/${r.type}`, canon(r.balance)]));
      const paid = async () => new Map((await sql<{ client_id: string; paid: string }[]>`
        select a.client_id, (coalesce(sum(e.amount) filter (where b.event_type = 'payout-confirm'), 0)
                             - coalesce(sum(e.amount) filter (where b.event_type = 'payout-cancel-payout'), 0))::text as paid
        from accounts.event e join accounts.batch b on b.id = e.batch_id join accounts.account a on a.id = e.account_id
        where a.type = 'payout_sent' group by a.client_id`).map((r) => [r.client_id, canon(r.paid)]));
      let b = await balances();
      let p = await paid();
      for (let c = 1; c <= HEALTHY; c++) {
        expect({ c, sent: b.get(`${c}/payout_sent`), paid: p.get(String(c)), left: b.get(`${c}/payout`) })
          .toEqual({ c, sent: '0', paid: canon(credited(c)), left: '0' });
      }
      expect({ left: b.get(`${BAD}/payout`), sent: b.get(`${BAD}/payout_sent`) ?? '0' }).toEqual({ left: canon(credited(BAD)), sent: '0' });
      // Integrity agrees while the payout is parked.
      await eventually(async () => {
        const r = await sys.get('/api/v1/reconciliation');
        return r.body.checked_at !== null && Date.parse(r.body.checked_at) > Date.now() - 60_000 && r.body.ok === true;
      }, 60_000, 500);

      // The fault is gone; a person retries.
      await faults([]);
      const retried = await sys.post(`/api/v1/payout/${badId}/retry`, {});
      expect(retried.status).toBe(200);
      expect(retried.body).toMatchObject({ id: badId, status: 'new', attempts: 0 });
      expect((await sys.post(`/api/v1/payout/${badId}/retry`, {})).status).toBe(409);
      // Done, and its confirm sent (the receiver's ledger events leave through the ledger outbox).
      await eventually(async () => (await sql`select status from t_payout where id = ${badId}`)[0]!.status === 'done'
        && (await sql`select count(*)::int as n from t_ledger_outbox`)[0]!.n === 0, 120_000, 500);
      b = await balances();
      p = await paid();
      expect({ left: b.get(`${BAD}/payout`), sent: b.get(`${BAD}/payout_sent`), paid: p.get(String(BAD)) }).toEqual({ left: '0', sent: '0', paid: canon(credited(BAD)) });
      const [reserves] = await sql`select count(*)::int as n from accounts.batch where event_type = 'payout-reserve' and info->>'payout_id' = ${String(badId)}`;
      expect(reserves!.n).toBe(1);
      const history = await sql`select status, actor, action from t_payout_history where payout_id = ${badId} order by id`;
      expect(history).toEqual([
        { status: 'new', actor: null, action: null },
        { status: 'parked', actor: 'oebs-gate', action: 'park' },
        { status: 'new', actor: 'e2e', action: 'retry' },
        { status: 'pending', actor: null, action: null },
        { status: 'confirmed', actor: null, action: null },
        { status: 'done', actor: null, action: null },
      ]);
      // Every payout published once.
      const [dup] = await sql`select count(*)::int as n from (select msg_id from topic_message where topic like '%/new-payout%' group by msg_id having count(*) > 1) d`;
      expect(dup!.n).toBe(0);
    } finally {
      await sys.stop();
    }
  }, 420_000);
});
