// The receiver over real Postgres and the stand-in ledger: payouts reserved by the real sender,
// ARD/OEBS answers handed to the receiver's handler, the ledger checked after every step.
import { Registry } from 'prom-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { add } from '../src/domain/money.ts';
import { FailpointError, setFailpoints } from '../src/failpoints.ts';
import { NotYet } from '../src/oebs-gate/receiver-apply.ts';
import { OebsEmulator } from '../src/standins/oebs/emulator.ts';
import { insertFixedPayout } from '../src/store/payouts.ts';
import pino from 'pino';
import { createAccountsClient } from '../src/accounts/client.ts';
import { accountsError } from '../src/accounts/errors.ts';
import { registerTaskGauges } from '../src/api/tasks-metrics.ts';
import { LedgerWriter } from '../src/oebs-gate/ledger-writer.ts';
import { runIntegrity } from '../src/tasks/integrity.ts';
import { decodeBody } from '../src/topics/codec.ts';
import { noticesTopic, topicsFor } from '../src/topics/paths.ts';
import { eventually, faultyAccounts } from './gates-support.ts';
import {
  acc, ard, balances, inbound, otherBatch, errorsAbout, harnessOn, history, ledgerBatches, log, oebs, payoutRow, pendingPayout, reportsOf, startHarness, uniqueClient, type Harness,
} from './receiver-support.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});

const RESERVE = 'payout-reserve';
const REGISTER = 'payout-register';
const CONFIRM = 'payout-confirm';

describe('ARD answers', () => {
  it('NEW confirms: batch and check stored, CPFs done, no money moves; a repeat changes nothing', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '100.01', true);
    await h.receiver.handle(ard(h, id, 'NEW'));
    expect(await payoutRow(h, id)).toMatchObject({ status: 'confirmed', oebs_batch_id: id, oebs_check_id: id, oebs_status: 'NEW' });
    expect(await h.s.db.sql`select status from t_cpf where payout_id = ${id}`).toEqual([{ status: 'done' }]);
    await h.receiver.handle(ard(h, id, 'NEW'));
    expect(await payoutRow(h, id)).toMatchObject({ status: 'confirmed' });
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '100.01' });
    expect(await ledgerBatches(h, id)).toEqual([RESERVE]);
    expect(await history(h, id)).toEqual(['new', 'pending', 'confirmed']);
  });

  it('an error rejects and cancels the reservation once, with a notice; NEW afterwards does not revive it', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '70.5');
    const first = ard(h, id, 'ERROR', { payment_batch_id: null, payment_check_id: null });
    await h.receiver.handle(first);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'rejected', error: 'no such account', oebs_status: 'ERROR' });
    expect(await balances(h, c)).toEqual({ payout: '70.5', sent: '0' });
    expect(await ledgerBatches(h, id)).toEqual([RESERVE, 'payout-cancel-reserve']);
    expect(await errorsAbout(h, { payoutId: id })).toEqual([expect.objectContaining({ kind: 'notice', reason: expect.stringContaining('rejected by ARD') })]);
    // The same message again, another error, then a late NEW: nothing moves.
    await h.receiver.handle(first);
    await h.receiver.handle(ard(h, id, 'REJECTED'));
    const late = ard(h, id, 'NEW');
    await h.receiver.handle(late);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'rejected' });
    expect(await balances(h, c)).toEqual({ payout: '70.5', sent: '0' });
    expect(await ledgerBatches(h, id)).toHaveLength(2);
    expect(await errorsAbout(h, { msgId: late.msgId })).toEqual([expect.objectContaining({ kind: 'error', source: 'wrong_payout_status', module: 'ard', system: 'billing', dry_run: false, reason: expect.stringContaining('not revived'), message: late.body })]);
    expect(await history(h, id)).toEqual(['new', 'pending', 'rejected']);
  });

  it('a dry-run payout refused by ARD comes back dry-run with its CPFs: the next payout of the account is dry-run and carries them', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '4.25', true, true);
    await h.receiver.handle({ ...ard(h, id, 'ERROR'), topic: `${h.config.topics.bases.get('taxi')}/payout-status-ard-dry` });
    expect(await payoutRow(h, id)).toMatchObject({ status: 'rejected' });
    const [cancel] = await h.s.db.sql<{ info: Record<string, unknown> }[]>`
      select info from accounts.batch where event_type = 'payout-cancel-reserve' and external_id like ${`payout/%/${id}/%`}`;
    expect(cancel!.info).toMatchObject({ dry_run: true, cpf: [{ external_id: `R-${c}`, amount: '4.25', operation_type: 'INSERT_NETTING' }] });
    // Paid again: the money is the cancelled reservation's, dry-run, with the same CPF.
    const again = await insertFixedPayout(h.s.db.sql, { external_id: `again-${c}`, ...acc(c), amount: '4.25', approve_req: false });
    await h.sender.runOnce();
    const [p] = await h.s.db.sql`select status, dry_run from t_payout where id = ${again!}`;
    expect(p).toEqual({ status: 'pending', dry_run: true });
    expect(await h.s.db.sql`select external_id, dry_run from t_cpf where payout_id = ${again!}`).toEqual([{ external_id: `R-${c}`, dry_run: true }]);
    const topicsOfMessage = await h.s.db.sql`select topic from topic_message where msg_id = ${again!} and topic like '%new-payout%'`;
    expect(topicsOfMessage.map((r) => r.topic)).toEqual([`${h.config.topics.bases.get('taxi')}/new-payout-dry`]);
  });

  it('PROCESSED is recorded and moves nothing', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '3');
    await h.receiver.handle(ard(h, id, 'NEW'));
    await h.receiver.handle(ard(h, id, 'PROCESSED'));
    expect(await payoutRow(h, id)).toMatchObject({ status: 'confirmed', oebs_status: 'PROCESSED' });
    expect(await ledgerBatches(h, id)).toEqual([RESERVE]);
  });
});

