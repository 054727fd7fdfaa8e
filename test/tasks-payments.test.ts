// Three-way reconciliation per OEBS payment, through the real sender and receiver: the payment
// amount (stored by the receiver as it applies the payment) = its payouts' amount_oebs = what the
// ledger confirmed for them.
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { runTasksOnce, type TaskDeps } from '../src/tasks/main.ts';
import { reportedViolations } from '../src/store/tasks.ts';
import { acc, ard, log, oebs, pendingPayout, startHarness, uniqueClient, type Harness } from './receiver-support.ts';

let h: Harness;
let deps: TaskDeps;
beforeAll(async () => {
  h = await startHarness();
  deps = { config: h.config, sql: h.s.db.sql, accounts: h.s.client, log };
});

const twoRuns = async () => {
  await runTasksOnce(deps);
  await runTasksOnce(deps);
};

describe('payment reconciliation', () => {
  it('agrees for a paid payment and a returned one; a confirm undone behind payout\'s back is reported, then clears', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '25.00');
    await h.receiver.handle(ard(h, id, 'NEW'));
    await h.receiver.handle(oebs(h, [id], 'CREATED', `${id}1`, '25.00'));
    await h.receiver.handle(oebs(h, [id], 'RECONCILED', `${id}1`, '25.00'));
    const c2 = uniqueClient();
    const returned = await pendingPayout(h, c2, '7.00');
    await h.receiver.handle(ard(h, returned, 'NEW'));
    await h.receiver.handle(oebs(h, [returned], 'RECONCILED', `${returned}1`, '7.00'));
    await h.receiver.handle(oebs(h, [returned], 'RETURNED', `${returned}1`, '7.00'));
    expect(await h.s.db.sql`select payment_id, amount::text, reconciled, returned from t_oebs_payment order by payment_id`).toEqual(
      [{ payment_id: `${id}1`, amount: '25.00', reconciled: true, returned: false }, { payment_id: `${returned}1`, amount: '7.00', reconciled: true, returned: true }]
        .sort((a, b) => a.payment_id.localeCompare(b.payment_id)));
    await twoRuns();
    expect(await reportedViolations(h.s.db.sql)).toEqual([]);

    // Someone gives the paid money back on payout_sent, by hand, under the payout's own info.
    const undo = { event_type: 'payout-cancel-payout', info: { payout_id: id, payment_id: `${id}1` }, events: [{ loc: { ...acc(c), type: 'payout_sent' }, type: 'credit' as const, amount: '25' }] };
    await h.s.client.writeBatch({ ...undo, external_id: randomUUID() });
    await twoRuns();
    const found = (await reportedViolations(h.s.db.sql)).map((v) => [v.kind, v.expected, v.actual, v.payout_ids]);
    expect(found.sort()).toEqual([
      ['confirmed', '25.000000', '0.000000', [id]],
      ['payment_ledger', '25.000000', '0.000000', [id]],
      ['payout_sent', '0.000000', '25.000000', []],
    ]);

    await h.s.client.writeBatch({ ...undo, event_type: 'payout-confirm', events: [{ ...undo.events[0]!, type: 'debit' }], external_id: randomUUID() });
    await runTasksOnce(deps);
    expect(await reportedViolations(h.s.db.sql)).toEqual([]);
  });

  it('reports an ARD check whose payouts\' reservation was cancelled behind payout\'s back, and clears it once restored', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '9.00');
    await h.receiver.handle(ard(h, id, 'NEW')); // check id = payout id
    await twoRuns();
    const mine = async () => (await reportedViolations(h.s.db.sql)).filter((v) => v.payout_ids.includes(id) || v.client_id === c)
      .map((v) => [v.kind, v.expected, v.actual]).sort();
    expect(await mine()).toEqual([]);

    const loc = { ...acc(c), type: 'payout_sent' };
    await h.s.client.writeBatch({ event_type: 'payout-cancel-reserve', external_id: randomUUID(), info: { payout_id: id }, events: [{ loc, type: 'debit', amount: '9' }] });
    await twoRuns();
    expect(await mine()).toEqual([['check_ledger', '9.000000', '0.000000'], ['payout_sent', '9.000000', '0.000000']]);

    await h.s.client.writeBatch({ event_type: 'payout-reserve', external_id: randomUUID(), info: { payout_id: id }, events: [{ loc, type: 'credit', amount: '9' }] });
    await runTasksOnce(deps);
    expect(await mine()).toEqual([]);
  });
});
