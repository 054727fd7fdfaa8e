import { beforeAll, describe, expect, it } from 'vitest';
import type { Loc } from '../../src/accounts/client.ts';
import { payoutLoc, startStandin, type Standin } from './support.ts';

let s: Standin;
beforeAll(async () => {
  s = await startStandin();
});

const T1 = '2025-01-10T10:00:00.000001Z';
const T2 = '2025-01-20T10:00:00Z';
const T3 = '2025-01-30T10:00:00Z';
const at = (dt: string, external_id: string, loc: Loc, type: 'debit' | 'credit', amount: string, info?: Record<string, unknown>) =>
  s.client.writeBatch({ event_type: 'accrual', external_id, dt, ...(info ? { info } : {}), events: [{ loc, type, amount }] });

describe('detailed turnovers', () => {
  let loc: Loc;
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    loc = payoutLoc();
    ids.t1 = (await at(T1, 'r-t1', loc, 'credit', '10')).batch_id;
    ids.t2c = (await at(T2, 'r-t2c', loc, 'credit', '20.5', { dry_run: false, cpf: [{ external_id: 'rcpt-1', amount: '20.5', operation_type: 'INSERT' }] })).batch_id;
    ids.t2d = (await at(T2, 'r-t2d', loc, 'debit', '1.25')).batch_id;
    ids.t3 = (await at(T3, 'r-t3', loc, 'credit', '100')).batch_id;
    await at(T2, 'r-other', payoutLoc({ client_id: loc.client_id, currency: 'USD' }), 'credit', '999');
  });

  it('lists the window dt_from inclusive, dt_to exclusive, with the balance before it', async () => {
    const { detailed_turnovers } = await s.client.read({ detailed_turnovers: [{ loc, dt_from: T2, dt_to: T3 }] });
    expect(detailed_turnovers).toEqual([{
      loc, dt_from: T2, dt_to: T3,
      debit_init: '0', credit_init: '10', debit_turnover: '1.25', credit_turnover: '20.5',
      events: [
        { batch_id: ids.t2c, external_id: 'r-t2c', event_type: 'accrual', dt: '2025-01-20T10:00:00.000000Z', type: 'credit', amount: '20.5',
          info: { dry_run: false, cpf: [{ external_id: 'rcpt-1', amount: '20.5', operation_type: 'INSERT' }] } },
        { batch_id: ids.t2d, external_id: 'r-t2d', event_type: 'accrual', dt: '2025-01-20T10:00:00.000000Z', type: 'debit', amount: '1.25', info: null },
      ],
    }]);
  });

  it('returns times to the microsecond, so a dt read back bounds the next window exactly', async () => {
    const first = await s.client.read({ detailed_turnovers: [{ loc, dt_from: '2025-01-01T00:00:00Z', dt_to: T2 }] });
    const t1 = first.detailed_turnovers[0]!.events[0]!.dt;
    expect(t1).toBe('2025-01-10T10:00:00.000001Z');
    const from = await s.client.read({ detailed_turnovers: [{ loc, dt_from: t1, dt_to: T2 }] });
    expect(from.detailed_turnovers[0]!.events.map((e) => e.external_id)).toEqual(['r-t1']);
    const after = await s.client.read({ detailed_turnovers: [{ loc, dt_from: '2025-01-10T10:00:00.000002Z', dt_to: T2 }] });
    expect(after.detailed_turnovers[0]).toMatchObject({ credit_init: '10', credit_turnover: '0', events: [] });
  });

  it('gives an empty window zero turnover and an unknown account zeros', async () => {
    const r = await s.client.read({ detailed_turnovers: [{ loc, dt_from: T3, dt_to: T3 }, { loc: payoutLoc(), dt_from: T1, dt_to: T3 }] });
    expect(r.detailed_turnovers[0]).toMatchObject({ debit_init: '1.25', credit_init: '30.5', debit_turnover: '0', credit_turnover: '0', events: [] });
    expect(r.detailed_turnovers[1]).toMatchObject({ debit_init: '0', credit_init: '0', debit_turnover: '0', credit_turnover: '0', events: [] });
  });

  it('reads balances latest and as of a time (events strictly before it)', async () => {
    const { balances } = await s.client.read({ balances: [{ loc }, { loc, dt: T2 }, { loc, dt: T1 }, { loc: payoutLoc() }] });
    expect(balances.map((b) => [b.debit, b.credit])).toEqual([['1.25', '130.5'], ['0', '10'], ['0', '0'], ['0', '0']]);
  });
});