describe('OEBS answers', () => {
  async function confirmed(amount: string) {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, amount);
    await h.receiver.handle(ard(h, id, 'NEW'));
    return { c, id, batch: id };
  }

  it('CREATED registers, TRANSMITTED records, RECONCILED pays once; repeats change nothing', async () => {
    const { c, id, batch } = await confirmed('250.10');
    const created = oebs(h, [batch], 'CREATED', `${id}1`, '250.10');
    await h.receiver.handle(created);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'confirmed', oebs_payment_id: `${id}1`, oebs_status: 'CREATED' });
    expect(await ledgerBatches(h, id)).toEqual([RESERVE, REGISTER]);
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '250.1' });
    await h.receiver.handle(oebs(h, [batch], 'TRANSMITTED', `${id}1`, '250.10'));
    expect(await payoutRow(h, id)).toMatchObject({ status: 'confirmed', oebs_status: 'TRANSMITTED' });
    const reconciled = oebs(h, [batch], 'RECONCILED', `${id}1`, '250.10');
    await h.receiver.handle(reconciled);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'done', oebs_status: 'RECONCILED' });
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '0' });
    for (const m of [reconciled, created, reconciled]) await h.receiver.handle(m);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'done' });
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '0' });
    expect(await ledgerBatches(h, id)).toEqual([RESERVE, REGISTER, CONFIRM]);
    expect(await history(h, id)).toEqual(['new', 'pending', 'confirmed', 'done']);
  });

  it('RETURNED takes a paid payout back to confirmed (money back on payout_sent, a notice); it is paid again under a new payment', async () => {
    const { c, id, batch } = await confirmed('40');
    await h.receiver.handle(oebs(h, [batch], 'RECONCILED', `${id}1`, '40'));
    const returned = oebs(h, [batch], 'RETURNED', `${id}1`, '40');
    await h.receiver.handle(returned);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'confirmed', oebs_status: 'RETURNED' });
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '40' });
    expect(await errorsAbout(h, { payoutId: id })).toEqual([expect.objectContaining({ kind: 'notice', reason: expect.stringContaining(`returned payment ${id}1`) })]);
    // Repeats of the returned payment: no second refund, and it never counts as paid again.
    await h.receiver.handle(returned);
    await h.receiver.handle(oebs(h, [batch], 'RECONCILED', `${id}1`, '40'));
    expect(await payoutRow(h, id)).toMatchObject({ status: 'confirmed' });
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '40' });
    await h.receiver.handle(oebs(h, [batch], 'CREATED', `${id}2`, '40'));
    await h.receiver.handle(oebs(h, [batch], 'RECONCILED', `${id}2`, '40'));
    // A late CREATED and RETURNED of the first payment do not undo the second.
    await h.receiver.handle(oebs(h, [batch], 'CREATED', `${id}1`, '40'));
    await h.receiver.handle(oebs(h, [batch], 'RETURNED', `${id}1`, '40'));
    expect(await payoutRow(h, id)).toMatchObject({ status: 'done', oebs_payment_id: `${id}2` });
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '0' });
    expect(await ledgerBatches(h, id)).toEqual([RESERVE, CONFIRM, 'payout-cancel-payout', REGISTER, CONFIRM]);
    expect(await history(h, id)).toEqual(['new', 'pending', 'confirmed', 'done', 'confirmed', 'done']);
  });

  it('RETURNED of a payout not yet paid: remembered (a notice), no money; its RECONCILED coming later does not pay', async () => {
    const { c, id, batch } = await confirmed('9');
    const m = oebs(h, [batch], 'RETURNED', `${id}9`, '9');
    await h.receiver.handle(m);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'confirmed' });
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '9' });
    // Paid and returned, as the message says: net zero.
    expect(await ledgerBatches(h, id)).toEqual([RESERVE, CONFIRM, 'payout-cancel-payout']);
    expect(await errorsAbout(h, { payoutId: id })).toEqual([expect.objectContaining({ kind: 'notice', module: 'oebs', namespace: 'taxi', reason: expect.stringContaining('has not paid') })]);
    await h.receiver.handle(oebs(h, [batch], 'RECONCILED', `${id}9`, '9'));
    expect(await payoutRow(h, id)).toMatchObject({ status: 'confirmed' });
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '9' });
  });

  it('RECONCILED of a second payment while paid by a first not yet returned waits for the RETURNED', async () => {
    const { c, id, batch } = await confirmed('6');
    await h.receiver.handle(oebs(h, [batch], 'RECONCILED', `${id}1`, '6'));
    const second = oebs(h, [batch], 'RECONCILED', `${id}2`, '6');
    await expect(h.receiver.handle(second)).rejects.toBeInstanceOf(NotYet);
    await h.receiver.handle(oebs(h, [batch], 'RETURNED', `${id}1`, '6'));
    await h.receiver.handle(second);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'done', oebs_payment_id: `${id}2` });
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '0' });
  });

  it('one payment covers the payouts of several clients and batches', async () => {
    const clients = [uniqueClient(), uniqueClient(), uniqueClient()];
    const ids = [await pendingPayout(h, clients[0]!, '10.10'), await pendingPayout(h, clients[1]!, '20.20'), await pendingPayout(h, clients[2]!, '30.30')];
    // Two payouts in one ARD batch, the third in another; the payment covers both batches.
    const shared = otherBatch(ids[0]!, 1);
    await h.receiver.handle(ard(h, ids[0]!, 'NEW', { payment_batch_id: shared }));
    await h.receiver.handle(ard(h, ids[2]!, 'NEW', { payment_batch_id: otherBatch(ids[2]!, 2) }));
    const payment = (status: string) => oebs(h, [shared, otherBatch(ids[2]!, 2)], status, `${ids[0]}3`, '60.60');
    // The second payout of the shared batch is not confirmed yet: the payment does not add up, so it waits.
    await expect(h.receiver.handle(payment('RECONCILED'))).rejects.toBeInstanceOf(NotYet);
    expect(await payoutRow(h, ids[0]!)).toMatchObject({ status: 'confirmed' });
    await h.receiver.handle(ard(h, ids[1]!, 'NEW', { payment_batch_id: shared }));
    await h.receiver.handle(payment('CREATED'));
    await h.receiver.handle(payment('RECONCILED'));
    await h.receiver.handle(payment('RECONCILED'));
    for (const [i, id] of ids.entries()) {
      expect(await payoutRow(h, id)).toMatchObject({ status: 'done', oebs_payment_id: `${ids[0]}3` });
      expect(await balances(h, clients[i]!)).toEqual({ payout: '0', sent: '0' });
      expect(await ledgerBatches(h, id)).toEqual([RESERVE, REGISTER, CONFIRM]);
    }
  });

  it('a payment smaller than its payouts goes to the errors topic (waiting would not help)', async () => {
    const { id, batch } = await confirmed('5');
    const m = oebs(h, [batch], 'RECONCILED', `${id}1`, '4');
    await h.receiver.handle(m);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'confirmed' });
    expect(await errorsAbout(h, { msgId: m.msgId })).toEqual([expect.objectContaining({ reason: expect.stringContaining('more than 4') })]);
  });
});

