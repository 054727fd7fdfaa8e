import { beforeAll, describe, expect, it } from 'vitest';
import { AccountsError } from '../../src/accounts/client.ts';
import { eventually, payoutLoc, startStandin, type Standin } from './support.ts';

let s: Standin;
beforeAll(async () => {
  s = await startStandin();
});

const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as AccountsError);

describe('locks', () => {
  it('gives one holder at a time; a second taker is told the lock is busy', async () => {
    const loc = payoutLoc();
    const { uid } = await s.client.lockInit(loc, 60);
    expect(uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(await failure(s.client.lockInit(loc, 60))).toMatchObject({ kind: 'lock-busy', reason: 'lock-busy', status: 409 });
    expect(await failure(s.client.read({ lock: { loc, timeout_s: 60 } }))).toMatchObject({ kind: 'lock-busy' });
    // another account is not affected
    await s.client.lockInit(payoutLoc({ client_id: loc.client_id, currency: 'USD' }), 60);
  });

  it('frees the lock on remove; remove or ping with a uid that does not hold it is refused', async () => {
    const loc = payoutLoc();
    const { uid } = await s.client.lockInit(loc, 60);
    const stranger = '00000000-0000-4000-8000-000000000000';
    expect(await failure(s.client.lockRemove(loc, stranger))).toMatchObject({ kind: 'retry', reason: 'lock-not-held' });
    expect(await failure(s.client.lockPing(loc, stranger, 60))).toMatchObject({ kind: 'retry', reason: 'lock-not-held' });
    await s.client.lockPing(loc, uid, 60);
    await s.client.lockRemove(loc, uid);
    expect(await failure(s.client.lockRemove(loc, uid))).toMatchObject({ reason: 'lock-not-held' });
    await s.client.lockInit(loc, 60);
  });

  it('lets an expired lock go to the next taker, after which the old uid holds nothing', async () => {
    const loc = payoutLoc();
    await s.client.writeBatch({ event_type: 'accrual', external_id: 'lk-seed', events: [{ loc, type: 'credit', amount: '10' }] });
    const old = await s.client.lockInit(loc, 1);
    expect(await failure(s.client.lockInit(loc, 60))).toMatchObject({ kind: 'lock-busy' });

    let next: { uid: string } | undefined;
    await eventually(async () => {
      next = await s.client.lockInit(loc, 60).catch((e: unknown) => {
        if (e instanceof AccountsError && e.kind === 'lock-busy') return undefined;
        throw e;
      });
      return next !== undefined;
    });
    expect(next!.uid).not.toBe(old.uid);
    expect(await failure(s.client.lockPing(loc, old.uid, 60))).toMatchObject({ reason: 'lock-not-held' });
    expect(await failure(s.client.lockRemove(loc, old.uid))).toMatchObject({ reason: 'lock-not-held' });
    const before = await s.counts();
    const write = s.client.writeBatch({
      event_type: 'reserve', external_id: 'lk-late',
      events: [{ loc, type: 'debit', amount: '10' }], locks: [{ loc, uid: old.uid, mode: 'remove' }],
    });
    expect(await failure(write)).toMatchObject({ kind: 'retry', reason: 'lock-not-held', status: 409 });
    expect(await s.counts()).toEqual(before);
    // the new holder is undisturbed
    await s.client.lockPing(loc, next!.uid, 60);
  });

  it('refuses a write validating a lock that expired with nobody taking it over', async () => {
    const loc = payoutLoc();
    const { uid } = await s.client.lockInit(loc, 1);
    // wait for the lease to run out by the ledger's own clock (a ping would extend it)
    await eventually(async () => {
      const [row] = await s.db.sql`select lock_expires_at <= clock_timestamp() as expired from accounts.account where lock_uid = ${uid}::uuid`;
      return row!.expired === true;
    });
    const err = await failure(s.client.writeBatch({
      event_type: 'reserve', external_id: 'lk-expired', events: [{ loc, type: 'debit', amount: '0' }], locks: [{ loc, uid, mode: 'validate' }],
    }));
    expect(err).toMatchObject({ reason: 'lock-not-held' });
    expect(err!.message).toContain('expired');
    expect(await s.client.getBatch('lk-expired')).toBeUndefined();
    await s.client.lockRemove(loc, uid); // our own stale lease can still be cleared
  });

  it('keeps a pinged lock alive past its first timeout', async () => {
    const loc = payoutLoc();
    const { uid } = await s.client.lockInit(loc, 1);
    await s.client.lockPing(loc, uid, 60);
    const [row] = await s.db.sql`select lock_expires_at > clock_timestamp() + interval '30 seconds' as long from accounts.account where lock_uid = ${uid}::uuid`;
    expect(row!.long).toBe(true);
  });
});

describe('read with a lock', () => {
  it('takes the lock and reads; the reservation validates and removes it in one write', async () => {
    const loc = payoutLoc();
    const sent = { ...loc, type: 'payout_sent' };
    await s.client.writeBatch({ event_type: 'accrual', external_id: 'rl-seed', events: [{ loc, type: 'credit', amount: '42.42' }] });
    const r = await s.client.read({ lock: { loc, timeout_s: 30 }, balances: [{ loc }] });
    expect(r.lock?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.balances).toEqual([{ loc, debit: '0', credit: '42.42' }]);
    expect(await failure(s.client.lockInit(loc, 30))).toMatchObject({ kind: 'lock-busy' });

    await s.client.writeBatch({
      event_type: 'reserve', external_id: 'rl-reserve',
      events: [{ loc, type: 'debit', amount: '42.42' }, { loc: sent, type: 'credit', amount: '42.42' }],
      locks: [{ loc, uid: r.lock!.uid, mode: 'remove' }],
    });
    const after = await s.client.read({ lock: { loc, timeout_s: 30 }, balances: [{ loc }, { loc: sent }] });
    expect(after.balances.map((b) => [b.debit, b.credit])).toEqual([['42.42', '42.42'], ['0', '42.42']]);
  });

  it('gives the lock to exactly one of 20 concurrent readers while writers hit the account', async () => {
    const loc = payoutLoc();
    const writes = Array.from({ length: 10 }, (_, i) =>
      s.client.writeBatch({ event_type: 'accrual', external_id: `rl-race-${i}`, events: [{ loc, type: 'credit', amount: '1' }] }));
    const reads = await Promise.allSettled(Array.from({ length: 20 }, () => s.client.read({ lock: { loc, timeout_s: 30 }, balances: [{ loc }] })));
    await Promise.all(writes);
    const won = reads.filter((r) => r.status === 'fulfilled');
    const lost = reads.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost.every((r) => r.reason instanceof AccountsError && r.reason.kind === 'lock-busy')).toBe(true);
  });

  it('omits lock when none was asked for', async () => {
    const r = await s.client.read({ balances: [{ loc: payoutLoc() }] });
    expect(r.lock).toBeUndefined();
  });
});
