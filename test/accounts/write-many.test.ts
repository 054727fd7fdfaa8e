// POST /v1/batches/write: one outcome per batch, each batch all or nothing and idempotent on its
// own external_id; the call is one transaction that never deadlocks against other writers.
import postgres from 'postgres';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Loc, WriteBatchRequest } from '../../src/accounts/client.ts';
import { buildAccountsApp } from '../../src/standins/accounts/app.ts';
import { payoutLoc, startStandin, type Standin } from './support.ts';

let s: Standin;
beforeAll(async () => {
  s = await startStandin();
});

const batch = (external_id: string, loc: Loc, type: 'debit' | 'credit', amount: string, more: Partial<WriteBatchRequest> = {}): WriteBatchRequest =>
  ({ event_type: 'reserve', external_id, events: [{ loc, type, amount }], ...more });

/** Every account's running totals next to the sum of its events: they must never differ. */
async function totalsVersusEvents() {
  return s.db.sql<{ loc_key: string; debit: string; credit: string; ev_debit: string; ev_credit: string }[]>`
    select a.loc_key, a.debit::text, a.credit::text,
           coalesce(sum(e.amount) filter (where e.type = 'debit'), 0)::text as ev_debit,
           coalesce(sum(e.amount) filter (where e.type = 'credit'), 0)::text as ev_credit
    from accounts.account a left join accounts.event e on e.account_id = a.id
    group by a.id
    having a.debit <> coalesce(sum(e.amount) filter (where e.type = 'debit'), 0)
        or a.credit <> coalesce(sum(e.amount) filter (where e.type = 'credit'), 0)`;
}

/** Events whose batch or account is missing: the schema has no foreign keys there (stand-in migration 003), the writes must never leave one. */
async function orphanEvents() {
  return s.db.sql`
    select e.id from accounts.event e
    left join accounts.batch b on b.id = e.batch_id left join accounts.account a on a.id = e.account_id
    where b.id is null or a.id is null`;
}