describe('OEBS before ARD NEW', () => {
  it('waits (redelivered, not an error), then applies after NEW', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '12');
    const created = oebs(h, [id], 'CREATED', `${id}1`, '12');
    const reconciled = oebs(h, [id], 'RECONCILED', `${id}1`, '12');
    await expect(h.receiver.handle(created)).rejects.toBeInstanceOf(NotYet);
    await expect(h.receiver.handle(reconciled)).rejects.toBeInstanceOf(NotYet);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'pending' });
    expect(await ledgerBatches(h, id)).toEqual([RESERVE]);
    expect(await errorsAbout(h, { msgId: created.msgId })).toEqual([]);
    await h.receiver.handle(ard(h, id, 'NEW'));
    await h.receiver.handle(created);
    await h.receiver.handle(reconciled);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'done' });
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '0' });
  });

  it('through the topics: the waiting message holds back its batch and is redelivered until NEW comes', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '13');
    const publish = (m: ReturnType<typeof ard>) => h.s.db.sql.begin((tx) => h.topics.publish(tx, { ...m, payload: m.payload as Record<string, unknown> }));
    await publish(oebs(h, [id], 'CREATED', `${id}1`, '13'));
    await publish(oebs(h, [id], 'RECONCILED', `${id}1`, '13'));
    await h.receiver.runOnce();
    const [waiting] = await h.s.db.sql`select attempts from topic_delivery where grp = 'oebs-gate' and key = ${`${id}1`} order by message_id limit 1`;
    expect(waiting!.attempts).toBeGreaterThan(0);
    await publish(ard(h, id, 'NEW'));
    for (let i = 0; i < 200 && (await payoutRow(h, id)).status !== 'done'; i++) await h.receiver.runOnce();
    expect(await payoutRow(h, id)).toMatchObject({ status: 'done' });
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '0' });
  });

  it('gives up after PAYOUT_RECEIVER_MAX_WAIT: the message goes to the errors topic and is acknowledged', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '14');
    const old = oebs(h, [id], 'CREATED', `${id}1`, '14', { publishedAt: new Date(Date.now() - 2 * 3_600_000) });
    await h.receiver.handle(old);
    expect(await errorsAbout(h, { msgId: old.msgId })).toEqual([expect.objectContaining({ kind: 'error', reason: expect.stringContaining('gave up waiting') })]);
    // Without a publish time, the wait counts from the first delivery this process saw.
    let now = new Date();
    const clocked = await harnessOn(h.s, {}, { now: () => now });
    const unknownAge = oebs(h, ['999999999999'], 'RECONCILED', '999999999991', '1', { publishedAt: undefined });
    await expect(clocked.receiver.handle(unknownAge)).rejects.toBeInstanceOf(NotYet);
    now = new Date(now.getTime() + 3_600_001);
    await clocked.receiver.handle(unknownAge);
    expect(await errorsAbout(h, { msgId: unknownAge.msgId })).toHaveLength(1);
  });

  /** Two payouts in one ARD batch, the first confirmed, the second's ARD NEW late; a payment for both. */
  async function halfConfirmedBatch(amounts: [string, string]) {
    const clients = [uniqueClient(), uniqueClient()];
    const ids = [await pendingPayout(h, clients[0]!, amounts[0]), await pendingPayout(h, clients[1]!, amounts[1])];
    const batch = otherBatch(ids[0]!, 5);
    await h.receiver.handle(ard(h, ids[0]!, 'NEW', { payment_batch_id: batch }));
    const [row] = await h.s.db.sql<{ sent: Date }[]>`select max(reserve_dt) as sent from t_payout where id = any(${ids}::int8[])`;
    return { clients, ids, batch, sentAt: row!.sent, total: add(amounts[0], amounts[1]) };
  }

  it('the wait counts from when the payouts were sent: a backlog published long ago still waits for a recent payout, then applies', async () => {
    const { clients, ids, batch, sentAt, total } = await halfConfirmedBatch(['3.10', '4.20']);
    let now = new Date(sentAt.getTime() + 60_000);
    const clocked = await harnessOn(h.s, {}, { now: () => now });
    // Published two hours before the payouts were even sent (an outage's backlog): not given up.
    const old = oebs(h, [batch], 'RECONCILED', `${ids[0]}7`, total, { publishedAt: new Date(sentAt.getTime() - 2 * 3_600_000) });
    await expect(clocked.receiver.handle(old)).rejects.toBeInstanceOf(NotYet);
    now = new Date(sentAt.getTime() + 3_599_000);
    await expect(clocked.receiver.handle(old)).rejects.toBeInstanceOf(NotYet);
    expect(await errorsAbout(h, { msgId: old.msgId })).toEqual([]);
    await clocked.receiver.handle(ard(h, ids[1]!, 'NEW', { payment_batch_id: batch }));
    await clocked.receiver.handle(old);
    for (const [i, id] of ids.entries()) {
      expect(await payoutRow(h, id)).toMatchObject({ status: 'done', oebs_payment_id: `${ids[0]}7` });
      expect(await balances(h, clients[i]!)).toEqual({ payout: '0', sent: '0' });
      expect(await ledgerBatches(h, id)).toEqual([RESERVE, CONFIRM]);
    }
  });

  it('gives up PAYOUT_RECEIVER_MAX_WAIT after the payouts were sent, however fresh the message', async () => {
    const { ids, batch, sentAt, total } = await halfConfirmedBatch(['1.10', '2.20']);
    let now = new Date(sentAt.getTime() + 3_599_000);
    const clocked = await harnessOn(h.s, {}, { now: () => now });
    const fresh = () => oebs(h, [batch], 'CREATED', `${ids[0]}8`, total, { publishedAt: now });
    const first = fresh();
    await expect(clocked.receiver.handle(first)).rejects.toBeInstanceOf(NotYet);
    now = new Date(sentAt.getTime() + 3_600_001);
    const late = fresh();
    await clocked.receiver.handle(late);
    expect(await errorsAbout(h, { msgId: late.msgId })).toEqual([expect.objectContaining({ kind: 'error', source: 'wrong_payout_status', reason: expect.stringContaining('gave up waiting') })]);
    expect(await payoutRow(h, ids[0]!)).toMatchObject({ status: 'confirmed', oebs_payment_id: null });
    expect(await ledgerBatches(h, ids[0]!)).toEqual([RESERVE]);
  });

  it('a wait that is not for ARD (RECONCILED of a second payment before the first one\'s RETURNED) still counts from the message', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '2.5');
    await h.receiver.handle(ard(h, id, 'NEW'));
    await h.receiver.handle(oebs(h, [id], 'RECONCILED', `${id}1`, '2.5'));
    const [row] = await h.s.db.sql<{ sent: Date }[]>`select reserve_dt as sent from t_payout where id = ${id}`;
    const now = new Date(row!.sent.getTime() + 2 * 3_600_000);
    const clocked = await harnessOn(h.s, {}, { now: () => now });
    // Sent two hours ago, but the message is a minute old: it waits.
    await expect(clocked.receiver.handle(oebs(h, [id], 'RECONCILED', `${id}2`, '2.5', { publishedAt: new Date(now.getTime() - 60_000) }))).rejects.toBeInstanceOf(NotYet);
  });
});

