// Property: a round applied as one batch (handleBatch: payouts locked once, changed in memory,
// written back in status waves, ledger events in one outbox statement) ends exactly as the same messages
// applied one by one (handle: one transaction each) in the same order: the same payout rows, the
// same history (one row per status change), the same CPF statuses, the same t_oebs_payment rows,
// the same ledger events and balances, the same reports. Two twin "worlds" of payouts get the
// same script (ARD and OEBS answers, duplicates, any order, cut into rounds of any size); the
// batch world is applied with handleBatch, the other with handle, and their states are compared
// with the world's ids replaced by names.
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import { add, canon } from '../src/domain/money.ts';
import { FailpointError, setFailpoints } from '../src/failpoints.ts';
import { NotYet } from '../src/oebs-gate/receiver-apply.ts';
import type { DeliveredMessage } from '../src/topics/types.ts';
import { ard, balances, oebs, otherBatch, pendingPayout, reportsOf, startHarness, uniqueClient, type Harness } from './receiver-support.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});

/** A message of the script, about payout `p` (ARD) or the payment `attempt` of batch `b` (OEBS). */
type Abstract =
  | { kind: 'ard'; p: number; status: string }
  | { kind: 'oebs'; b: 'own0' | 'own1' | 'joint'; status: string; attempt: 1 | 2 | 9 };

interface PayoutCase { amount: string; cpf: boolean; refused: boolean; returned: boolean; contradict: boolean }

function script(cases: PayoutCase[], joint: boolean): Abstract[] {
  const out: Abstract[] = [];
  cases.forEach((c, p) => {
    out.push({ kind: 'ard', p, status: c.refused ? 'ERROR' : 'NEW' }, { kind: 'ard', p, status: 'PROCESSED' });
    if (c.contradict) out.push({ kind: 'ard', p, status: c.refused ? 'NEW' : 'ERROR' });
  });
  const pay = (b: 'own0' | 'own1' | 'joint', returned: boolean) => {
    const s = (status: string, attempt: 1 | 2 | 9): Abstract => ({ kind: 'oebs', b, status, attempt });
    out.push(s('CREATED', 1), s('TRANSMITTED', 1), s('RECONCILED', 1));
    if (returned) out.push(s('RETURNED', 1), s('CREATED', 2), s('RECONCILED', 2));
    // A payment the payout was never paid by comes back (RETURNED of an unpaid payment).
    out.push(s('RETURNED', 9));
  };
  if (joint) pay('joint', cases[0]!.returned);
  else cases.forEach((c, p) => pay(p === 0 ? 'own0' : 'own1', c.returned));
  return out;
}

interface World { ids: string[]; clients: string[]; batches: Record<string, string>; amounts: Record<string, string>; msgs: DeliveredMessage[]; names: Map<string, string> }

async function makeWorld(cases: PayoutCase[], joint: boolean, abstract: Abstract[]): Promise<World> {
  const ids: string[] = [];
  const clients: string[] = [];
  for (const c of cases) {
    const client = uniqueClient();
    clients.push(client);
    ids.push(await pendingPayout(h, client, c.amount, c.cpf));
  }
  const batches: Record<string, string> = { own0: ids[0]!, own1: ids[1] ?? '', joint: otherBatch(ids[0]!, 1) };
  const sumAmounts = cases.reduce((s, c) => s + Math.round(Number(c.amount) * 100), 0);
  const amounts: Record<string, string> = {
    own0: cases[0]!.amount, own1: cases[1]?.amount ?? '0', joint: (sumAmounts / 100).toFixed(2),
  };
  const names = new Map<string, string>();
  ids.forEach((id, i) => names.set(id, `P${i}`));
  names.set(batches.joint!, 'J');
  for (const [b, v] of Object.entries(batches)) for (const a of [1, 2, 9]) if (v) names.set(`${v}${a}`, `${b}#${a}`);
  const msgs = abstract.map((m) => {
    if (m.kind === 'ard') return ard(h, ids[m.p]!, m.status, { payment_batch_id: joint ? batches.joint : ids[m.p] });
    return oebs(h, [batches[m.b]!], m.status, `${batches[m.b]}${m.attempt}`, amounts[m.b]!);
  });
  return { ids, clients, batches, amounts, msgs, names };
}

/** Applies `order` (indexes into the world's messages) in rounds of `sizes`; a waiting message comes back at the end. */
async function run(w: World, order: number[], sizes: number[], batch: boolean): Promise<number[]> {
  const queue = order.map((i) => i);
  const waits: number[] = [];
  for (let round = 0; queue.length && round < 80; round++) {
    const chunk = queue.splice(0, sizes[round % sizes.length]!);
    let results: unknown[];
    if (batch) results = await h.receiver.handleBatch(chunk.map((i) => w.msgs[i]!));
    else {
      results = [];
      for (const i of chunk) {
        try {
          await h.receiver.handle(w.msgs[i]!);
          results.push(undefined);
        } catch (err) {
          results.push(err);
        }
      }
    }
    results.forEach((r, k) => {
      if (r === undefined) return;
      expect(r).toBeInstanceOf(NotYet);
      waits.push(chunk[k]!);
      queue.push(chunk[k]!);
    });
  }
  return waits;
}

