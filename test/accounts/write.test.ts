import Big from 'big.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { AccountsError, type WriteBatchRequest } from '../../src/accounts/client.ts';
import { payoutLoc, startStandin, type Standin } from './support.ts';

let s: Standin;
beforeAll(async () => {
  s = await startStandin();
});

const credit = (external_id: string, loc = payoutLoc(), amount = '100.00'): WriteBatchRequest => ({
  event_type: 'accrual', external_id, info: { dry_run: false }, events: [{ loc, type: 'credit', amount }],
});

const balanceOf = async (loc: ReturnType<typeof payoutLoc>) => {
  const { balances } = await s.client.read({ balances: [{ loc }] });
  return balances[0]!;
};

describe('POST /v1/batch/write', () => {
  it('creates the account on first use and answers 201 with the batch id', async () => {
    const loc = payoutLoc();
    const res = await s.post('/v1/batch/write', credit('w-first', loc, '100.50'));
    expect(res.status).toBe(201);
    expect(res.body.batch_id).toMatch(/^\d+$/);
    expect(await s.client.listAccounts({ namespace: 'taxi', type: 'payout', client_id: loc.client_id })).toEqual([
      { loc, debit: '0', credit: '100.5', balance: '100.5' },
    ]);
  });

  it('accepts a zero "register" event', async () => {
    const loc = payoutLoc();
    const r = await s.client.writeBatch({ event_type: 'register', external_id: 'w-zero', events: [{ loc, type: 'debit', amount: '0' }] });
    expect(r.created).toBe(true);
    expect(await balanceOf(loc)).toEqual({ loc, debit: '0', credit: '0' });
  });

  it('keeps an absent attribute part of the identity (no wildcard)', async () => {
    const full = payoutLoc();
    const { contract_id: _omit, ...noContract } = full;
    await s.client.writeBatch(credit('w-ident-1', full, '5'));
    await s.client.writeBatch(credit('w-ident-2', noContract, '7'));
    expect((await balanceOf(full)).credit).toBe('5');
    expect((await balanceOf(noContract)).credit).toBe('7');
    const listed = await s.client.listAccounts({ namespace: 'taxi', type: 'payout', client_id: full.client_id });
    expect(listed.map((a) => a.loc)).toEqual([full, noContract]);
  });
});

describe('idempotency on external_id', () => {
  it('answers a repeat with the same content 200 and the first batch_id, writing nothing', async () => {
    const loc = payoutLoc();
    const first = await s.client.writeBatch(credit('w-repeat', loc, '100.50'));
    const before = await s.counts();
    // "100.5" is the same amount as "100.50": still the same content
    const again = await s.post('/v1/batch/write', credit('w-repeat', loc, '100.5'));
    expect(first.created).toBe(true);
    expect(again.status).toBe(200);
    expect(again.body.batch_id).toBe(first.batch_id);
    expect(await s.counts()).toEqual(before);
    expect((await balanceOf(loc)).credit).toBe('100.5');
  });

  it('refuses the same external_id with different content: 409, permanent, nothing written', async () => {
    const loc = payoutLoc();
    await s.client.writeBatch(credit('w-conflict', loc, '10'));
    const before = await s.counts();
    const variants: WriteBatchRequest[] = [
      credit('w-conflict', loc, '11'),
      { ...credit('w-conflict', loc, '10'), event_type: 'other' },
      { ...credit('w-conflict', loc, '10'), info: { dry_run: true } },
      credit('w-conflict', payoutLoc(), '10'),
    ];
    for (const v of variants) {
      const err = await s.client.writeBatch(v).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AccountsError);
      expect(err).toMatchObject({ kind: 'permanent', reason: 'idempotency-conflict', status: 409 });
      expect((err as Error).message).toContain('w-conflict');
    }
    expect(await s.counts()).toEqual(before);
    expect((await balanceOf(loc)).credit).toBe('10');
  });

  it('makes exactly one batch of 20 concurrent writes of one external_id', async () => {
    const loc = payoutLoc();
    const body = credit('w-concurrent', loc, '3.33');
    const before = await s.counts();
    const results = await Promise.all(Array.from({ length: 20 }, () => s.client.writeBatch(body)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.batch_id)).size).toBe(1);
    const after = await s.counts();
    expect(after.batches - before.batches).toBe(1);
    expect(after.events - before.events).toBe(1);
    expect((await balanceOf(loc)).credit).toBe('3.33');
  });
});