describe('messages that cannot be applied go to oebs-errors once, with their source, and are acknowledged', () => {
  const ardOk = { status_system: 'oebs', status_type: 'NEW', message_id: 1, payment_batch_id: 1, payment_check_id: 1 };
  const oebsOk = { status_system: 'oebs', status_type: 'CREATED', payment_batch_id: [1], payment_id: 2, payment_amount: 1.00 };
  it.each([
    ['ARD not JSON', 'ard', '{"status_system": "oebs", ', 'parse_error', 'no JSON at all'],
    ['ARD as an array', 'ard', JSON.stringify([ardOk]), 'parse_error', 'an array'],
    ['ARD from another system', 'ard', JSON.stringify({ ...ardOk, status_system: 'ard' }), 'unknown_system', 'status_system "ard"'],
    ['ARD without status_system', 'ard', JSON.stringify({ ...ardOk, status_system: undefined }), 'unknown_system', 'status_system'],
    ['ARD without a payout id', 'ard', JSON.stringify({ ...ardOk, message_id: undefined }), 'parse_error', 'message_id'],
    ['ARD with a payout id beyond int64', 'ard', '{"status_system":"oebs","status_type":"NEW","message_id":9223372036854775808,"payment_batch_id":1,"payment_check_id":1}', 'parse_error', 'int64'],
    ['ARD with a fractional payout id', 'ard', '{"status_system":"oebs","status_type":"NEW","message_id":12.5,"payment_batch_id":1,"payment_check_id":1}', 'parse_error', 'int64'],
    ['ARD NEW with a check id that is not a number', 'ard-pending', JSON.stringify({ payment_check_id: 'C1' }), 'parse_error', 'payment_check_id'],
    ['ARD with an unknown payout', 'ard', JSON.stringify({ ...ardOk, message_id: 999999999 }), 'no_such_payout', 'unknown payout'],
    ['ARD with an unknown status', 'ard-pending', JSON.stringify({ status_type: 'BANANA' }), 'wrong_payout_status', 'unknown ARD status'],
    ['OEBS with a batch id that is not a list', 'oebs', JSON.stringify({ ...oebsOk, payment_batch_id: 1 }), 'parse_error', 'non-empty list'],
    ['OEBS with a batch id that is not an int', 'oebs', JSON.stringify({ ...oebsOk, payment_batch_id: ['B1'] }), 'parse_error', 'non-empty list'],
    ['OEBS with a negative amount', 'oebs', JSON.stringify({ ...oebsOk, payment_amount: -1 }), 'parse_error', 'bad payment_amount'],
    ['OEBS from another system', 'oebs', JSON.stringify({ ...oebsOk, status_system: 'billing' }), 'unknown_system', 'status_system'],
    ['OEBS with an unknown status', 'oebs-confirmed', JSON.stringify({ status_type: 'LOST' }), 'wrong_payout_status', 'unknown OEBS status'],
  ])('%s', async (_name, kind, body, source, reason) => {
    const topic = kind.startsWith('ard') ? h.t.statusArd : h.t.statusOebs;
    let text = body;
    // Variants of a valid message about a real payout: the fields given replace the valid ones.
    if (kind === 'ard-pending') text = JSON.stringify({ ...JSON.parse(ard(h, await pendingPayout(h, uniqueClient(), '1'), 'X').body), ...JSON.parse(body) });
    if (kind === 'oebs-confirmed') {
      const id = await pendingPayout(h, uniqueClient(), '1');
      await h.receiver.handle(ard(h, id, 'NEW'));
      text = JSON.stringify({ ...JSON.parse(oebs(h, [id], 'X', `${id}1`, '1.00').body), ...JSON.parse(body) });
    }
    const m = { ...inbound(topic, 'k', `garbage-${Math.random()}`, {}, new Date()), ...decodeBody(text) };
    await h.receiver.handle(m);
    await h.receiver.handle({ ...m, redelivered: true }); // a redelivery reports nothing more
    expect(await errorsAbout(h, { msgId: m.msgId })).toEqual([{
      system: 'billing', module: kind.startsWith('ard') ? 'ard' : 'oebs', source, dry_run: false, kind: 'error',
      reason: expect.stringContaining(reason), message: text, source_topic: topic, source_msg_id: m.msgId,
    }]);
  });
});

