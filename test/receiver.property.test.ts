// Property: whatever ARD and OEBS send — duplicates, any order, contradicting ARD answers, one
// payment over two payouts, crashes before a round's commit and after the ledger writer's call
// (before it removed what it sent) — the receiver never
// pays a payout twice, never loses or makes money, and never takes a payout out of a final state
// except through OEBS RETURNED. After everything has been delivered once more (the
// redeliveries), each payout's status agrees with its money. Credited amounts have 6 decimals:
// the sender pays whole kopecks, and "paid out" is what OEBS was told to pay, to the kopeck.
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import { add, canon, cmp, floorToMinor, isZero, sub, sum } from '../src/domain/money.ts';
import { FailpointError, setFailpoints } from '../src/failpoints.ts';
import { NotYet } from '../src/oebs-gate/receiver-apply.ts';
import type { DeliveredMessage } from '../src/topics/types.ts';
import { Receiver } from '../src/oebs-gate/receiver.ts';
import { LedgerWriter } from '../src/oebs-gate/ledger-writer.ts';
import type { WriteBatchRequest } from '../src/accounts/client.ts';
import { ard, balances, history, log, oebs, otherBatch, payoutRow, pendingByClientPayout, pendingPayout, startHarness, uniqueClient, type Harness } from './receiver-support.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});

interface Case {
  id: string;
  client: string;
  /** What the client's payout account was credited (6 decimals). */
  credited: string;
  /** What the sender reserved and OEBS was told to pay: the credit rounded down to kopecks. */
  amount: string;
}

/** Everything ARD might say about one payout (its batch `batch` when accepted). */
function ardScript(c: Case, batch: string, refused: boolean, contradict: boolean): DeliveredMessage[] {
  const over = { payment_batch_id: batch };
  const msgs = [ard(h, c.id, refused ? 'ERROR' : 'NEW', over), ard(h, c.id, 'PROCESSED', over)];
  if (contradict) msgs.push(ard(h, c.id, refused ? 'NEW' : 'ERROR', over));
  return msgs;
}

/** Everything OEBS might say about the payments of a batch, in the order it would say it. */
function oebsScript(batch: string, amount: string, returned: boolean): DeliveredMessage[] {
  // Keyed by the batch here: the payments of a batch in the order OEBS says them (the test below
  // takes the order away).
  const pay = (status: string, attempt: 1 | 2) => ({ ...oebs(h, [batch], status, `${batch}${attempt}`, amount), key: batch });
  const msgs = [pay('CREATED', 1), pay('TRANSMITTED', 1), pay('RECONCILED', 1)];
  if (returned) msgs.push(pay('RETURNED', 1), pay('CREATED', 2), pay('RECONCILED', 2));
  return msgs;
}

/** Money that left through OEBS: confirm debits minus cancel-payout credits, and how many of each. */
async function paidOut(id: string) {
  const rows = await h.s.db.sql<{ event_type: string; type: string; amount: string }[]>`
    select b.event_type, e.type, e.amount::text from accounts.batch b join accounts.event e on e.batch_id = b.id
    where b.external_id like ${`payout/%/${id}/%`}`;
  const confirms = rows.filter((r) => r.event_type === 'payout-confirm');
  const returns = rows.filter((r) => r.event_type === 'payout-cancel-payout');
  return { paid: sub(sum(confirms.map((r) => r.amount)), sum(returns.map((r) => r.amount))), confirms: confirms.length, returns: returns.length };
}

async function checkInvariants(c: Case) {
  const { payout, sent } = await balances(h, c.client);
  const { paid } = await paidOut(c.id);
  // Money is neither made nor lost: credited = on payout + on payout_sent + paid out.
  expect(add(add(payout, sent), paid)).toBe(canon(c.credited));
  // Never paid twice, never refunded twice; what is paid is what OEBS was told to pay.
  expect([isZero(paid), cmp(paid, c.amount) === 0]).toContain(true);
  expect([cmp(payout, sub(c.credited, c.amount)) === 0, cmp(payout, c.credited) === 0]).toContain(true);
  // Final states are left only by RETURNED (done → confirmed).
  const steps = await history(h, c.id);
  for (let i = 1; i < steps.length; i++) {
    expect(steps[i - 1]).not.toBe('rejected');
    if (steps[i - 1] === 'done') expect(steps[i]).toBe('confirmed');
  }
}

/** After every message has been delivered again without crashes: the status says where the money is. */
async function checkSettled(c: Case) {
  const { status } = await payoutRow(h, c.id);
  const { payout, sent } = await balances(h, c.client);
  const { paid } = await paidOut(c.id);
  const rest = sub(c.credited, c.amount); // below a kopeck: stays on payout whatever happens
  const amount = canon(c.amount);
  const expected = { rejected: [canon(c.credited), '0', '0'], confirmed: [rest, amount, '0'], done: [rest, '0', amount] }[status];
  expect(expected, `payout ${c.id} ended ${status}`).toBeDefined();
  expect([payout, sent, paid]).toEqual(expected);
}

