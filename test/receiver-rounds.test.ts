// The receiver's round as one batch (issue 14: payouts locked once, changed in memory, written
// back in status waves) under what may reach it: a payout's whole story in one round, payouts of
// other routes in the same ARD batch, a flush that fails (the round goes message by message), two
// replicas on the same payouts at once, odd values through the bulk writes.
import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { NotYet } from '../src/oebs-gate/receiver-apply.ts';
import { LedgerWriter } from '../src/oebs-gate/ledger-writer.ts';
import { Receiver } from '../src/oebs-gate/receiver.ts';
import { insertFixedPayout } from '../src/store/payouts.ts';
import type { DeliveredMessage } from '../src/topics/types.ts';
import {
  acc, ard, balances, errorsAbout, harnessOn, history, ledgerBatches, oebs, otherBatch, payoutRow, pendingPayout, startHarness, uniqueClient, type Harness,
} from './receiver-support.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});

/** A receiver of its own (another replica), whose warnings are kept. */
async function replica(hh: Harness) {
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const writer = new LedgerWriter({ sql: hh.s.db.sql, client: hh.s.client, log });
  const receiver = await Receiver.create({
    config: hh.config, sql: hh.s.db.sql, topics: hh.topics, log, retry: { baseMs: 1, maxMs: 5 }, onCommitted: () => writer.drain(),
  });
  return { receiver, writer, warnings };
}

/** Hands the messages to handleBatch in rounds of `size` until none waits (NotYet) any more. */
async function rounds(r: Receiver, msgs: DeliveredMessage[], size: number): Promise<void> {
  let queue = [...msgs];
  for (let n = 0; queue.length; n++) {
    expect(n, 'every message applies in the end').toBeLessThan(200);
    const chunk = queue.slice(0, size);
    queue = queue.slice(size);
    const results = await r.handleBatch(chunk);
    results.forEach((res, i) => {
      if (res === undefined) return;
      expect(res).toBeInstanceOf(NotYet);
      queue.push(chunk[i]!);
    });
  }
}

const cpfStatuses = async (id: string) => (await h.s.db.sql<{ status: string }[]>`select status from t_cpf where payout_id = ${id}`).map((r) => r.status);
const payment = async (id: string) => {
  const [row] = await h.s.db.sql`select amount::text, batch_ids, reconciled, returned from t_oebs_payment where payment_id = ${id} and not dry_run`;
  return row;
};

describe('a payout\'s whole story in one round', () => {
  it('NEW, PROCESSED, two payments, a return, an unpaid return and duplicates: one history row per status change, each ledger event once, the payments remembered', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '12.34', true);
    const [x, y, z] = [`${id}1`, `${id}2`, `${id}9`];
    const p = (status: string, pay: string) => oebs(h, [id], status, pay, '12.34');
    const reconciledX = p('RECONCILED', x);
    const round = [
      ard(h, id, 'NEW'), ard(h, id, 'PROCESSED'), p('CREATED', x), p('TRANSMITTED', x), reconciledX, reconciledX, p('RECONCILED', x),
      p('RETURNED', x), p('CREATED', x), p('CREATED', y), p('RECONCILED', y), p('RETURNED', z), p('RECONCILED', z), ard(h, id, 'NEW'),
    ];
    expect(await h.receiver.handleBatch(round)).toEqual(round.map(() => undefined));
    expect(await payoutRow(h, id)).toMatchObject({ status: 'done', oebs_batch_id: id, oebs_check_id: id, oebs_payment_id: y, oebs_status: 'RETURNED' });
    const [{ returned }] = await h.s.db.sql<[{ returned: string[] }]>`select oebs_returned_payments as returned from t_payout where id = ${id}`;
    expect(returned).toEqual([x, z]);
    expect(await history(h, id)).toEqual(['new', 'pending', 'confirmed', 'done', 'confirmed', 'done']);
    expect(await cpfStatuses(id)).toEqual(['done']);
    expect((await ledgerBatches(h, id)).sort()).toEqual([
      'payout-cancel-payout', 'payout-cancel-payout', 'payout-confirm', 'payout-confirm', 'payout-confirm', 'payout-register', 'payout-register', 'payout-reserve',
    ]);
    expect(await balances(h, c)).toEqual({ payout: '0', sent: '0' });
    expect(await payment(x)).toEqual({ amount: '12.34', batch_ids: [id], reconciled: true, returned: true });
    expect(await payment(y)).toEqual({ amount: '12.34', batch_ids: [id], reconciled: true, returned: false });
    expect(await payment(z)).toEqual({ amount: '12.34', batch_ids: [id], reconciled: true, returned: true });
    // The return of X and the unpaid return of Z: one notice each.
    expect((await errorsAbout(h, { payoutId: id })).map((n) => n.kind)).toEqual(['notice', 'notice']);
  });
});