describe('ledger failures: the decision commits with its ledger events in the outbox; the ledger writer catches up', () => {
  /** The event types of the payout's requests in the ledger outbox, with the refusal of those refused. */
  const outboxOf = async (id: string) => (await h.s.db.sql<{ t: string; refusal: string | null }[]>`
    select request::json->>'event_type' as t, refusal from t_ledger_outbox where payout_id = ${id} order by id`).map((r) => (r.refusal ? `${r.t} (refused)` : r.t));
  const findingsOf = async (client: string) => (await runIntegrity({ sql: h.s.db.sql, accounts: h.s.client }, new Date(0))).findings
    .filter((f) => f.client_id === client).map((f) => [f.kind, f.expected, f.actual]);

  it('ledger down: the answer applies, its event waits in the outbox (integrity leaves the account for later); back up, the writer sends it once', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '8');
    const down = await faultyAccounts(h.s.url, () => 503);
    const broken = await harnessOn(h.s, {}, { accountsUrl: down });
    const m = ard(h, id, 'ERROR');
    await broken.receiver.handle(m);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'rejected' });
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '8' });
    expect(await outboxOf(id)).toEqual(['payout-cancel-reserve']);
    await expect(broken.writer.drain()).rejects.toThrow(/503/);
    expect(await findingsOf(c)).toEqual([]); // busy, not wrong: judged once the ledger caught up
    await h.receiver.handle(m); // a redelivery: nothing new to decide
    expect(await h.writer.drain()).toBe(1);
    expect(await outboxOf(id)).toEqual([]);
    expect(await balances(h, c)).toEqual({ payout: '8', sent: '0' });
    expect(await ledgerBatches(h, id)).toEqual([RESERVE, 'payout-cancel-reserve']);
    expect(await findingsOf(c)).toEqual([]);
  });

  it('a permanent ledger refusal for one payout of a payment: the others are paid; that event and the payout\'s later ones wait in the outbox for a person, integrity names the account', async () => {
    const [ok, refused] = [uniqueClient(), uniqueClient()];
    const ids = [await pendingPayout(h, ok, '1.5'), await pendingPayout(h, refused, '2.5')];
    const batch = otherBatch(ids[0]!, 3);
    for (const id of ids) await h.receiver.handle(ard(h, id, 'NEW', { payment_batch_id: batch }));
    // A ledger that refuses any call carrying the second client's event (a 400 for the whole call).
    const url = await faultyAccounts(h.s.url, ({ path, body }) => (path === '/v1/batches/write' && body.includes(`"client_id":"${refused}"`) ? 400 : undefined));
    const strict = await harnessOn(h.s, {}, { accountsUrl: url });
    await strict.receiver.handle(oebs(h, [batch], 'RECONCILED', `${ids[0]}4`, '4.00'));
    // The statuses say what OEBS said; the ledger has the one event it took.
    expect(await payoutRow(h, ids[0]!)).toMatchObject({ status: 'done' });
    expect(await payoutRow(h, ids[1]!)).toMatchObject({ status: 'done' });
    expect(await balances(h, ok)).toEqual({ payout: '0', sent: '0' });
    expect(await balances(h, refused)).toEqual({ payout: '0', sent: '2.5' });
    expect(await outboxOf(ids[0]!)).toEqual([]);
    expect(await outboxOf(ids[1]!)).toEqual(['payout-confirm (refused)']);
    expect((await h.s.db.sql`select refusal from t_ledger_outbox where payout_id = ${ids[1]!}`)[0]!.refusal).toMatch(/^rejected: .*injected 400/);
    expect(await errorsAbout(h, { payoutId: ids[1]! })).toEqual([]);
    expect((await findingsOf(refused)).sort()).toEqual([['confirmed', '2.5', '0'], ['payout_sent', '0', '2.5']]);
    const gauges = new Registry();
    registerTaskGauges(gauges, h.s.db.sql, h.config);
    const [refusedNow] = await h.s.db.sql`select count(*)::int as n from t_ledger_outbox where refused_at is not null`;
    expect(await gauges.metrics()).toContain(`payout_ledger_outbox{state="refused"} ${refusedNow!.n}`);
    // OEBS returns the payment: the refused payout's cancel-payout waits behind its confirm, even for a ledger that takes it.
    await strict.receiver.handle(oebs(h, [batch], 'RETURNED', `${ids[0]}4`, '4.00'));
    await h.writer.drain();
    expect(await outboxOf(ids[1]!)).toEqual(['payout-confirm (refused)', 'payout-cancel-payout']);
    expect(await balances(h, ok)).toEqual({ payout: '0', sent: '1.5' });
    // A person settles it (docs/operations.md): the refusal cleared, the writer sends both, in order.
    await h.s.db.sql`update t_ledger_outbox set refused_at = null, refusal = null where payout_id = ${ids[1]!}`;
    expect(await h.writer.drain()).toBe(2);
    expect(await ledgerBatches(h, ids[1]!)).toEqual([RESERVE, CONFIRM, 'payout-cancel-payout']);
    expect(await balances(h, refused)).toEqual({ payout: '0', sent: '2.5' });
    expect(await findingsOf(refused)).toEqual([]);
  });

  // Found by attacking the outbox: a refused trace held nothing back only by chance, integrity
  // judged accounts with a money event still to send, and a 404 (a route gone, an outage) parked
  // events for good.
  const offline = async () => harnessOn(h.s, {}, { accountsUrl: await faultyAccounts(h.s.url, () => 503) });
  const refusingRegisters = async (client: string) => (await harnessOn(h.s, {}, {
    accountsUrl: await faultyAccounts(h.s.url, ({ path, body }) => (path === '/v1/batches/write' && body.includes(`"client_id":"${client}"`) && body.includes('payout-register') ? 400 : undefined)),
  })).writer;

  it('a refused register (a trace, no money) holds nothing back: the confirm beside it and the payout\'s later events are sent', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '3');
    await h.receiver.handle(ard(h, id, 'NEW'));
    const off = await offline();
    await off.receiver.handle(oebs(h, [id], 'CREATED', `${id}1`, '3.00'));
    await off.receiver.handle(oebs(h, [id], 'RECONCILED', `${id}1`, '3.00'));
    expect(await outboxOf(id)).toEqual(['payout-register', 'payout-confirm']);
    await (await refusingRegisters(c)).drain();
    expect(await outboxOf(id)).toEqual(['payout-register (refused)']);
    expect(await ledgerBatches(h, id)).toEqual([RESERVE, CONFIRM]);
    await h.receiver.handle(oebs(h, [id], 'RETURNED', `${id}1`, '3.00'));
    expect(await outboxOf(id)).toEqual(['payout-register (refused)']);
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '3' });
  });

  it('integrity leaves an account alone while a money event of it still waits, even beside a refused one', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '4');
    await h.receiver.handle(ard(h, id, 'NEW'));
    const off = await offline();
    await off.receiver.handle(oebs(h, [id], 'RETURNED', `${id}1`, '4.00'));
    await off.receiver.handle(oebs(h, [id], 'CREATED', `${id}2`, '4.00'));
    expect(await outboxOf(id)).toEqual(['payout-confirm', 'payout-cancel-payout', 'payout-register']);
    // The register refused, the confirm and cancel-payout not sent yet (as if the writer died after the refusal).
    await h.s.db.sql`update t_ledger_outbox set refused_at = now(), refusal = 'rejected: test' where payout_id = ${id} and not moves`;
    expect(await findingsOf(c)).toEqual([]);
    await h.writer.drain();
    expect(await outboxOf(id)).toEqual(['payout-register (refused)']);
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '4' });
    expect(await findingsOf(c)).toEqual([]);
  });

  it('a 404, 401 or 403 from the ledger is an outage, not a refusal: the events wait and go once it answers', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '5');
    for (const status of [404, 401, 403] as const) {
      const gone = await harnessOn(h.s, {}, { accountsUrl: await faultyAccounts(h.s.url, ({ path }) => (path === '/v1/batches/write' ? status : undefined)) });
      if (status === 404) await gone.receiver.handle(ard(h, id, 'ERROR'));
      await expect(gone.writer.drain()).rejects.toThrow(String(status));
      expect(await outboxOf(id)).toEqual(['payout-cancel-reserve']);
    }
    expect(await h.writer.drain()).toBe(1);
    expect(await balances(h, c)).toEqual({ payout: '5', sent: '0' });
  });

  /** ARD ERROR for new payouts of these clients while the ledger is down: their cancel-reserves wait in the outbox. */
  async function waitingCancels(clients: string[], amount: string) {
    const off = await offline();
    for (const c of clients) await off.receiver.handle(ard(h, await pendingPayout(h, c, amount), 'ERROR'));
  }

  it('one request the ledger keeps failing on (5xx) holds back only itself: the others are sent, it waits and is told', async () => {
    await h.writer.drain();
    const [poison, fine] = [uniqueClient(), uniqueClient()];
    await waitingCancels([poison, fine], '8');
    const url = await faultyAccounts(h.s.url, ({ path, body }) => (path === '/v1/batches/write' && body.includes(`"client_id":"${poison}"`) ? 500 : undefined));
    const warnings: string[] = [];
    const writer = new LedgerWriter({ sql: h.s.db.sql, client: createAccountsClient({ url, timeoutMs: 5_000 }), log: pino({ level: 'warn' }, { write: (l: string) => void warnings.push(l) }) });
    await writer.runOnce();
    expect(await balances(h, fine)).toEqual({ payout: '8', sent: '0' });
    expect(await balances(h, poison)).toEqual({ payout: '0', sent: '8' });
    expect(warnings.join('\n')).toMatch(/cancel-reserve.*failed to send this round/);
    // Only it, alone in a round, fails the round (the loop backs off); once the ledger takes it, it goes.
    await expect(writer.runOnce()).rejects.toThrow(/500/);
    expect(await h.writer.drain()).toBe(1);
    expect(await balances(h, poison)).toEqual({ payout: '8', sent: '0' });
  });

  it('one request the ledger keeps timing out on holds back only itself: the others are sent', async () => {
    await h.writer.drain();
    const [poison, fine] = [uniqueClient(), uniqueClient()];
    await waitingCancels([poison, fine], '8');
    const callTimeoutMs = 150;
    const client = {
      writeBatches: async (reqs: Parameters<typeof h.s.client.writeBatches>[0]) => {
        if (reqs.some((r) => JSON.stringify(r).includes(`"client_id":"${poison}"`))) {
          await new Promise((r) => setTimeout(r, callTimeoutMs + 10));
          throw accountsError('timeout', 'accounts writeBatches: no answer in time');
        }
        return h.s.client.writeBatches(reqs);
      },
    };
    const writer = new LedgerWriter({ sql: h.s.db.sql, client, log, callTimeoutMs });
    await writer.runOnce();
    expect(await balances(h, fine)).toEqual({ payout: '8', sent: '0' });
    expect(await balances(h, poison)).toEqual({ payout: '0', sent: '8' });
    expect(await h.writer.drain()).toBe(1);
  });

  it('a round of many calls on a slow ledger (splitting a refused call) is never ended by its idle timeout', async () => {
    await h.writer.drain();
    const [bad, ...good] = [uniqueClient(), uniqueClient(), uniqueClient(), uniqueClient()];
    await waitingCancels([good[0]!, bad!, good[1]!, good[2]!], '3');
    const url = await faultyAccounts(h.s.url, ({ path, body }) => (path === '/v1/batches/write' && body.includes(`"client_id":"${bad}"`) ? 400 : undefined));
    const real = createAccountsClient({ url, timeoutMs: 1_000 });
    // Each call takes 250 ms of its 300; the transaction may idle 600 ms; the split makes 5 calls in a row.
    const slow = { writeBatches: async (reqs: Parameters<typeof real.writeBatches>[0]) => (await new Promise((r) => setTimeout(r, 250)), real.writeBatches(reqs)) };
    const writer = new LedgerWriter({ sql: h.s.db.sql, client: slow, log, callTimeoutMs: 300 });
    await writer.runOnce();
    for (const c of good) expect(await balances(h, c!)).toEqual({ payout: '3', sent: '0' });
    const badRows = h.s.db.sql`select refused_at is not null as refused from t_ledger_outbox where payout_id in (select id from t_payout where client_id = ${bad!})`;
    expect(await badRows).toEqual([{ refused: true }]);
  });

  const crashes = ['receiver.before-commit', 'ledger-writer.after-write'].flatMap((point) => ['ERROR', 'RECONCILED', 'RETURNED'].map((status) => ({ point, status })));
  it.each(crashes)('crash at $point on $status: the repeat moves no money twice', async ({ point, status }) => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '21.5');
    if (status !== 'ERROR') await h.receiver.handle(ard(h, id, 'NEW'));
    if (status === 'RETURNED') await h.receiver.handle(oebs(h, [id], 'RECONCILED', `${id}1`, '21.50'));
    const m = status === 'ERROR' ? ard(h, id, 'ERROR') : oebs(h, [id], status, `${id}1`, '21.50');
    const before = { status: (await payoutRow(h, id)).status, ledger: await ledgerBatches(h, id) };
    setFailpoints([point], 'throw');
    try {
      await expect(h.receiver.handle(m)).rejects.toBeInstanceOf(FailpointError);
    } finally {
      setFailpoints([]);
    }
    const after = { status: (await payoutRow(h, id)).status, ledger: await ledgerBatches(h, id) };
    if (point === 'receiver.before-commit') {
      expect(after).toEqual(before); // nothing committed, nothing sent
      expect(await outboxOf(id)).toEqual([]);
    } else {
      expect(after.status).not.toBe(before.status); // committed; sent, still in the outbox
      expect(after.ledger.length).toBe(before.ledger.length + 1);
      expect(await outboxOf(id)).toHaveLength(1);
    }
    await h.receiver.handle(m);
    await h.receiver.handle(m);
    await h.writer.drain();
    expect(await outboxOf(id)).toEqual([]);
    expect((await ledgerBatches(h, id)).length).toBe(before.ledger.length + 1);
    const { payout, sent } = await balances(h, c);
    const expected = { ERROR: ['rejected', '21.5', '0'], RECONCILED: ['done', '0', '0'], RETURNED: ['confirmed', '0', '21.5'] }[status]!;
    expect([(await payoutRow(h, id)).status, payout, sent]).toEqual(expected);
    expect(add(payout, sent)).toBe(status === 'RECONCILED' ? '0' : '21.5');
  });
});

