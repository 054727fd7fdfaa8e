// The payout history written by statement-level triggers over transition tables (migration 013)
// must record exactly what the row trigger of migration 008 recorded: one entry per inserted
// payout, one per status change, one per approve_req true → false, none for an UPDATE that
// changes neither, in the order of the statements of a transaction, with each transaction's own
// actor/action/reason, and none for a guarded UPDATE that lost a race and changed no row.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  deferPayouts, insertFixedPayout, lockReceiverPayouts, markPayoutApproved, markPayoutDeclined, markPayoutsPending,
  payoutHistory, setHistoryActor, writeHeldPayouts,
} from '../src/store/payouts.ts';
import { createTestDb, type TestDb } from './support/db.ts';

let db: TestDb;
beforeAll(async () => {
  db = await createTestDb({ poolSize: 4 });
});

let seq = 0;
const payout = (approve_req: boolean) => ({
  external_id: `attack-${Date.now()}-${seq++}`, namespace: 'taxi', client_id: '1', contract_id: '2', service_id: '3',
  currency: 'RUB', amount: '10.00', approve_req,
});
const hist = async (id: string) => (await payoutHistory(db.sql, id)).map((h) => [h.status, h.action, h.actor]);

describe('payout history per statement', () => {
  it('a transaction of several statements: insert, approve, a no-status update, pending, receiver writes', async () => {
    const [a, b] = await db.sql.begin(async (tx) => {
      const a = (await insertFixedPayout(tx, payout(true)))!;
      const b = (await insertFixedPayout(tx, payout(false)))!;
      // a repeated key inserts nothing and writes no history
      expect(await insertFixedPayout(tx, { ...payout(false), external_id: (await tx`select external_id from t_payout where id = ${b}`)[0]!.external_id })).toBeUndefined();
      await setHistoryActor(tx, { actor: 'alice', action: 'approve' });
      expect(await markPayoutApproved(tx, a)).toBe(true);
      await setHistoryActor(tx, { actor: '', action: '' });
      // touches both rows, changes no status: no entry
      await deferPayouts(tx, [{ id: a, attempts: 1, error: 'x', delayMs: 0 }, { id: b, attempts: 1, error: 'x', delayMs: 0 }]);
      await tx`update t_payout set status = status, approve_req = approve_req where id in (${a}, ${b})`;
      expect(await markPayoutsPending(tx, [{ id: a, amount: '10.00', dryRun: false, reserveBatchId: '1' }, { id: b, amount: '10.00', dryRun: false, reserveBatchId: '2' }])).toBe(2);
      const held = await lockReceiverPayouts(tx, [a, b], []);
      // one statement: a changes status, b only its OEBS fields
      const writes = held.map((row) => (row.id === a
        ? { expect: 'pending' as const, row: { ...row, status: 'confirmed' as never, oebs_batch_id: '7', oebs_returned_payments: [] } }
        : { expect: 'pending' as const, row: { ...row, oebs_status: 'seen', oebs_returned_payments: ['p1', 'p2'] } }));
      expect(await writeHeldPayouts(tx, writes)).toBe(2);
      return [a, b];
    });
    expect(await hist(a)).toEqual([['new', null, null], ['new', 'approve', 'alice'], ['pending', null, null], ['confirmed', null, null]]);
    expect(await hist(b)).toEqual([['new', null, null], ['pending', null, null]]);
    const [row] = await db.sql`select oebs_returned_payments from t_payout where id = ${b}`;
    expect(row!.oebs_returned_payments).toEqual(['p1', 'p2']);
  });

  it('approve and decline racing on one payout: the loser changes nothing and writes no history', async () => {
    const id = (await insertFixedPayout(db.sql, payout(true)))!;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const approve = db.sql.begin(async (tx) => {
      await setHistoryActor(tx, { actor: 'alice', action: 'approve' });
      const ok = await markPayoutApproved(tx, id);
      locked();
      await held;
      return ok;
    });
    await isLocked;
    const decline = db.sql.begin(async (tx) => {
      await setHistoryActor(tx, { actor: 'bob', action: 'decline', reason: 'late' });
      return markPayoutDeclined(tx, id, 'declined');
    });
    await new Promise((r) => setTimeout(r, 200)); // decline waits on approve's row lock
    release();
    expect(await approve).toBe(true);
    expect(await decline).toBe(false);
    expect(await hist(id)).toEqual([['new', null, null], ['new', 'approve', 'alice']]);
  });

  it('an update that sets approve_req back to true, or leaves it false, writes nothing', async () => {
    const id = (await insertFixedPayout(db.sql, payout(false)))!;
    await db.sql`update t_payout set approve_req = true where id = ${id}`;
    await db.sql`update t_payout set approve_req = true where id = ${id}`;
    expect(await hist(id)).toEqual([['new', null, null]]);
    await db.sql`update t_payout set approve_req = false where id = ${id}`;
    expect(await hist(id)).toEqual([['new', null, null], ['new', null, null]]);
  });
});