describe('POST /v1/batches/write', () => {
  it('answers created / existing / conflict / lock_invalid in request order; a refused batch leaves no trace', async () => {
    const [a, b, c] = [payoutLoc(), payoutLoc(), payoutLoc()];
    const seeded = await s.client.writeBatch(batch('wm-1-replay', a, 'credit', '100'));
    await s.client.writeBatch(batch('wm-1-taken', a, 'credit', '5'));
    const { uid } = await s.client.lockInit(b, 60);
    const stale = '00000000-0000-4000-8000-000000000000';
    const fresh = payoutLoc(); // only the refused batch names it: it must not be created
    const before = await s.counts();

    const outcomes = await s.client.writeBatches([
      batch('wm-1-new', c, 'credit', '7.5'),
      batch('wm-1-replay', a, 'credit', '100.00'),
      batch('wm-1-taken', a, 'credit', '6'),
      batch('wm-1-stale', fresh, 'debit', '1', { locks: [{ loc: b, uid: stale, mode: 'validate' }] }),
      batch('wm-1-locked', b, 'debit', '2', { locks: [{ loc: b, uid, mode: 'remove' }] }),
      // the batch before removed that lease: validating it now fails, as it would one call later
      batch('wm-1-after', c, 'debit', '3', { locks: [{ loc: b, uid, mode: 'validate' }] }),
    ]);
    expect(outcomes).toEqual([
      { kind: 'created', batch_id: expect.any(String) },
      { kind: 'existing', batch_id: seeded.batch_id },
      { kind: 'conflict', message: expect.stringContaining('already used for a different batch') },
      { kind: 'lock-invalid', message: expect.stringMatching(/^batches\.3\.locks\.0: .* is held by another uid/) },
      { kind: 'created', batch_id: expect.any(String) },
      { kind: 'lock-invalid', message: expect.stringMatching(/^batches\.5\.locks\.0: .* is not held/) },
    ]);
    // c is new (the created batch's), fresh was not created
    expect(await s.counts()).toEqual({ accounts: before.accounts + 1, batches: before.batches + 2, events: before.events + 2 });
    expect(await s.client.getBatch('wm-1-stale')).toBeUndefined();
    expect(await s.client.getBatch('wm-1-after')).toBeUndefined();
    const { balances } = await s.client.read({ balances: [{ loc: a }, { loc: b }, { loc: c }] });
    expect(balances.map((x) => [x.debit, x.credit])).toEqual([['0', '105'], ['2', '0'], ['0', '7.5']]);
    // the removed lease is free again
    await s.client.lockInit(b, 60);
    expect(await totalsVersusEvents()).toEqual([]);

    // a refused external_id is free for a later, valid attempt
    expect(await s.client.writeBatches([batch('wm-1-stale', fresh, 'debit', '1')])).toEqual([{ kind: 'created', batch_id: expect.any(String) }]);
  });

  it('a replay of a whole call writes nothing new and answers the first batch ids', async () => {
    const locs = Array.from({ length: 5 }, () => payoutLoc());
    const call = locs.map((loc, i) => batch(`wm-2-${i}`, loc, 'credit', `${i + 1}.25`));
    const first = await s.client.writeBatches(call);
    expect(first.every((o) => o.kind === 'created')).toBe(true);
    const before = await s.counts();
    const again = await s.client.writeBatches(call);
    expect(again).toEqual(first.map((o) => ({ ...o, kind: 'existing' })));
    expect(await s.counts()).toEqual(before);
  });

  it('rejects alone a batch whose data Postgres refuses; the others commit', async () => {
    const [a, b] = [payoutLoc(), payoutLoc()];
    const before = await s.counts();
    const outcomes = await s.client.writeBatches([
      batch('wm-3-ok', a, 'credit', '1'),
      batch('wm-3-nul', b, 'credit', '1', { info: { note: 'bad\u0000byte' } }),
      batch('wm-3-ok2', a, 'debit', '0.5'),
      // info is the batch's own data, whatever its keys are called (a `loc` in it is no location)
      batch('wm-3-nul-loc', b, 'credit', '1', { info: { loc: 'a\u0000b', ['k\ud800']: 1 } }),
    ]);
    expect(outcomes.map((o) => o.kind)).toEqual(['created', 'rejected', 'created', 'rejected']);
    expect(outcomes[1]).toMatchObject({ message: expect.stringContaining('batches.1: the ledger cannot store this batch') });
    // a's account and two batches with one event each; b was not created
    expect(await s.counts()).toEqual({ accounts: before.accounts + 1, batches: before.batches + 2, events: before.events + 2 });
    expect(await s.client.getBatch('wm-3-nul')).toBeUndefined();
  });

  it('20 concurrent calls on overlapping accounts lose no update and never deadlock', async () => {
    const shared = Array.from({ length: 8 }, () => payoutLoc());
    const calls = Array.from({ length: 20 }, (_, c) => {
      // each call touches the shared accounts in its own order, several times
      const order = [...shared].sort(() => Math.random() - 0.5);
      return Array.from({ length: 25 }, (_, i) => ({
        event_type: 'mixed', external_id: `wm-4-${c}-${i}`,
        events: [{ loc: order[i % 8]!, type: 'credit' as const, amount: '1.01' }, { loc: order[(i + 3) % 8]!, type: 'debit' as const, amount: '0.01' }],
      }));
    });
    const results = await Promise.all(calls.map((call) => s.client.writeBatches(call)));
    expect(results.flat().every((o) => o.kind === 'created')).toBe(true);
    const { balances } = await s.client.read({ balances: shared.map((loc) => ({ loc })) });
    // 20 × 25 credits of 1.01 and debits of 0.01, spread evenly over 8 accounts: totals over all
    const sum = (side: 'debit' | 'credit') => balances.reduce((acc, x) => acc + Math.round(Number(x[side]) * 100), 0);
    expect(sum('credit')).toBe(500 * 101);
    expect(sum('debit')).toBe(500 * 1);
    expect(await totalsVersusEvents()).toEqual([]);
    expect(await orphanEvents()).toEqual([]);
  });

  it('keeps totals exact at the amounts\' limits; a lease removed by a batch with no event on its account is cleared, the totals untouched', async () => {
    const [a, b, held] = [payoutLoc(), payoutLoc(), payoutLoc()];
    const { uid } = await s.client.lockInit(held, 60);
    const max = '999999999999999999.999999';
    const outcomes = await s.client.writeBatches([
      batch('wm-7-max', a, 'credit', max),
      { event_type: 'mixed', external_id: 'wm-7-tiny', events: [
        { loc: a, type: 'debit', amount: '0.000001' }, { loc: a, type: 'debit', amount: '0.000009' }, { loc: b, type: 'credit', amount: '0.1' },
      ] },
      // removes the lease on `held` while writing to b only
      batch('wm-7-unlock', b, 'credit', '0.200001', { locks: [{ loc: held, uid, mode: 'remove' }] }),
    ]);
    expect(outcomes.map((o) => o.kind)).toEqual(['created', 'created', 'created']);
    const { balances } = await s.client.read({ balances: [{ loc: a }, { loc: b }, { loc: held }] });
    expect(balances.map((x) => [x.debit, x.credit])).toEqual([['0.00001', max], ['0', '0.300001'], ['0', '0']]);
    // the lease is gone: a new one is granted at once
    await s.client.lockInit(held, 60);
    expect(await totalsVersusEvents()).toEqual([]);
    expect(await orphanEvents()).toEqual([]);
  });

  it('writes 500 batches in a bounded number of statements', async () => {
    let statements = 0;
    const counted = postgres(s.db.url, { max: 2, onnotice: () => {}, debug: () => statements++ });
    const app = await buildAccountsApp({ sql: counted });
    const locs = Array.from({ length: 100 }, () => payoutLoc());
    const call = (round: number) => ({ batches: Array.from({ length: 500 }, (_, i) => batch(`wm-5-${round}-${i}`, locs[i % 100]!, 'credit', '1')) });
    // the first call opens the pool's connections and prepares the statements
    await app.inject({ method: 'POST', url: '/v1/batches/write', payload: call(0) });
    statements = 0;
    const started = performance.now();
    const res = await app.inject({ method: 'POST', url: '/v1/batches/write', payload: call(1) });
    const ms = performance.now() - started;
    await app.close();
    await counted.end();
    expect(res.statusCode).toBe(200);
    expect(res.json().results.filter((r: { status: string }) => r.status === 'created')).toHaveLength(500);
    // begin, claims, accounts (create, lock), read-back, events, totals, commit
    expect(statements).toBeGreaterThanOrEqual(7);
    expect(statements).toBeLessThanOrEqual(10);
    console.log(`500 batches in one call: ${ms.toFixed(1)} ms, ${statements} statements`);
    expect(await totalsVersusEvents()).toEqual([]);
    expect(await orphanEvents()).toEqual([]);
  });

  it.each([
    ['a bad amount', (bs: any[]) => { bs[3].events[0].amount = '1e3'; }, 'batches.3.events.0.amount'],
    ['a missing external_id', (bs: any[]) => { delete bs[2].external_id; }, 'batches.2: missing field "external_id"'],
    ['an unknown lock mode', (bs: any[]) => { bs[1].locks = [{ loc: bs[1].events[0].loc, uid: '00000000-0000-4000-8000-000000000000', mode: 'take' }]; }, 'batches.1.locks.0.mode'],
    ['a repeated external_id', (bs: any[]) => { bs[4].external_id = bs[1].external_id; }, 'batches.4.external_id'],
  ])('%s anywhere → 400 naming the path, nothing written', async (_name, spoil, path) => {
    const bs: any[] = Array.from({ length: 5 }, (_, i) => batch(`wm-6-${i}-${Math.random()}`, payoutLoc(), 'credit', '1'));
    spoil(bs);
    const before = await s.counts();
    const res = await s.post('/v1/batches/write', { batches: bs });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'bad_request', message: expect.stringContaining(path) });
    expect(await s.counts()).toEqual(before);
  });

  it('refuses an empty call and one of more than 1000 batches', async () => {
    expect((await s.post('/v1/batches/write', { batches: [] })).status).toBe(400);
    const many = Array.from({ length: 1001 }, (_, i) => batch(`wm-7-${i}`, payoutLoc(), 'credit', '1'));
    expect((await s.post('/v1/batches/write', { batches: many })).body).toMatchObject({ code: 'bad_request', message: expect.stringContaining('batches') });
  });
});