describe('a lost round meets a contradicting answer: the money leaves once', () => {
  // When the receiver wrote the ledger before committing, a crash in between forgot the decision
  // while the ledger kept its money, and an answer contradicting it then moved the money again
  // (ERROR's cancellation, then NEW and RECONCILED: cancelled and paid; or RECONCILED of two
  // payments: paid twice). Now the decision and its events commit together, so whatever crashes,
  // the contradicting answer meets the decision, not a ledger that disagrees with the payout.
  const findingsOf = async (client: string) => (await runIntegrity({ sql: h.s.db.sql, accounts: h.s.client }, new Date(0))).findings.filter((f) => f.client_id === client);
  const crashing = async (point: string, m: Parameters<typeof h.receiver.handle>[0]) => {
    setFailpoints([point], 'throw');
    try {
      await expect(h.receiver.handle(m)).rejects.toBeInstanceOf(FailpointError);
    } finally {
      setFailpoints([]);
    }
  };

  it.each(['receiver.before-commit', 'ledger-writer.after-write'])('ERROR lost at %s, then NEW and RECONCILED: cancelled or paid, never both', async (point) => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '12.34');
    await crashing(point, ard(h, id, 'ERROR'));
    await h.receiver.handle(ard(h, id, 'NEW'));
    const paid = h.receiver.handle(oebs(h, [id], 'RECONCILED', `${id}1`, '12.34'));
    // A rejected payout has no ARD batch: OEBS's answer waits (until the bound, then a person).
    if (point === 'receiver.before-commit') await paid;
    else await expect(paid).rejects.toBeInstanceOf(NotYet);
    await h.writer.drain();
    const ledger = await ledgerBatches(h, id);
    if (point === 'receiver.before-commit') {
      // The ERROR never happened for payout: NEW and RECONCILED pay it.
      expect((await payoutRow(h, id)).status).toBe('done');
      expect(ledger).toEqual([RESERVE, CONFIRM]);
      expect(await balances(h, c)).toEqual({ payout: '0', sent: '0' });
    } else {
      // The ERROR committed: NEW and RECONCILED contradict it (a person's case), no money moves.
      expect((await payoutRow(h, id)).status).toBe('rejected');
      expect(ledger).toEqual([RESERVE, 'payout-cancel-reserve']);
      expect(await balances(h, c)).toEqual({ payout: '12.34', sent: '0' });
    }
    expect(await findingsOf(c)).toEqual([]);
  });

  it.each(['receiver.before-commit', 'ledger-writer.after-write'])('RECONCILED of one payment lost at %s, then RECONCILED of another: paid once', async (point) => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '5.5');
    await h.receiver.handle(ard(h, id, 'NEW'));
    await crashing(point, oebs(h, [id], 'RECONCILED', `${id}1`, '5.50'));
    const second = oebs(h, [id], 'RECONCILED', `${id}2`, '5.50');
    if (point === 'receiver.before-commit') await h.receiver.handle(second); // the first never happened: the second pays
    else await expect(h.receiver.handle(second)).rejects.toBeInstanceOf(NotYet); // paid by the first: waits for its RETURNED
    await h.writer.drain();
    expect(await payoutRow(h, id)).toMatchObject({ status: 'done', oebs_payment_id: point === 'receiver.before-commit' ? `${id}2` : `${id}1` });
    expect(await ledgerBatches(h, id)).toEqual([RESERVE, CONFIRM]);
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '0' });
    expect(await findingsOf(c)).toEqual([]);
  });
});

