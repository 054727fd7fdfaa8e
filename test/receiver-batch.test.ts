// The receiver's batch round (issue 14) through the Postgres topics: the answers of a round are
// applied in one transaction, in their order (an ARD NEW before its payout's OEBS answers), their
// events stored in the ledger outbox and sent after the commit by the ledger writer, one call for
// all; per-message outcomes stay (errors topic, waiting); a crash before the commit changes
// nothing that the next round does not repair once; a crash of the writer between its calls is
// finished by its next round.
import { beforeAll, describe, expect, it } from 'vitest';
import type { WriteBatchRequest } from '../src/accounts/client.ts';
import { oebsKey } from '../src/domain/status-messages.ts';
import { FailpointError, setFailpoints } from '../src/failpoints.ts';
import { Receiver } from '../src/oebs-gate/receiver.ts';
import { LedgerWriter } from '../src/oebs-gate/ledger-writer.ts';
import { moneyInOrder } from '../src/oebs-gate/receiver-ledger.ts';
import type { DeliveredMessage } from '../src/topics/types.ts';
import {
  acc, ard, balances, errorsAbout, inbound, ledgerBatches, log, oebs, payoutRow, pendingPayout, startHarness, uniqueClient, type Harness,
} from './receiver-support.ts';

let h: Harness;
let receiver: Receiver;
let writer: LedgerWriter;
const calls: WriteBatchRequest[][] = [];
beforeAll(async () => {
  h = await startHarness();
  const counting = { writeBatches: (reqs: WriteBatchRequest[]) => (calls.push(reqs), h.s.client.writeBatches(reqs)) };
  writer = new LedgerWriter({ sql: h.s.db.sql, client: counting, log });
  receiver = await Receiver.create({
    config: h.config, sql: h.s.db.sql, topics: h.topics, log, retry: { baseMs: 1, maxMs: 5 }, batchSize: 100, onCommitted: () => writer.drain(),
  });
});

/** Published as ARD and OEBS do: OEBS answers keyed by payment and status (so CREATED and RECONCILED share a round). */
const publish = (...ms: DeliveredMessage[]) => h.s.db.sql.begin(async (tx) => {
  for (const m of ms) {
    const key = m.topic === h.t.statusOebs ? oebsKey(m.payload) || m.key : m.key;
    await h.topics.publish(tx, { topic: m.topic, key, msgId: m.msgId, payload: m.payload as Record<string, unknown> });
  }
});
/** The event types of the payout's requests still in the ledger outbox, in id order. */
const outboxOf = async (id: string) => (await h.s.db.sql<{ t: string }[]>`
  select request::json->>'event_type' as t from t_ledger_outbox where payout_id = ${id} order by id`).map((r) => r.t);
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

  it('a crash before the batch\'s commit: nothing committed, nothing in the ledger or its outbox; the next round commits, each event once', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '7.77');
    await publish(ard(h, id, 'NEW'), oebs(h, [id], 'CREATED', `${id}1`, '7.77'), oebs(h, [id], 'RECONCILED', `${id}1`, '7.77'));
    setFailpoints(['receiver.before-commit'], 'throw');
    try {
      await receiver.runOnce();
    } finally {
      setFailpoints([]);
    }
    // The payout, the ledger, the outbox and the topics are as before the round.
    const each = ['payout-confirm', 'payout-register', 'payout-reserve'];
    expect(await ledgerBatches(h, id)).toEqual(['payout-reserve']);
    expect(await outboxOf(id)).toEqual([]);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'pending' });
    expect(await waiting()).toBe(3);
    for (let i = 0; i < 50 && (await waiting()) > 0; i++) await receiver.runOnce();
    expect(await payoutRow(h, id)).toMatchObject({ status: 'done' });
    expect((await ledgerBatches(h, id)).sort()).toEqual(each);
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '0' });
  });

  it('a crash of the writer between the two ordered ledger calls (a payment returned before it paid): its next round finishes it, each event once, the money on payout_sent', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '6.50');
    expect(await receiver.handleBatch([ard(h, id, 'NEW')])).toEqual([undefined]);
    // RETURNED of a payment that has not paid it writes confirm, then cancel-payout: two calls.
    const returned = oebs(h, [id], 'RETURNED', `${id}1`, '6.50');
    setFailpoints(['ledger-writer.between-calls'], 'throw');
    try {
      await expect(receiver.handleBatch([returned])).rejects.toBeInstanceOf(FailpointError);
    } finally {
      setFailpoints([]);
    }
    // The status change committed; the first call landed, the second did not; both wait in the outbox.
    expect(await payoutRow(h, id)).toMatchObject({ status: 'confirmed', oebs_status: 'RETURNED' });
    expect(await ledgerBatches(h, id)).toEqual(['payout-reserve', 'payout-confirm']);
    expect(await outboxOf(id)).toEqual(['payout-confirm', 'payout-cancel-payout']);
    // The redelivery changes nothing (the payment is remembered as returned); the writer finishes.
    expect(await receiver.handleBatch([returned])).toEqual([undefined]);
    expect(await writer.drain()).toBe(2);
    expect(await outboxOf(id)).toEqual([]);
    expect(await ledgerBatches(h, id)).toEqual(['payout-reserve', 'payout-confirm', 'payout-cancel-payout']);
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '6.5' });
    // Its RECONCILED coming later pays nothing: the payment is remembered as returned.
    expect(await receiver.handleBatch([oebs(h, [id], 'RECONCILED', `${id}1`, '6.50')])).toEqual([undefined]);
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '6.5' });
  });

  it('the failpoint stops the round: the topics see every message failed, none acknowledged', async () => {
    const id = await pendingPayout(h, uniqueClient(), '1.5');
    const m = ard(h, id, 'ERROR', { payment_batch_id: null, payment_check_id: null });
    setFailpoints(['receiver.before-commit'], 'throw');
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
    const calls = moneyInOrder([ev('1', 'register', '0'), ev('1', 'confirm', '5'), ev('2', 'confirm', '1'), ev('1', 'cancel', '5'), ev('1', 'register2', '0')], (r) => r);
    expect(calls.map((c) => c.map((r) => r.external_id))).toEqual([['1/register', '1/confirm', '2/confirm', '1/register2'], ['1/cancel']]);
  });
});
