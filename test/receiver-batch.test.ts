// The receiver's batch round (issue 14) through the Postgres topics: the answers of a round are
// applied in one transaction, in their order (an ARD NEW before its payout's OEBS answers), with
// one ledger call for all their events; per-message outcomes stay (errors topic, waiting); a crash
// after the ledger call and before the commit changes nothing that the next round does not repair
// once; a ledger that refuses one event sends the batch message by message.
import { beforeAll, describe, expect, it } from 'vitest';
import type { WriteBatchRequest } from '../src/accounts/client.ts';
import { ledgerExternalId } from '../src/domain/oebs-messages.ts';
import { oebsKey } from '../src/domain/status-messages.ts';
import { FailpointError, setFailpoints } from '../src/failpoints.ts';
import { Receiver } from '../src/oebs-gate/receiver.ts';
import { moneyInOrder, receiverLedger, receiverLedgerBatches } from '../src/oebs-gate/receiver-ledger.ts';
import type { DeliveredMessage } from '../src/topics/types.ts';
import {
  acc, ard, balances, errorsAbout, inbound, ledgerBatches, log, oebs, payoutRow, pendingPayout, startHarness, uniqueClient, type Harness,
} from './receiver-support.ts';

let h: Harness;
let receiver: Receiver;
const calls: WriteBatchRequest[][] = [];
beforeAll(async () => {
  h = await startHarness();
  const counting = { writeBatches: (reqs: WriteBatchRequest[]) => (calls.push(reqs), h.s.client.writeBatches(reqs)) };
  receiver = await Receiver.create({
    config: h.config, sql: h.s.db.sql, ledger: receiverLedger(h.s.client), ledgerBatches: receiverLedgerBatches(counting),
    topics: h.topics, log, retry: { baseMs: 1, maxMs: 5 }, batchSize: 100,
  });
});

/** Published as ARD and OEBS do: OEBS answers keyed by payment and status (so CREATED and RECONCILED share a round). */
const publish = (...ms: DeliveredMessage[]) => h.s.db.sql.begin(async (tx) => {
  for (const m of ms) {
    const key = m.topic === h.t.statusOebs ? oebsKey(m.payload) || m.key : m.key;
    await h.topics.publish(tx, { topic: m.topic, key, msgId: m.msgId, payload: m.payload as Record<string, unknown> });
  }
});
const waiting = async () => Number((await h.s.db.sql`select count(*) as n from topic_delivery where grp = 'oebs-gate'`)[0]!.n);