it('duplicates, reorderings and crashes never pay twice nor lose money', async () => {
  const payoutCase = fc.record({
    credited: fc.stringMatching(/^[1-9][0-9]{0,4}\.[0-9]{6}$/),
    refused: fc.boolean(),
    returned: fc.boolean(),
    contradict: fc.boolean(),
  });
  // Where a delivery may crash: before its round commits, or in the ledger writer it wakes (after
  // a call, before the rows are removed; between a payout's two ordered calls).
  const crash = fc.constantFrom('', 'receiver.before-commit', 'ledger-writer.after-write', 'ledger-writer.between-calls');
  const steps = fc.array(fc.record({ pick: fc.nat(), crash }), { minLength: 5, maxLength: 25 });
  // shared: two payouts in one ARD batch, paid by one OEBS payment of their sum.
  await fc.assert(fc.asyncProperty(fc.array(payoutCase, { minLength: 1, maxLength: 2 }), fc.boolean(), steps, async (cases, shared, plan) => {
    const made: Case[] = [];
    const pool: DeliveredMessage[] = [];
    for (const pc of cases) {
      const client = uniqueClient();
      const { id, amount } = await pendingByClientPayout(h, client, pc.credited);
      expect(amount).toBe(floorToMinor(pc.credited, 2));
      made.push({ id, client, credited: pc.credited, amount });
    }
    const joint = shared && made.length === 2 ? otherBatch(made[0]!.id, 1) : undefined;
    for (const [i, c] of made.entries()) {
      const pc = cases[i]!;
      pool.push(...ardScript(c, joint ?? c.id, pc.refused, pc.contradict));
      if (!joint) pool.push(...oebsScript(c.id, c.amount, pc.returned));
    }
    if (joint) pool.push(...oebsScript(joint, sum(made.map((c) => c.amount)), cases[0]!.returned));
    // A message whose handler crashed holds back its key until it is redelivered (as the topics do).
    const blocked = new Map<string, DeliveredMessage>();
    const keyOf = (m: DeliveredMessage) => `${m.topic}#${m.key}`;
    const deliver = async (m: DeliveredMessage, crash: string) => {
      setFailpoints(crash ? [crash] : [], 'throw');
      try {
        await h.receiver.handle(m);
        blocked.delete(keyOf(m));
      } catch (err) {
        if (err instanceof FailpointError) blocked.set(keyOf(m), m);
        else if (!(err instanceof NotYet)) throw err;
      } finally {
        setFailpoints([]);
      }
    };
    try {
      for (const step of plan) {
        const picked = pool[step.pick % pool.length]!;
        await deliver(blocked.get(keyOf(picked)) ?? picked, step.crash);
        for (const c of made) await checkInvariants(c);
      }
      for (const m of [...blocked.values(), ...pool]) await deliver(m, '');
      await h.writer.drain();
      for (const c of made) {
        await checkInvariants(c);
        await checkSettled(c);
      }
    } finally {
      setFailpoints([]);
    }
  }), {
    numRuns: 30,
    examples: [
      // Found by CI and by the run after: RETURNED of a payment that has not paid the payout,
      // crashing between its two ledger events, must never show the money paid twice (when
      // another payment paid it) nor refunded before it was paid (when none has). (Found when the
      // receiver wrote the ledger itself; the crash is now the ledger writer's, between its calls.)
      [[{ credited: '1.000000', refused: false, returned: true, contradict: true }, { credited: '1.000000', refused: false, returned: false, contradict: false }], false,
        [{ pick: 0, crash: '' }, { pick: 2121557712, crash: '' }, { pick: 0, crash: '' }, { pick: 0, crash: '' }, { pick: 0, crash: '' }, { pick: 1283504130, crash: 'ledger-writer.between-calls' }, { pick: 0, crash: '' }]],
      [[{ credited: '1.000000', refused: false, returned: true, contradict: false }, { credited: '1.000000', refused: false, returned: false, contradict: false }], false,
        [{ pick: 0, crash: '' }, { pick: 0, crash: '' }, { pick: 0, crash: '' }, { pick: 0, crash: '' }, { pick: 914365054, crash: 'ledger-writer.between-calls' }]],
      [[{ credited: '1.000000', refused: false, returned: true, contradict: false }, { credited: '1.000000', refused: false, returned: false, contradict: true }], true,
        [{ pick: 2586179, crash: '' }, { pick: 0, crash: '' }, { pick: 0, crash: '' }, { pick: 1589177499, crash: 'ledger-writer.between-calls' }, { pick: 0, crash: '' }]],
    ],
  });
}, 120_000);

/**
 * Money is neither made nor lost, and final states are left only by RETURNED. (Paid "at most
 * once" holds in the end, not at every step: after a crash between a ledger write and its commit,
 * another payment's message may be applied before the redelivery settles the first.)
 */