describe('payouts of other routes in the same ARD batch', () => {
  it('an oplata payout (own topic base) and a dry-run payout in batch B are neither counted in the payment nor touched; a taxi payout joining B in the round is', async () => {
    const hh = await harnessOn(h.s, { PAYOUT_TOPIC_BASES: JSON.stringify({ oplata: '/billing-payout/test/oplata' }) });
    const { receiver } = await replica(hh);
    const [a, b] = [uniqueClient(), uniqueClient()];
    const ida = await pendingPayout(hh, a, '3.00');
    const idb = await pendingPayout(hh, b, '4.00');
    const batch = otherBatch(ida, 7);
    // Decoys already confirmed in the same batch id: one of another route, one dry-run.
    const decoys: string[] = [];
    for (const [ns, dry] of [['oplata', false], ['taxi', true]] as const) {
      const d = await insertFixedPayout(hh.s.db.sql, { external_id: `decoy-${ns}-${dry}-${ida}`, ...acc(uniqueClient()), namespace: ns, amount: '50', approve_req: false });
      await hh.s.db.sql`update t_payout set status = 'pending', amount_oebs = 50, dry_run = ${dry} where id = ${d!}`;
      await hh.s.db.sql`update t_payout set status = 'confirmed', oebs_batch_id = ${batch}, oebs_status = 'NEW' where id = ${d!}`;
      decoys.push(d!);
    }
    const before = await hh.s.db.sql`select id, status, oebs_payment_id, oebs_status, updated_at from t_payout where id = any(${decoys}::int8[]) order by id`;
    await receiver.handleBatch([ard(hh, ida, 'NEW', { payment_batch_id: batch })]);
    const round = [
      ard(hh, idb, 'NEW', { payment_batch_id: batch }),
      oebs(hh, [batch], 'CREATED', `${batch}1`, '7.00'), oebs(hh, [batch], 'RECONCILED', `${batch}1`, '7.00'),
    ];
    expect(await receiver.handleBatch(round)).toEqual([undefined, undefined, undefined]);
    for (const [id, client] of [[ida, a], [idb, b]] as const) {
      expect(await payoutRow(hh, id)).toMatchObject({ status: 'done', oebs_payment_id: `${batch}1` });
      expect(await balances(hh, client)).toEqual({ payout: '0', sent: '0' });
    }
    expect(await hh.s.db.sql`select id, status, oebs_payment_id, oebs_status, updated_at from t_payout where id = any(${decoys}::int8[]) order by id`).toEqual(before);
  });
});

describe('a flush that fails', () => {
  it('sends the round message by message: the others apply, the failing one changes nothing and applies once the database takes it', async () => {
    const [c1, c2, c3] = [uniqueClient(), uniqueClient(), uniqueClient()];
    const [p1, p2, p3] = [await pendingPayout(h, c1, '1.10', true), await pendingPayout(h, c2, '2.20', true), await pendingPayout(h, c3, '3.30', true)];
    const boom = `boom-${p2}`;
    await h.s.db.sql.unsafe(`create or replace function test_boom() returns trigger language plpgsql as $$
      begin if new.error = '${boom}' then raise exception 'test: refused'; end if; return new; end $$`);
    await h.s.db.sql.unsafe('create trigger test_boom before update on t_payout for each row execute function test_boom()');
    const round = [
      ard(h, p1, 'NEW'), oebs(h, [p1], 'CREATED', `${p1}1`, '1.10'), oebs(h, [p1], 'RECONCILED', `${p1}1`, '1.10'),
      ard(h, p2, 'ERROR', { status_info: boom, payment_batch_id: null, payment_check_id: null }), ard(h, p3, 'NEW'),
    ];
    let results: unknown[];
    try {
      results = await h.receiver.handleBatch(round);
    } finally {
      await h.s.db.sql.unsafe('drop trigger test_boom on t_payout');
    }
    // p2's ERROR failed (a database error: retried); the OEBS answers may have waited for p1's NEW.
    expect(results[3]).toBeInstanceOf(Error);
    expect(results[3]).not.toBeInstanceOf(NotYet);
    expect(await payoutRow(h, p2)).toMatchObject({ status: 'pending' });
    expect(await payoutRow(h, p3)).toMatchObject({ status: 'confirmed' });
    await rounds(h.receiver, round.filter((_, i) => results[i] !== undefined), 10);
    expect(await payoutRow(h, p1)).toMatchObject({ status: 'done' });
    expect(await payoutRow(h, p2)).toMatchObject({ status: 'rejected', error: boom });
    expect(await history(h, p1)).toEqual(['new', 'pending', 'confirmed', 'done']);
    expect(await history(h, p2)).toEqual(['new', 'pending', 'rejected']);
    expect(await ledgerBatches(h, p2)).toEqual(['payout-reserve', 'payout-cancel-reserve']);
    expect(await cpfStatuses(p1)).toEqual(['done']);
    expect(await cpfStatuses(p3)).toEqual(['done']);
    expect(await cpfStatuses(p2)).toEqual(['new']);
    expect(await balances(h, c1)).toEqual({ payout: '0', sent: '0' });
    expect(await balances(h, c2)).toEqual({ payout: '2.2', sent: '0' });
  });
});