describe('a round as one batch', () => {
  it('ARD NEW and the OEBS answers of its payout in one round apply in their order; one ledger call; bad and early messages keep their outcomes', async () => {
    const clients = [uniqueClient(), uniqueClient(), uniqueClient()];
    const ids = [await pendingPayout(h, clients[0]!, '10.01'), await pendingPayout(h, clients[1]!, '20.02'), await pendingPayout(h, clients[2]!, '30.03')];
    const junk = inbound(h.t.statusOebs, 'junk', `junk-${ids[0]}`, { status_system: 'oebs', status_type: 'CREATED', payment_batch_id: 'x' });
    const early = oebs(h, ['777777777777'], 'CREATED', '777777777771', '1');
    await publish(
      ard(h, ids[0]!, 'NEW'), oebs(h, [ids[0]!], 'CREATED', `${ids[0]}1`, '10.01'), oebs(h, [ids[0]!], 'RECONCILED', `${ids[0]}1`, '10.01'),
      ard(h, ids[1]!, 'NEW'), oebs(h, [ids[1]!], 'RECONCILED', `${ids[1]}1`, '20.02'),
      ard(h, ids[2]!, 'ERROR', { payment_batch_id: null, payment_check_id: null }),
      junk, early,
    );
    calls.length = 0;
    expect(await receiver.runOnce()).toBe(8);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.map((b) => b.event_type).sort()).toEqual(['payout-cancel-reserve', 'payout-confirm', 'payout-confirm', 'payout-register']);
    expect(await payoutRow(h, ids[0]!)).toMatchObject({ status: 'done', oebs_payment_id: `${ids[0]}1` });
    expect(await payoutRow(h, ids[1]!)).toMatchObject({ status: 'done' });
    expect(await payoutRow(h, ids[2]!)).toMatchObject({ status: 'rejected' });
    expect(await balances(h, clients[0]!)).toEqual({ payout: '0', sent: '0' });
    expect(await balances(h, clients[2]!)).toEqual({ payout: '30.03', sent: '0' });
    expect(await errorsAbout(h, { msgId: junk.msgId })).toEqual([expect.objectContaining({ kind: 'error', source: 'parse_error' })]);
    expect(await errorsAbout(h, { payoutId: ids[2]! })).toEqual([expect.objectContaining({ kind: 'notice' })]);
    // The early answer waits (redelivered), alone: everything else was acknowledged.
    expect(await errorsAbout(h, { msgId: early.msgId })).toEqual([]);
    const [left] = await h.s.db.sql`select m.msg_id, d.attempts from topic_delivery d join topic_message m on m.id = d.message_id where d.grp = 'oebs-gate'`;
    expect(left).toEqual({ msg_id: early.msgId, attempts: 1 });
    await h.s.db.sql`delete from topic_delivery where grp = 'oebs-gate'`;
  });

  it('a crash after the batch\'s ledger call, before its commit: nothing committed; the next round commits, each event once', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '7.77');
    await publish(ard(h, id, 'NEW'), oebs(h, [id], 'CREATED', `${id}1`, '7.77'), oebs(h, [id], 'RECONCILED', `${id}1`, '7.77'));
    setFailpoints(['receiver.batch-after-ledger'], 'throw');
    try {
      await receiver.runOnce();
    } finally {
      setFailpoints([]);
    }
    // The ledger has the events; the payout and the topics are as before the round.
    const each = ['payout-confirm', 'payout-register', 'payout-reserve'];
    expect((await ledgerBatches(h, id)).sort()).toEqual(each);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'pending' });
    expect(await waiting()).toBe(3);
    for (let i = 0; i < 50 && (await waiting()) > 0; i++) await receiver.runOnce();
    expect(await payoutRow(h, id)).toMatchObject({ status: 'done' });
    expect((await ledgerBatches(h, id)).sort()).toEqual(each);
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '0' });
  });

  it('a crash between the two ordered ledger calls of a round (a payment returned before it paid): the redelivery finishes it, each event once, the money on payout_sent', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '6.50');
    expect(await receiver.handleBatch([ard(h, id, 'NEW')])).toEqual([undefined]);
    // RETURNED of a payment that has not paid it writes confirm, then cancel-payout: two calls.
    const returned = oebs(h, [id], 'RETURNED', `${id}1`, '6.50');
    setFailpoints(['receiver.batch-between-ledger-calls'], 'throw');
    try {
      await expect(receiver.handleBatch([returned])).rejects.toBeInstanceOf(FailpointError);
    } finally {
      setFailpoints([]);
    }
    // The first call landed, the second did not, the status change rolled back.
    expect(await ledgerBatches(h, id)).toEqual(['payout-reserve', 'payout-confirm']);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'confirmed', oebs_status: 'NEW' });
    expect(await receiver.handleBatch([returned])).toEqual([undefined]);
    expect(await ledgerBatches(h, id)).toEqual(['payout-reserve', 'payout-confirm', 'payout-cancel-payout']);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'confirmed', oebs_status: 'RETURNED' });
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '6.5' });
    // Its RECONCILED coming later pays nothing: the payment is remembered as returned.
    expect(await receiver.handleBatch([oebs(h, [id], 'RECONCILED', `${id}1`, '6.50')])).toEqual([undefined]);
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '6.5' });
  });

  it('the failpoint stops the round: the topics see every message failed, none acknowledged', async () => {
    const id = await pendingPayout(h, uniqueClient(), '1.5');
    const m = ard(h, id, 'ERROR', { payment_batch_id: null, payment_check_id: null });
    setFailpoints(['receiver.batch-after-ledger'], 'throw');
    try {
      await expect(receiver.handleBatch([m])).rejects.toBeInstanceOf(FailpointError);
    } finally {
      setFailpoints([]);
    }
    expect(await payoutRow(h, id)).toMatchObject({ status: 'pending' });
    expect(await receiver.handleBatch([m])).toEqual([undefined]);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'rejected' });
    expect(await ledgerBatches(h, id)).toEqual(['payout-reserve', 'payout-cancel-reserve']);
  });

  it('a ledger refusing one event of the batch: the batch is handled message by message; the refused one goes to oebs-errors, the others apply', async () => {
    const [a, b] = [uniqueClient(), uniqueClient()];
    const [ida, idb] = [await pendingPayout(h, a, '3.30'), await pendingPayout(h, b, '4.40')];
    await publish(ard(h, ida, 'NEW'), ard(h, idb, 'NEW'));
    while (await receiver.runOnce() > 0);
    // Another batch already holds b's confirm key with other content: the ledger refuses b's confirm for good.
    const [row] = await h.s.db.sql<{ d: string }[]>`select deployment_id as d from t_payout where id = ${idb}`;
    await h.s.client.writeBatch({ event_type: 'payout-confirm', external_id: ledgerExternalId.confirm(row!.d, idb, `${idb}1`), events: [{ loc: { ...acc(b), type: 'payout_sent' }, type: 'debit', amount: '0.01' }] });
    const refused = oebs(h, [idb], 'RECONCILED', `${idb}1`, '4.40');
    await publish(oebs(h, [ida], 'RECONCILED', `${ida}1`, '3.30'), refused);
    calls.length = 0;
    while (await receiver.runOnce() > 0);
    expect(await payoutRow(h, ida)).toMatchObject({ status: 'done' });
    expect(await payoutRow(h, idb)).toMatchObject({ status: 'confirmed' });
    expect(await errorsAbout(h, { payoutId: idb })).toEqual([expect.objectContaining({ kind: 'error', source: 'ledger_refused' })]);
    expect(await ledgerBatches(h, ida)).toEqual(['payout-reserve', 'payout-confirm']);
    expect(await balances(h, a)).toEqual({ payout: '0', sent: '0' });
    expect(calls).toHaveLength(1); // the batch's call; the messages one by one go through the coalescing writer
  });

  it('a payout\'s two money events of one batch (RETURNED of an unpaid payment) go in two calls, in their order; other payouts share the first', async () => {
    const [a, b] = [uniqueClient(), uniqueClient()];
    const [ida, idb] = [await pendingPayout(h, a, '2.20'), await pendingPayout(h, b, '3.30')];
    await publish(ard(h, ida, 'NEW'), ard(h, idb, 'NEW'));
    while (await receiver.runOnce() > 0);
    await publish(oebs(h, [ida], 'RETURNED', `${ida}9`, '2.20'), oebs(h, [idb], 'RECONCILED', `${idb}1`, '3.30'));
    calls.length = 0;
    while (await receiver.runOnce() > 0);
    expect(calls.map((c) => c.map((r) => `${r.info!.payout_id}:${r.event_type}`).sort())).toEqual([
      [`${ida}:payout-confirm`, `${idb}:payout-confirm`].sort(), [`${ida}:payout-cancel-payout`],
    ]);
    expect(await payoutRow(h, ida)).toMatchObject({ status: 'confirmed' });
    expect(await balances(h, a)).toEqual({ payout: '0', sent: '2.2' });
    expect(await payoutRow(h, idb)).toMatchObject({ status: 'done' });
  });

  it('moneyInOrder: one call unless a payout moves money twice; zero events never wait', () => {
    const ev = (payout: string, type: string, amount: string): WriteBatchRequest => ({
      event_type: type, external_id: `${payout}/${type}`, info: { deployment_id: 'd', payout_id: payout }, events: [{ loc: { ...acc('1'), type: 'payout_sent' }, type: 'debit', amount }],
    });
    const calls = moneyInOrder([ev('1', 'register', '0'), ev('1', 'confirm', '5'), ev('2', 'confirm', '1'), ev('1', 'cancel', '5'), ev('1', 'register2', '0')]);
    expect(calls.map((c) => c.map((r) => r.external_id))).toEqual([['1/register', '1/confirm', '2/confirm', '1/register2'], ['1/cancel']]);
  });

  it('splits a round\'s events into calls of at most 1000 batches (what the ledger takes), one step after the other', async () => {
    const sizes: number[][] = [];
    const fake = { writeBatches: async (reqs: WriteBatchRequest[]) => (sizes.push([reqs.length, reqs.filter((r) => r.event_type.includes('cancel')).length]), reqs.map(() => ({ kind: 'created' as const, batch_id: '1' }))) };
    const round = receiverLedgerBatches(fake as never)();
    const payout = (id: number) => ({ id: String(id), deploymentId: 'd', amount: '1.00', dryRun: false, account: acc(String(id)) });
    // A payment of 1500 payouts, paid (confirm) and returned (cancel) in one round.
    for (let i = 1; i <= 1500; i++) await round.ledger.confirm(payout(i), 'X');
    for (let i = 1; i <= 1500; i++) await round.ledger.cancelPayout(payout(i), 'X');
    expect(await round.write()).toBe(3000);
    expect(sizes).toEqual([[1000, 0], [500, 0], [1000, 1000], [500, 500]]); // every confirm before any cancel
  });
});