async function checkConserved(c: Case) {
  const { payout, sent } = await balances(h, c.client);
  const { paid } = await paidOut(c.id);
  expect(add(add(payout, sent), paid)).toBe(c.amount.replace(/\.?0+$/, ''));
  const steps = await history(h, c.id);
  for (let i = 1; i < steps.length; i++) if (steps[i - 1] === 'done') expect(steps[i]).toBe('confirmed');
}

/** A ledger client that, when told, "crashes" right after a successful call: the batches stay, the writer's round fails. */
function crashingClient(): { client: { writeBatches(reqs: WriteBatchRequest[]): ReturnType<typeof h.s.client.writeBatches> }; crashNext: { on: boolean } } {
  const crashNext = { on: false };
  return {
    crashNext,
    client: {
      writeBatches: async (reqs) => {
        const out = await h.s.client.writeBatches(reqs);
        if (crashNext.on) {
          crashNext.on = false;
          throw new Error('crashed after the ledger call');
        }
        return out;
      },
    },
  };
}

// The messages of one payout's payments in every order: with two oebs-gate replicas and a retried
// message, RETURNED A can come before the redelivered RECONCILED A, RECONCILED B before RETURNED A.
// Two consumers (receivers with their own ledger writers) handle pairs of deliveries at once; some
// deliveries' writers crash after their ledger call (the events stay in the outbox, for a later
// round of either writer); some are delivered twice. Whatever the order, the end state is the one the messages say, and the money
// matches it.
it('the messages of a payment in every order, with retries and two consumers, end as the messages say', async () => {
  const consumers = await Promise.all([0, 1].map(async () => {
    const { client, crashNext } = crashingClient();
    const writer = new LedgerWriter({ sql: h.s.db.sql, client, log });
    const receiver = await Receiver.create({ config: h.config, sql: h.s.db.sql, topics: h.topics, log, retry: { baseMs: 1, maxMs: 5 }, onCommitted: () => writer.drain() });
    return { receiver, writer, crashNext };
  }));
  // paid: A reconciled; returned: A reconciled and returned; repaid: then B reconciled.
  const story = fc.constantFrom('paid', 'returned', 'repaid');
  const plan = fc.record({
    story,
    amount: fc.stringMatching(/^[1-9][0-9]{0,3}\.[0-9]{2}$/),
    order: fc.array(fc.nat(), { minLength: 9, maxLength: 9 }),
    again: fc.array(fc.nat({ max: 8 }), { maxLength: 3 }),
    crashes: fc.array(fc.boolean(), { minLength: 14, maxLength: 14 }),
  });
  await fc.assert(fc.asyncProperty(plan, async ({ story, amount, order, again, crashes }) => {
    const client = uniqueClient();
    const id = await pendingPayout(h, client, amount);
    const pay = (status: string, attempt: 1 | 2) => oebs(h, [id], status, `${id}${attempt}`, amount);
    const msgs = [ard(h, id, 'NEW'), ard(h, id, 'PROCESSED'), pay('CREATED', 1), pay('TRANSMITTED', 1), pay('RECONCILED', 1)];
    if (story !== 'paid') msgs.push(pay('RETURNED', 1));
    if (story === 'repaid') msgs.push(pay('CREATED', 2), pay('RECONCILED', 2));
    // A permutation from the random sort keys, then some messages delivered a second time.
    const queue = msgs.map((m, i) => ({ m, k: order[i]! })).sort((a, b) => a.k - b.k).map((x) => x.m);
    for (const i of again) queue.splice((i * 7) % (queue.length + 1), 0, msgs[i % msgs.length]!);
    let step = 0;
    for (let rounds = 0; queue.length > 0; rounds++) {
      expect(rounds, 'every message is applied in the end').toBeLessThan(500);
      const pair = queue.splice(0, 2);
      await Promise.all(pair.map(async (m, i) => {
        const c = consumers[i]!;
        c.crashNext.on = crashes[step++ % crashes.length]! && rounds < 40;
        try {
          await c.receiver.handle(m);
        } catch (err) {
          if (!(err instanceof NotYet)) throw err;
          queue.push(m); // redelivered after the later messages
        } finally {
          c.crashNext.on = false;
        }
      }));
      await checkConserved({ id, client, credited: amount, amount });
    }
    await consumers[0]!.writer.drain();
    const expected = story === 'returned' ? 'confirmed' : 'done';
    const { status } = await payoutRow(h, id);
    expect(status, `${story}: ${queue.length} left`).toBe(expected);
    await checkSettled({ id, client, credited: amount, amount });
    const { confirms, returns } = await paidOut(id);
    // Money moved at most once per payment: A's confirm and return at most once each, B's confirm once.
    expect(confirms).toBeLessThanOrEqual(story === 'repaid' ? 2 : 1);
    expect(returns).toBeLessThanOrEqual(1);
  }), { numRuns: 40 });
}, 240_000);