/** Everything the receiver decides about a world, its ids replaced by names. */
async function snapshot(w: World, abstractCount: number) {
  const n = (v: unknown): unknown => (typeof v === 'string' ? (w.names.get(v) ?? v) : Array.isArray(v) ? v.map(n) : v);
  const payouts = [];
  for (const [i, id] of w.ids.entries()) {
    const [row] = await h.s.db.sql`
      select status, error, oebs_status, oebs_batch_id, oebs_check_id, oebs_payment_id, oebs_returned_payments, amount::text, amount_oebs::text
      from t_payout where id = ${id}`;
    const hist = await h.s.db.sql`select status, error from t_payout_history where payout_id = ${id} order by id`;
    const cpfs = await h.s.db.sql`select status from t_cpf where payout_id = ${id} order by id`;
    const ledger = await h.s.db.sql<{ event_type: string; payment: string | null; amounts: string }[]>`
      select b.event_type, b.info->>'payment_id' as payment, string_agg(e.type || ' ' || e.amount::text, ',' order by e.id) as amounts
      from accounts.batch b join accounts.event e on e.batch_id = b.id
      where b.external_id like ${`payout/%/${id}/%`} group by b.id, b.event_type, b.info order by b.event_type, payment`;
    payouts.push({
      row: Object.fromEntries(Object.entries(row!).map(([k, v]) => [k, n(v)])),
      history: hist.map((r) => `${r.status}:${r.error ?? ''}`),
      cpfs: cpfs.map((r) => r.status),
      ledger: ledger.map((r) => `${r.event_type}:${n(r.payment) ?? ''}:${r.amounts}`),
      balances: await balances(h, w.clients[i]!),
    });
  }
  const paymentIds = [...w.names.keys()].filter((k) => w.names.get(k)!.includes('#'));
  const payments = await h.s.db.sql`
    select payment_id, dry_run, namespaces, amount::text, batch_ids, reconciled, returned from t_oebs_payment
    where payment_id = any(${paymentIds}::text[]) order by payment_id`;
  const reports = [];
  for (let i = 0; i < abstractCount; i++) {
    const rs = await reportsOf(h, w.msgs[i]!.msgId);
    reports.push(rs.map((r) => `${r.topic.includes('notices') ? 'notice' : 'error'}:${String(r.payload.source ?? '')}:${String(n(String(r.payload.payout_id ?? '')))}`));
  }
  return {
    payouts,
    payments: payments.map((p) => ({ ...p, payment_id: n(p.payment_id), batch_ids: n(p.batch_ids) })).sort((a, b) => String(a.payment_id).localeCompare(String(b.payment_id))),
    reports,
  };
}

/** One or two payouts' stories (joint: one payment over both), and the sort keys that permute their messages. */
const storyArb = (cpf: fc.Arbitrary<boolean>) => ({
  cases: fc.array(fc.record({
    amount: fc.stringMatching(/^[1-9][0-9]{0,3}\.[0-9]{2}$/), cpf, refused: fc.boolean(), returned: fc.boolean(), contradict: fc.boolean(),
  }), { minLength: 1, maxLength: 2 }),
  joint: fc.boolean(),
  keys: fc.array(fc.nat(), { minLength: 30, maxLength: 30 }),
});

it('a round as one batch ends exactly as its messages one by one, in the same order', async () => {
  const plan = fc.record({
    ...storyArb(fc.boolean()),
    again: fc.array(fc.nat(), { maxLength: 6 }),
    sizes: fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 6 }),
  });
  await fc.assert(fc.asyncProperty(plan, async ({ cases, joint, keys, again, sizes }) => {
    const shared = joint && cases.length === 2;
    const abstract = script(cases, shared);
    // A permutation of the script from the sort keys, then some messages a second time (duplicates).
    const order = abstract.map((_, i) => ({ i, k: keys[i % keys.length]! * 31 + i })).sort((a, b) => a.k - b.k).map((x) => x.i);
    for (const a of again) order.splice(a % (order.length + 1), 0, a % abstract.length);
    const seq = await makeWorld(cases, shared, abstract);
    const bat = await makeWorld(cases, shared, abstract);
    const seqWaits = await run(seq, order, sizes, false);
    const batWaits = await run(bat, order, sizes, true);
    expect(batWaits).toEqual(seqWaits);
    expect(await snapshot(bat, abstract.length)).toEqual(await snapshot(seq, abstract.length));
  }), { numRuns: 40 });
}, 300_000);