describe('with the OEBS stand-in', () => {
  it('payouts reach their end on their own: accepted → done, returned → paid again → done, refused → rejected', async () => {
    const [accept, ret, reject] = [uniqueClient(), uniqueClient(), uniqueClient()];
    // Topics of their own (another environment), so the stand-in answers only these payouts.
    const e = await harnessOn(h.s, { PAYOUT_ENV: `e2e${process.pid}`, PAYOUT_OEBS_EMULATOR: JSON.stringify({ [ret]: 'return', [reject]: 'reject' }) });
    const emulator = await OebsEmulator.create({ config: e.config, sql: h.s.db.sql, topics: e.topics, log, retry: { baseMs: 1, maxMs: 5 } });
    const ids = { accept: await pendingPayout(e, accept, '100.45'), ret: await pendingPayout(e, ret, '7.01'), reject: await pendingPayout(e, reject, '3') };
    const final = async () => (await Promise.all(Object.values(ids).map((id) => payoutRow(e, id)))).every((p) => p.status === 'done' || p.status === 'rejected');
    // Until every payout is final and nothing is left to do (the return comes after the first payment).
    for (let round = 0, busy = 1; round < 50 && (busy > 0 || !(await final())); round++) {
      busy = (await e.sender.runOnce()).count + (await emulator.runOnce()) + (await e.receiver.runOnce());
    }
    expect(await payoutRow(e, ids.accept)).toMatchObject({ status: 'done', oebs_payment_id: `${ids.accept}1` });
    expect(await payoutRow(e, ids.ret)).toMatchObject({ status: 'done', oebs_payment_id: `${ids.ret}2` });
    expect(await payoutRow(e, ids.reject)).toMatchObject({ status: 'rejected', error: 'rejected by the OEBS emulator' });
    expect(await balances(e, accept)).toEqual({ payout: '0', sent: '0' });
    expect(await balances(e, ret)).toEqual({ payout: '0', sent: '0' });
    expect(await balances(e, reject)).toEqual({ payout: '3', sent: '0' });
    // Payment A paid, returned, payment B paid: in whichever order the receiver met those (they
    // have different keys), it ends done by B with the money paid out once.
    expect((await history(e, ids.ret)).slice(0, 4)).toEqual(['new', 'pending', 'confirmed', 'done']);
    expect((await history(e, ids.ret)).at(-1)).toBe('done');
  });
});