describe('two replicas on the same payouts at once', () => {
  it('each applies every answer in its own order and rounds: no deadlock (no round falls back), every payout paid once', async () => {
    const [ra, rb] = [await replica(h), await replica(h)];
    const clients = Array.from({ length: 12 }, () => uniqueClient());
    const ids: string[] = [];
    for (const c of clients) ids.push(await pendingPayout(h, c, '1.00'));
    // Payouts 0 and 1 share a batch and a payment; the others are paid alone.
    const joint = otherBatch(ids[0]!, 3);
    const batchOf = (i: number) => (i < 2 ? joint : ids[i]!);
    const msgs: DeliveredMessage[] = [];
    ids.forEach((id, i) => msgs.push(ard(h, id, 'NEW', { payment_batch_id: batchOf(i) })));
    for (let i = 1; i < ids.length; i++) {
      const b = batchOf(i);
      const amount = i === 1 ? '2.00' : '1.00';
      msgs.push(oebs(h, [b], 'CREATED', `${b}1`, amount), oebs(h, [b], 'RECONCILED', `${b}1`, amount));
    }
    const mixed = msgs.map((m, i) => ({ m, k: (i * 7919) % msgs.length })).sort((x, y) => x.k - y.k).map((x) => x.m);
    await Promise.all([rounds(ra.receiver, msgs, 7), rounds(rb.receiver, [...mixed].reverse(), 5)]);
    expect([...ra.warnings, ...rb.warnings].filter((w) => w.includes('one by one'))).toEqual([]);
    // The two writers took turns (one at a time): what the last turn left, either sends.
    await ra.writer.drain();
    for (const [i, id] of ids.entries()) {
      expect(await payoutRow(h, id)).toMatchObject({ status: 'done' });
      expect(await history(h, id)).toEqual(['new', 'pending', 'confirmed', 'done']);
      expect((await ledgerBatches(h, id)).sort()).toEqual(['payout-confirm', 'payout-register', 'payout-reserve']);
      expect(await balances(h, clients[i]!)).toEqual({ payout: '0', sent: '0' });
    }
  });
});

describe('odd values through the bulk writes', () => {
  it('an ARD error text with quotes, backslashes, braces, commas, NULL and non-Latin letters is stored exactly, in the payout and its history', async () => {
    const c = uniqueClient();
    const id = await pendingPayout(h, c, '2.00');
    const text = 'NULL, "quoted" \\back\\slash {brace}, \'single\' — счёт не найден 🙂\nsecond line';
    const other = await pendingPayout(h, uniqueClient(), '1.00');
    // Another payout in the same wave, whose error stays null.
    expect(await h.receiver.handleBatch([ard(h, id, 'ERROR', { status_info: text, payment_batch_id: null, payment_check_id: null }), ard(h, other, 'NEW')])).toEqual([undefined, undefined]);
    expect(await payoutRow(h, id)).toMatchObject({ status: 'rejected', error: text });
    expect(await payoutRow(h, other)).toMatchObject({ status: 'confirmed', error: null });
    const [last] = await h.s.db.sql`select status, error from t_payout_history where payout_id = ${id} order by id desc limit 1`;
    expect(last).toEqual({ status: 'rejected', error: text });
  });

  it('one payment id on the real and the -dry topics in one round: two payments remembered, each with its own amount and flags', async () => {
    const [a, b] = [uniqueClient(), uniqueClient()];
    const real = await pendingPayout(h, a, '6.00');
    const dry = await pendingPayout(h, b, '8.00', false, true);
    const base = h.config.topics.bases.get('taxi');
    const toDry = (m: DeliveredMessage, kind: 'ard' | 'oebs'): DeliveredMessage => ({ ...m, topic: `${base}/payout-status-${kind}-dry` });
    const pay = `${real}77`;
    const round = [
      ard(h, real, 'NEW'), toDry(ard(h, dry, 'NEW', { payment_batch_id: real }), 'ard'),
      oebs(h, [real], 'RECONCILED', pay, '6.00'), toDry(oebs(h, [real], 'RETURNED', pay, '8.00'), 'oebs'),
    ];
    expect(await h.receiver.handleBatch(round)).toEqual(round.map(() => undefined));
    expect(await payoutRow(h, real)).toMatchObject({ status: 'done', oebs_payment_id: pay });
    expect(await payoutRow(h, dry)).toMatchObject({ status: 'confirmed' });
    expect(await h.s.db.sql`select dry_run, amount::text, namespaces, batch_ids, reconciled, returned from t_oebs_payment where payment_id = ${pay} order by dry_run`).toEqual([
      { dry_run: false, amount: '6.00', namespaces: ['taxi', 'oplata', 'bnpl'], batch_ids: [real], reconciled: true, returned: false },
      { dry_run: true, amount: '8.00', namespaces: ['taxi', 'oplata', 'bnpl'], batch_ids: [real], reconciled: false, returned: true },
    ]);
  });
});