/** Money that left through OEBS for a payout: confirm debits minus cancel-payout credits. */
async function paidOut(id: string): Promise<string> {
  const [row] = await h.s.db.sql<{ paid: string }[]>`
    select coalesce(sum(case when b.event_type = 'payout-confirm' then e.amount when b.event_type = 'payout-cancel-payout' then -e.amount else 0 end), 0)::text as paid
    from accounts.batch b join accounts.event e on e.batch_id = b.id where b.external_id like ${`payout/%/${id}/%`}`;
  return canon(row!.paid);
}

// Crashes before a round's commit (nothing of it happened) or in the ledger writer after it (the
// statuses and outbox rows committed, the ledger has some or all of the events, the rows are still
// there for the writer's next round). The crashed round is delivered again
// either first (the Postgres topics: its claim rolled back, each key keeps its order) or after
// the others (two replicas on NATS: the crashed one's messages come back after the ack timeout,
// its keys' later messages already handled by the other), and later rounds cut the messages
// differently. Money is never made or lost at any step; paid at most once at every step when
// keys keep their order (docs/wire-formats.md "Order": a redelivery after others may show both
// payments for a moment); once everything has been delivered the status says where the money is.
// ARD contradicting itself is left to the keys-in-order case (see receiver-rounds.test.ts).
it('rounds that crash before their commit or in the ledger writer, delivered again, settle with the money where the status says', async () => {
  const plan = fc.record({
    ...storyArb(fc.constant(false)),
    sizes: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 6 }),
    // Where a round dies: before its commit, or in the ledger writer its commit woke (after a call,
    // before the rows are removed; between a payout's two ordered calls): the round is redelivered.
    crashes: fc.array(fc.constantFrom('', 'receiver.before-commit', 'ledger-writer.after-write', 'ledger-writer.between-calls'), { minLength: 1, maxLength: 10 }),
    inOrder: fc.boolean(),
  });
  await fc.assert(fc.asyncProperty(plan, async ({ cases: drawn, joint, keys, sizes, crashes, inOrder }) => {
    const cases = inOrder ? drawn : drawn.map((c) => ({ ...c, contradict: false }));
    const shared = joint && cases.length === 2;
    const abstract = script(cases, shared);
    const order = abstract.map((_, i) => ({ i, k: keys[i % keys.length]! * 31 + i })).sort((a, b) => a.k - b.k).map((x) => x.i);
    const w = await makeWorld(cases, shared, abstract);
    const check = async (settled: boolean) => {
      for (const [i, id] of w.ids.entries()) {
        const amount = canon(cases[i]!.amount);
        const { payout, sent } = await balances(h, w.clients[i]!);
        const paid = await paidOut(id);
        expect(add(add(payout, sent), paid), `payout ${id}: no money made or lost`).toBe(amount);
        if (inOrder || settled) expect(['0', amount], `payout ${id}: paid at most once`).toContain(paid);
        const steps = (await h.s.db.sql<{ status: string }[]>`select status from t_payout_history where payout_id = ${id} order by id`).map((r) => r.status);
        for (let k = 1; k < steps.length; k++) {
          expect(steps[k - 1]).not.toBe(steps[k]);
          expect(steps[k - 1]).not.toBe('rejected');
          if (steps[k - 1] === 'done') expect(steps[k]).toBe('confirmed');
        }
        if (settled) {
          const [{ status }] = await h.s.db.sql<[{ status: string }]>`select status from t_payout where id = ${id}`;
          const expected = { rejected: [amount, '0', '0'], confirmed: ['0', amount, '0'], done: ['0', '0', amount] }[status];
          expect([payout, sent, paid], `payout ${id} ended ${status}`).toEqual(expected);
        }
      }
    };
    const queue = [...order];
    for (let round = 0; queue.length && round < 120; round++) {
      const chunk = queue.splice(0, sizes[round % sizes.length]!);
      const crash = round < 30 && round % 2 === 0 ? crashes[round % crashes.length]! : '';
      setFailpoints(crash ? [crash] : [], 'throw');
      try {
        const results = await h.receiver.handleBatch(chunk.map((i) => w.msgs[i]!));
        results.forEach((r, k) => {
          if (r === undefined) return;
          expect(r).toBeInstanceOf(NotYet);
          queue.push(chunk[k]!);
        });
      } catch (err) {
        expect(err).toBeInstanceOf(FailpointError);
        if (inOrder) queue.unshift(...chunk);
        else queue.push(...chunk);
      } finally {
        setFailpoints([]);
      }
      await check(false);
    }
    // What still waits is OEBS about a batch no payout will join (its payout was refused by ARD).
    for (const i of queue) expect(abstract[i]!.kind).toBe('oebs');
    await h.writer.drain(); // what a crashed writer left
    await check(true);
    // Everything once more (late duplicates), then the state must agree with the money.
    const again = await h.receiver.handleBatch(abstract.map((_, i) => w.msgs[i]!));
    for (const r of again) if (r !== undefined) expect(r).toBeInstanceOf(NotYet);
    await check(true);
  }), { numRuns: 40 });
}, 300_000);