describe('dry-run payouts and metrics', () => {
  it('a dry-run payout is answered on the -dry topics only; the counters say what happened', async () => {
    const registry = new Registry();
    const m = await harnessOn(h.s, {}, { registry });
    const c = uniqueClient();
    const id = await pendingPayout(m, c, '2', false, true);
    const onRealTopic = ard(m, id, 'NEW');
    await m.receiver.handle(onRealTopic);
    expect(await errorsAbout(m, { msgId: onRealTopic.msgId })).toEqual([expect.objectContaining({ reason: expect.stringContaining('does not belong to this topic') })]);
    const dry = m.config.topics.bases.get('taxi') + '/payout-status-ard-dry';
    await m.receiver.handle({ ...ard(m, id, 'NEW'), topic: dry });
    expect(await payoutRow(m, id)).toMatchObject({ status: 'confirmed' });
    await expect(m.receiver.handle(oebs(m, ['999999999998'], 'CREATED', '7', '1'))).rejects.toBeInstanceOf(NotYet);
    const text = await registry.metrics();
    expect(text).toContain(`payout_receiver_messages_total{topic="${m.t.statusArd}",outcome="error"} 1`);
    expect(text).toContain(`payout_receiver_messages_total{topic="${dry}",outcome="applied"} 1`);
    expect(text).toContain(`payout_receiver_messages_total{topic="${m.t.statusOebs}",outcome="wait"} 1`);
    expect(text).toContain('payout_receiver_status_changes_total{from="pending",to="confirmed"} 1');
  });
});

describe('reports say which mode their topic is: dry_run from the -dry suffix, notices on the -dry twin', () => {
  // Topics of their own (another environment): messages arrive as published, through the
  // receiver's subscription (its batch path), on the real or the -dry status topic.
  let d: Harness;
  beforeAll(async () => {
    d = await harnessOn(h.s, { PAYOUT_ENV: `dryroutes${process.pid}` });
  });
  let n = 0;
  /** Publishes a body on a status topic and lets the receiver take rounds until it reported on it. */
  async function arrive(topic: string, key: string, payload: Record<string, unknown>) {
    const msgId = `dry-routes-${++n}`;
    await d.s.db.sql.begin((tx) => d.topics.publish(tx, { topic, key, msgId, payload }));
    await eventually(async () => {
      await d.receiver.runOnce();
      return (await reportsOf(d, msgId)).length > 0;
    });
    return msgId;
  }
  const ardOk = { status_system: 'oebs', status_type: 'NEW', payment_batch_id: 1, payment_check_id: 1 };
  const oebsOk = { status_system: 'oebs', status_type: 'CREATED', payment_batch_id: [1], payment_id: 2, payment_amount: '1.00' };

  it.each([
    ['ard', false, 'no payout id', { ...ardOk }, 'parse_error'],
    ['ard', true, 'no payout id', { ...ardOk }, 'parse_error'],
    ['ard', false, 'an unknown payout', { ...ardOk, message_id: 999_999_999 }, 'no_such_payout'],
    ['ard', true, 'an unknown payout', { ...ardOk, message_id: 999_999_999 }, 'no_such_payout'],
    ['oebs', false, 'a batch id that is not a list', { ...oebsOk, payment_batch_id: 1 }, 'parse_error'],
    ['oebs', true, 'a batch id that is not a list', { ...oebsOk, payment_batch_id: 1 }, 'parse_error'],
    ['oebs', false, 'another system', { ...oebsOk, status_system: 'ard' }, 'unknown_system'],
    ['oebs', true, 'another system', { ...oebsOk, status_system: 'ard' }, 'unknown_system'],
  ] as const)('%s, dry %s, %s → its route\'s oebs-errors with dry_run as the topic says', async (kind, dry, _what, payload, source) => {
    const t = topicsFor(d.config, 'taxi', dry);
    const topic = kind === 'ard' ? t.statusArd : t.statusOebs;
    const msgId = await arrive(topic, 'k', payload);
    expect(await reportsOf(d, msgId)).toEqual([{
      topic: t.errors,
      payload: expect.objectContaining({ system: 'billing', kind: 'error', module: kind, source, dry_run: dry, source_topic: topic }),
    }]);
    expect(t.errors.endsWith(dry ? '/oebs-errors-dry' : '/oebs-errors')).toBe(true);
  });

  it.each([['ard', false], ['ard', true], ['oebs', false], ['oebs', true]] as const)(
    '%s, dry %s, a body that is not JSON at all (as NATS may deliver it) → oebs-errors of that mode with dry_run, the raw text kept', async (kind, dry) => {
      const t = topicsFor(d.config, 'taxi', dry);
      const topic = kind === 'ard' ? t.statusArd : t.statusOebs;
      const m = { ...inbound(topic, 'k', `dry-routes-text-${++n}`, {}, new Date()), ...decodeBody('{"status_system": "oebs", ') };
      await d.receiver.handleBatch([m]);
      expect(await reportsOf(d, m.msgId)).toEqual([{
        topic: t.errors, payload: expect.objectContaining({ module: kind, source: 'parse_error', dry_run: dry, message: m.body, source_topic: topic }),
      }]);
    });

  it('an ARD answer about a real payout on the -dry topic is no payout of that topic: reported with dry_run true, the payout untouched', async () => {
    const id = await pendingPayout(d, uniqueClient(), '2');
    const dry = topicsFor(d.config, 'taxi', true);
    const msgId = await arrive(dry.statusArd, id, ard(d, id, 'NEW').payload as Record<string, unknown>);
    expect(await reportsOf(d, msgId)).toEqual([{
      topic: dry.errors, payload: expect.objectContaining({ module: 'ard', source: 'no_such_payout', dry_run: true, source_topic: dry.statusArd }),
    }]);
    expect(await payoutRow(d, id)).toMatchObject({ status: 'pending' });
  });

  it.each([false, true])('ARD rejects a payout (dry %s): the notice goes to the namespace notices topic of that mode, with dry_run', async (dryRun) => {
    const c = uniqueClient();
    const id = await pendingPayout(d, c, '4', false, dryRun);
    const t = topicsFor(d.config, 'taxi', dryRun);
    const msgId = await arrive(t.statusArd, id, ard(d, id, 'ERROR').payload as Record<string, unknown>);
    expect(await payoutRow(d, id)).toMatchObject({ status: 'rejected' });
    expect(await balances(d, c)).toEqual({ payout: '4', sent: '0' });
    const notices = noticesTopic(d.config, 'taxi', dryRun);
    expect(notices).toBe(`/billing-payout/dryroutes${process.pid}/notices/errors-taxi${dryRun ? '-dry' : ''}`);
    expect(await reportsOf(d, msgId)).toEqual([{
      topic: notices,
      payload: expect.objectContaining({ system: 'billing', kind: 'notice', module: 'ard', namespace: 'taxi', dry_run: dryRun, payout_id: Number(id), source_topic: t.statusArd }),
    }]);
  });
});