describe('concurrent writes', () => {
  it('loses no update: 50 concurrent debits and credits on one account give the exact balance', async () => {
    const loc = payoutLoc();
    const other = payoutLoc();
    const ops = Array.from({ length: 50 }, (_, i) => ({
      type: i % 2 ? ('debit' as const) : ('credit' as const),
      amount: i % 2 ? `0.0${(i % 9) + 1}` : `${i}.10`,
    }));
    // Half of the batches also touch a second account, listed in both orders: the fixed lock
    // order must keep these from deadlocking.
    await Promise.all(ops.map((op, i) => {
      const events = [{ loc, ...op }];
      if (i % 4 === 0) events.push({ loc: other, type: 'credit', amount: '1' });
      if (i % 4 === 2) events.unshift({ loc: other, type: 'credit', amount: '1' });
      return s.client.writeBatch({ event_type: 'load', external_id: `w-load-${i}`, events });
    }));
    const sum = (t: string) => ops.filter((o) => o.type === t).reduce((acc, o) => acc.plus(o.amount), new Big(0)).toFixed();
    const b = await balanceOf(loc);
    expect(b.credit).toBe(sum('credit'));
    expect(b.debit).toBe(sum('debit'));
    expect((await balanceOf(other)).credit).toBe('25');
  });
});

describe('atomicity with lock operations', () => {
  it('writes nothing when one lock check fails, not even the batch claim', async () => {
    const a = payoutLoc();
    const b = payoutLoc();
    await s.client.writeBatch(credit('w-atom-seed', a, '50'));
    const { uid } = await s.client.lockInit(a, 60);
    const before = await s.counts();
    const batch: WriteBatchRequest = {
      event_type: 'reserve', external_id: 'w-atom',
      events: [{ loc: a, type: 'debit', amount: '50' }, { loc: b, type: 'credit', amount: '50' }],
      locks: [
        { loc: a, uid, mode: 'validate' },
        { loc: b, uid: '00000000-0000-4000-8000-000000000000', mode: 'remove' },
      ],
    };
    const err = await s.client.writeBatch(batch).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'retry', reason: 'lock-not-held', status: 409 });
    expect(await s.counts()).toEqual(before); // b was not created either
    expect(await balanceOf(a)).toEqual({ loc: a, debit: '0', credit: '50' });
    expect(await s.client.getBatch('w-atom')).toBeUndefined();
    // the failed attempt left the lock alone, and the external_id free for a correct retry
    const ok = await s.client.writeBatch({ ...batch, locks: [{ loc: a, uid, mode: 'remove' }] });
    expect(ok.created).toBe(true);
    expect(await balanceOf(a)).toEqual({ loc: a, debit: '50', credit: '50' });
    expect(await balanceOf(b)).toEqual({ loc: b, debit: '0', credit: '50' });
  });

  it('releases a removed lock in the same write, and a replay needs no lock', async () => {
    const a = payoutLoc();
    const { uid } = await s.client.lockInit(a, 60);
    const batch: WriteBatchRequest = { ...credit('w-remove', a, '1'), locks: [{ loc: a, uid, mode: 'remove' }] };
    expect((await s.client.writeBatch(batch)).created).toBe(true);
    const next = await s.client.lockInit(a, 60); // free again
    expect(next.uid).not.toBe(uid);
    // a retry after a crash carries a new uid (or the old, now released one): still the same batch
    expect((await s.client.writeBatch(batch)).created).toBe(false);
    expect((await s.client.writeBatch({ ...batch, locks: [{ loc: a, uid: next.uid, mode: 'validate' }] })).created).toBe(false);
  });
});
