// Property: whatever ARD and OEBS send — duplicates, any order, crashes between a ledger write and
// the commit — the receiver never pays a payout twice, never loses or makes money, and never
// takes a payout out of a final state except through OEBS RETURNED. After everything has been
// delivered once more (the redeliveries), each payout's status agrees with its money.
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import { add, cmp, isZero, roundOebs, sub, sum } from '../src/domain/money.ts';
import { FailpointError, setFailpoints } from '../src/failpoints.ts';
import { NotYet } from '../src/oebs-gate/receiver-apply.ts';
import type { DeliveredMessage } from '../src/topics/types.ts';
import { ard, balances, history, oebs, payoutRow, pendingPayout, startHarness, uniqueClient, type Harness } from './receiver-support.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});

interface Case {
  id: string;
  client: string;
  amount: string;
}

/** Everything ARD and OEBS might say about one payout, in the order they would say it. */
function script(c: Case, refused: boolean, returned: boolean, contradict: boolean): DeliveredMessage[] {
  const batch = `B${c.id}`;
  const amount = roundOebs(c.amount);
  const ardAnswer = ard(h, c.id, refused ? 'ERROR' : 'NEW');
  const msgs = [ardAnswer, ard(h, c.id, 'PROCESSED')];
  if (contradict) msgs.push(ard(h, c.id, refused ? 'NEW' : 'ERROR'));
  msgs.push(oebs(h, [batch], 'CREATED', `${batch}-A`, amount), oebs(h, [batch], 'TRANSMITTED', `${batch}-A`, amount), oebs(h, [batch], 'RECONCILED', `${batch}-A`, amount));
  if (returned) msgs.push(oebs(h, [batch], 'RETURNED', `${batch}-A`, amount), oebs(h, [batch], 'CREATED', `${batch}-B`, amount), oebs(h, [batch], 'RECONCILED', `${batch}-B`, amount));
  return msgs;
}

/** Money that left through OEBS: confirm debits minus cancel-payout credits, and how many of each. */
async function paidOut(id: string) {
  const rows = await h.s.db.sql<{ event_type: string; type: string; amount: string }[]>`
    select b.event_type, e.type, e.amount::text from accounts.batch b join accounts.event e on e.batch_id = b.id
    where b.external_id like ${`payout/${id}/%`}`;
  const confirms = rows.filter((r) => r.event_type === 'payout-confirm');
  const returns = rows.filter((r) => r.event_type === 'payout-cancel-payout');
  return { paid: sub(sum(confirms.map((r) => r.amount)), sum(returns.map((r) => r.amount))), confirms: confirms.length, returns: returns.length };
}

async function checkInvariants(c: Case) {
  const { payout, sent } = await balances(h, c.client);
  const { paid } = await paidOut(c.id);
  // Money is neither made nor lost: it is on payout, on payout_sent, or paid out.
  expect(add(add(payout, sent), paid)).toBe(c.amount.replace(/\.?0+$/, ''));
  // Never paid twice, never refunded twice.
  expect([isZero(paid), cmp(paid, c.amount) === 0]).toContain(true);
  expect([isZero(payout), cmp(payout, c.amount) === 0]).toContain(true);
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
  const amount = c.amount.replace(/\.?0+$/, '');
  const expected = { rejected: [amount, '0', '0'], confirmed: ['0', amount, '0'], done: ['0', '0', amount] }[status];
  expect(expected, `payout ${c.id} ended ${status}`).toBeDefined();
  expect([payout, sent, paid]).toEqual(expected);
}

it('duplicates, reorderings and crashes never pay twice nor lose money', async () => {
  const payoutCase = fc.record({
    amount: fc.stringMatching(/^[1-9][0-9]{0,4}\.[0-9]{2}$/),
    refused: fc.boolean(),
    returned: fc.boolean(),
    contradict: fc.boolean(),
  });
  const steps = fc.array(fc.record({ pick: fc.nat(), crash: fc.boolean() }), { minLength: 5, maxLength: 25 });
  await fc.assert(fc.asyncProperty(fc.array(payoutCase, { minLength: 1, maxLength: 2 }), steps, async (cases, plan) => {
    const made: Case[] = [];
    const pool: DeliveredMessage[] = [];
    for (const pc of cases) {
      const client = uniqueClient();
      const c = { id: await pendingPayout(h, client, pc.amount), client, amount: pc.amount };
      made.push(c);
      pool.push(...script(c, pc.refused, pc.returned, pc.contradict));
    }
    // A message whose handler crashed holds back its key until it is redelivered (as the topics do).
    const blocked = new Map<string, DeliveredMessage>();
    const keyOf = (m: DeliveredMessage) => `${m.topic}#${m.key}`;
    const deliver = async (m: DeliveredMessage, crash: boolean) => {
      setFailpoints(crash ? ['receiver.after-ledger'] : [], 'throw');
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
      for (const m of [...blocked.values(), ...pool]) await deliver(m, false);
      for (const c of made) {
        await checkInvariants(c);
        await checkSettled(c);
      }
    } finally {
      setFailpoints([]);
    }
  }), { numRuns: 30 });
}, 120_000);