describe('POST /v1/accounts/list', () => {
  it("lists every account of many clients with this type, grouped by client in the order asked", async () => {
    const clients = Array.from({ length: 300 }, () => payoutLoc().client_id);
    await s.client.writeBatches(clients.flatMap((client_id, i) => [
      batch(`al-${i}-rub`, payoutLoc({ client_id }), 'credit', `${i}`),
      batch(`al-${i}-usd`, payoutLoc({ client_id, currency: 'USD' }), 'debit', '1'),
      batch(`al-${i}-other`, payoutLoc({ client_id, type: 'payout_sent' }), 'credit', '1'),
    ]));
    const asked = [...clients.slice(150), ...clients.slice(0, 150), 'nobody'];
    const list = await s.client.listAccountsOf({ namespace: 'taxi', type: 'payout', client_ids: asked });
    expect(list).toHaveLength(600);
    expect(list.filter((_, i) => i % 2 === 0).map((x) => x.loc.client_id)).toEqual(asked.slice(0, 300));
    const i = clients.indexOf(list[0]!.loc.client_id);
    expect(list.slice(0, 2)).toEqual([
      { loc: payoutLoc({ client_id: clients[i] }) && { namespace: 'taxi', type: 'payout', client_id: clients[i], contract_id: '7', service_id: '124', currency: 'RUB' }, debit: '0', credit: `${i}`, balance: `${i}` },
      { loc: { namespace: 'taxi', type: 'payout', client_id: clients[i], contract_id: '7', service_id: '124', currency: 'USD' }, debit: '1', credit: '0', balance: '-1' },
    ]);
    // the GET of one client stays as it was
    expect(await s.client.listAccounts({ namespace: 'taxi', type: 'payout', client_id: clients[i]! })).toEqual(list.slice(0, 2));
  });

  it('refuses no client_ids with a 400 naming the field', async () => {
    expect((await s.post('/v1/accounts/list', { namespace: 'taxi', type: 'payout', client_ids: [] })).body).toMatchObject({ code: 'bad_request', message: expect.stringContaining('client_ids') });
  });
});
