// POST /v1/batch/read with many locks and many locations: each lock granted or refused on its
// own, reads consistent with the locks, no deadlock between multi-lock readers.
import { beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import type { Loc, LockOutcome, ReadResult } from '../../src/accounts/client.ts';
import { buildAccountsApp } from '../../src/standins/accounts/app.ts';
import { payoutLoc, startStandin, type Standin } from './support.ts';

let s: Standin;
beforeAll(async () => {
  s = await startStandin();
});

const credit = (external_id: string, loc: Loc, amount: string) =>
  s.client.writeBatch({ event_type: 'accrual', external_id, events: [{ loc, type: 'credit', amount }] });
const uidOf = (o: LockOutcome | undefined) => (o && 'uid' in o ? o.uid : undefined);

describe('many locks in one read', () => {
  it('refuses only the busy ones, grants the others, and reads consistently with them', async () => {
    const locs = Array.from({ length: 6 }, () => payoutLoc());
    for (const [i, loc] of locs.entries()) await credit(`rm-seed-${i}`, loc, `${i + 1}`);
    const held1 = await s.client.lockInit(locs[1]!, 60);
    const held4 = await s.client.lockInit(locs[4]!, 60);
    const fresh = payoutLoc(); // never written: its lock creates the account

    const r = await s.client.read({
      locks: [...locs, fresh].map((loc) => ({ loc, timeout_s: 60 })),
      balances: locs.map((loc) => ({ loc })),
      history: locs.map((loc) => ({ loc })),
    });
    expect(r.locks).toHaveLength(7);
    expect(r.locks[1]).toMatchObject({ error: 'lock_busy', message: expect.stringContaining('locked by someone else') });
    expect(r.locks[4]).toMatchObject({ error: 'lock_busy' });
    for (const i of [0, 2, 3, 5, 6]) expect(uidOf(r.locks[i])).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(r.locks.map(uidOf).filter(Boolean)).size).toBe(5);
    expect(r.balances.map((b) => b.credit)).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(r.history.map((h) => h.events.map((e) => e.external_id))).toEqual(locs.map((_, i) => [`rm-seed-${i}`]));

    // nothing rolled back: the granted leases hold (a write validating them lands), the busy ones
    // still belong to their holders
    const w = await s.client.writeBatch({
      event_type: 'reserve', external_id: 'rm-w1', events: [{ loc: locs[0]!, type: 'debit', amount: '1' }],
      locks: [{ loc: locs[0]!, uid: uidOf(r.locks[0])!, mode: 'remove' }, { loc: fresh, uid: uidOf(r.locks[6])!, mode: 'validate' }],
    });
    expect(w.created).toBe(true);
    await s.client.lockPing(locs[1]!, held1.uid, 60);
    await s.client.lockPing(locs[4]!, held4.uid, 60);
  });

  it('grants a loc asked twice once; a busy single `lock` still refuses the whole read', async () => {
    const [a, b] = [payoutLoc(), payoutLoc()];
    const r = await s.client.read({ locks: [{ loc: a, timeout_s: 60 }, { loc: a, timeout_s: 60 }, { loc: b, timeout_s: 60 }] });
    expect(uidOf(r.locks[0])).toBeDefined();
    expect(r.locks[1]).toMatchObject({ error: 'lock_busy', message: expect.stringContaining('locks.0 of this read') });
    expect(uidOf(r.locks[2])).toBeDefined();
    expect(r.lock).toBeUndefined();

    const c = payoutLoc();
    const before = await s.counts();
    const refused = await s.post('/v1/batch/read', { lock: { loc: a, timeout_s: 60 }, locks: [{ loc: c, timeout_s: 60 }] });
    expect(refused).toMatchObject({ status: 409, body: { code: 'lock_busy' } });
    expect(await s.counts()).toEqual(before); // c was not created: the read rolled back
    const both = await s.client.read({ lock: { loc: c, timeout_s: 60 }, locks: [{ loc: payoutLoc(), timeout_s: 60 }] });
    expect(both.lock?.uid).toBeDefined();
    expect(uidOf(both.locks[0])).toBeDefined();
  });

  it('answers locks: [] when none were asked for, and an empty locks takes nothing', async () => {
    expect((await s.client.read({})).locks).toEqual([]);
    expect((await s.post('/v1/batch/read', { locks: [] })).body.locks).toEqual([]);
  });

  it('two concurrent readers locking overlapping accounts in opposite orders never deadlock; each lock goes to one', async () => {
    for (let round = 0; round < 10; round++) {
      const locs = Array.from({ length: 40 }, () => payoutLoc());
      const asked = locs.map((loc) => ({ loc, timeout_s: 60 }));
      const [x, y] = await Promise.all([
        s.client.read({ locks: asked, balances: locs.map((loc) => ({ loc })) }),
        s.client.read({ locks: [...asked].reverse(), balances: [...locs].reverse().map((loc) => ({ loc })) }),
      ]);
      const yInOrder = [...y.locks].reverse();
      for (let i = 0; i < locs.length; i++) {
        const granted = [uidOf(x.locks[i]), uidOf(yInOrder[i])].filter(Boolean);
        expect(granted).toHaveLength(1);
      }
    }
  });
});

describe('many locations in one read', () => {
  it('reads hundreds of balances (latest and as of) and histories in order, with a bounded number of statements', async () => {
    const locs = Array.from({ length: 300 }, () => payoutLoc());
    const first = await Promise.all(locs.map((loc, i) => s.client.writeBatch({
      event_type: 'accrual', external_id: `rm-many-${i}`, dt: '2025-03-01T00:00:00Z', events: [{ loc, type: 'credit', amount: `${i}.5` }],
    })));
    await Promise.all(locs.map((loc, i) => s.client.writeBatch({
      event_type: 'reserve', external_id: `rm-many2-${i}`, dt: '2025-03-02T00:00:00Z', events: [{ loc, type: 'debit', amount: '0.5' }],
    })));
    // A second stand-in on a pool that counts the statements it sends.
    let statements = 0;
    const counted = postgres(s.db.url, { max: 2, onnotice: () => {}, debug: () => statements++ });
    const app = await buildAccountsApp({ sql: counted });
    const res = await app.inject({ method: 'POST', url: '/v1/batch/read', payload: {
      balances: locs.flatMap((loc) => [{ loc }, { loc, dt: '2025-03-02T00:00:00Z' }]),
      history: locs.map((loc, i) => ({ loc, from_batch_id: first[i]!.batch_id })),
    } });
    await app.close();
    await counted.end();
    expect(res.statusCode).toBe(200);
    const r = res.json() as ReadResult;
    expect(r.balances).toHaveLength(600);
    locs.forEach((_, i) => {
      expect(r.balances[2 * i]).toMatchObject({ debit: '0.5', credit: `${i}.5` });
      expect(r.balances[2 * i + 1]).toMatchObject({ debit: '0', credit: `${i}.5` });
      expect(r.history[i]!.events.map((e) => e.external_id)).toEqual([`rm-many-${i}`, `rm-many2-${i}`]);
    });
    // one statement per item would be 900; this read is begin, three selects, commit
    expect(statements).toBeGreaterThanOrEqual(3);
    expect(statements).toBeLessThanOrEqual(6);
  });
});