describe('GET /v1/accounts and GET /v1/batch', () => {
  it("lists the client's accounts of that type with credit − debit as balance", async () => {
    const a = payoutLoc();
    const b = payoutLoc({ client_id: a.client_id, currency: 'USD' });
    await s.client.writeBatch({ event_type: 'mixed', external_id: 'l-1', events: [
      { loc: a, type: 'credit', amount: '100' }, { loc: a, type: 'debit', amount: '30.01' },
      { loc: b, type: 'debit', amount: '5' },
      { loc: { ...a, type: 'payout_sent' }, type: 'credit', amount: '30.01' },
      { loc: { ...a, namespace: 'oplata' }, type: 'credit', amount: '1' },
    ] });
    expect(await s.client.listAccounts({ namespace: 'taxi', type: 'payout', client_id: a.client_id })).toEqual([
      { loc: a, debit: '30.01', credit: '100', balance: '69.99' },
      { loc: b, debit: '5', credit: '0', balance: '-5' },
    ]);
    expect(await s.client.listAccounts({ namespace: 'taxi', type: 'payout', client_id: 'nobody' })).toEqual([]);
  });

  it('returns a batch with its events by external_id, and undefined for an unknown one', async () => {
    const a = payoutLoc();
    const { batch_id } = await s.client.writeBatch({ event_type: 'reserve', external_id: 'g-1', dt: T3, info: { payout_id: '5' }, events: [
      { loc: a, type: 'debit', amount: '7.50' }, { loc: { ...a, type: 'payout_sent' }, type: 'credit', amount: '7.50' },
    ] });
    expect(await s.client.getBatch('g-1')).toEqual({
      batch_id, external_id: 'g-1', event_type: 'reserve', dt: '2025-01-30T10:00:00.000000Z', info: { payout_id: '5' },
      events: [{ loc: a, type: 'debit', amount: '7.5' }, { loc: { ...a, type: 'payout_sent' }, type: 'credit', amount: '7.5' }],
    });
    expect(await s.client.getBatch('g-missing')).toBeUndefined();
    expect((await s.get('/v1/batch?external_id=g-missing')).status).toBe(404);
  });

  it('answers GET /ping', async () => {
    const res = await fetch(`${s.url}/ping`);
    expect(await res.text()).toBe('pong');
  });
});

describe('history from a ledger position', () => {
  it('lists an account\'s events from a batch on (inclusive), in ledger order whatever their dt; the whole history without one', async () => {
    const loc = payoutLoc();
    const other = payoutLoc();
    const first = (await at(T3, 'h-1', loc, 'credit', '10')).batch_id;
    const pos = (await at(T3, 'h-2', loc, 'debit', '4', { dry_run: true })).batch_id;
    await at(T3, 'h-x', other, 'credit', '1');
    await at(T1, 'h-3', loc, 'credit', '2.50'); // an earlier dt, written later: still after the position
    const { history } = await s.client.read({ history: [{ loc, from_batch_id: pos }, { loc }] });
    expect(history[0]!.events.map((e) => [e.external_id, e.type, e.amount])).toEqual([['h-2', 'debit', '4'], ['h-3', 'credit', '2.5']]);
    expect(history[0]!.events[0]!.info).toEqual({ dry_run: true });
    expect(history[1]!.events.map((e) => e.batch_id)).toEqual([first, pos, expect.any(String)]);
  });

  it('answers 404 for a position that is not in the account\'s history, and reads nothing for a new account', async () => {
    const loc = payoutLoc();
    const elsewhere = (await at(T3, 'h-else', payoutLoc(), 'credit', '1')).batch_id;
    const res = await s.post('/v1/batch/read', { history: [{ loc, from_batch_id: elsewhere }] });
    expect(res.status).toBe(404);
    expect(res.body.message).toMatch(/history\.0: batch .* has no event on/);
    expect((await s.client.read({ history: [{ loc }] })).history).toEqual([{ loc, events: [] }]);
  });
});
