// The sender on real input, through the real stand-in ledger: amounts with 6 decimals pay whole
// kopecks (reserved = published = amount_oebs), the history behind a payout is read from the
// previous reservation on, money no accrual explains is rejected (or paid as real money with
// PAYOUT_PROCESS_DRY_RUN off), and ledger keys are scoped by the deployment, so a second database
// against the same ledger never takes the first one's reservations. The kopeck cases also run
// end to end in-process: api → req-gate → sender → OEBS stand-in → receiver, on topics of their own.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/api/app.ts';
import { JsonNumber } from '../src/domain/json.ts';
import { add, cmp, sub, sum } from '../src/domain/money.ts';
import { ledgerExternalId } from '../src/domain/oebs-messages.ts';
import { createLogger } from '../src/log.ts';
import { senderLedger } from '../src/oebs-gate/ledger.ts';
import { Sender } from '../src/oebs-gate/sender.ts';
import { payoutAccountsSource } from '../src/req-gate/accounts-source.ts';
import { ReqGate } from '../src/req-gate/gate.ts';
import { OebsEmulator } from '../src/standins/oebs/emulator.ts';
import { getDeploymentId } from '../src/store/deployment.ts';
import { insertFixedPayout, insertRequestPayouts } from '../src/store/payouts.ts';
import { createTopics } from '../src/topics/index.ts';
import { topicsFor } from '../src/topics/paths.ts';
import type { DeliveredMessage } from '../src/topics/types.ts';
import type { Sql } from '../src/db/connect.ts';
import { startStandin, type Standin } from './accounts/support.ts';
import { credit, eventually } from './gates-support.ts';
import { harnessOn } from './receiver-support.ts';
import { TOKEN, testConfig } from './support/config.ts';
import { createTestDb } from './support/db.ts';

const log = createLogger('test', 'silent');
let s: Standin;
beforeAll(async () => {
  s = await startStandin();
});

let seq = 0;
const uniqueClient = () => String(400_000 + process.pid * 10 + ++seq * 1000);
const acc = (client: string) => ({ namespace: 'taxi', client_id: client, contract_id: '7', service_id: '124', currency: 'RUB' });

async function sender(sql: Sql, env: Record<string, string> = {}) {
  const config = testConfig({ PAYOUT_SENDER_LIMIT: '100', ...env });
  return new Sender({
    config, sql, ledger: senderLedger(s.client), publisher: await createTopics(config, sql),
    newPayoutTopic: (ns, dry) => topicsFor(config, ns, dry).newPayout, log,
  });
}

async function byClientPayout(sql: Sql, client: string) {
  const [req] = await sql`insert into t_request (external_id, client_id, namespace, status) values (${`r-${client}-${++seq}`}, ${client}, 'taxi', 'done') returning id`;
  await insertRequestPayouts(sql, [{ external_id: `p-${seq}`, request_id: req!.id, ...acc(client), amount: '0', cpf_only: false, approve_req: false }]);
  return (await sql`select id from t_payout where request_id = ${req!.id}`)[0]!.id as string;
}

const row = async (sql: Sql, id: string) =>
  (await sql`select status, amount::text, amount_oebs::text, dry_run, error from t_payout where id = ${id}`)[0]!;
/** The new-payout messages of a payout, their amount as the literal on the wire. */
const published = async (sql: Sql, id: string) =>
  sql<{ amount: string }[]>`select payload->>'amount' as amount from topic_message where msg_id = ${id} and topic like '%new-payout%'`;
const cpfs = async (sql: Sql, id: string) => (await sql`select external_id from t_cpf where payout_id = ${id} order by id`).map((r) => r.external_id);
const balances = async (client: string) => {
  const res = await s.client.read({ balances: [{ loc: { ...acc(client), type: 'payout' } }, { loc: { ...acc(client), type: 'payout_sent' } }] });
  return res.balances.map((b) => sub(b.credit, b.debit));
};

describe('whole kopecks', () => {
  it('0.555 pays 0.55: reserved, published and amount_oebs alike; the 0.005 stays until it makes a kopeck', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '0.555');
    const first = await byClientPayout(s.db.sql, c);
    await (await sender(s.db.sql)).runOnce();
    expect(await row(s.db.sql, first)).toMatchObject({ status: 'pending', amount: '0.550000', amount_oebs: '0.55' });
    expect(await balances(c)).toEqual(['0.005', '0.55']);
    expect((await published(s.db.sql, first)).map((m) => m.amount)).toEqual(['0.55']);

    // Below a kopeck: done with amount 0, nothing reserved, nothing published.
    const second = await byClientPayout(s.db.sql, c);
    await (await sender(s.db.sql)).runOnce();
    expect(await row(s.db.sql, second)).toMatchObject({ status: 'done', amount: '0.000000', amount_oebs: '0.00' });
    expect(await published(s.db.sql, second)).toEqual([]);
    expect(await balances(c)).toEqual(['0.005', '0.55']);

    // 0.005 more makes a kopeck: paid, as real money like the remainder it joins.
    await credit(s.client, acc(c), '0.005');
    const third = await byClientPayout(s.db.sql, c);
    await (await sender(s.db.sql)).runOnce();
    expect(await row(s.db.sql, third)).toMatchObject({ status: 'pending', amount: '0.010000', amount_oebs: '0.01', dry_run: false });
    expect(await balances(c)).toEqual(['0', '0.56']);
  });

  it('half-kopeck amounts never add up to more than the ledger holds: ten payouts of an account with 0.05', async () => {
    const c = uniqueClient();
    for (let i = 0; i < 10; i++) await credit(s.client, acc(c), '0.005');
    const ids = [];
    for (let i = 0; i < 10; i++) ids.push(await byClientPayout(s.db.sql, c));
    await (await sender(s.db.sql)).runOnce();
    const rows = await Promise.all(ids.map((id) => row(s.db.sql, id)));
    const told = (await Promise.all(ids.map((id) => published(s.db.sql, id)))).flat().map((m) => m.amount);
    expect(told).toEqual(['0.05']); // the first takes it all; the rest find less than a kopeck
    expect(rows.filter((r) => r.status === 'done').length).toBe(9);
    expect(await balances(c)).toEqual(['0', '0.05']);
  });
});

describe('the history behind a payout', () => {
  it('counts only the accruals after the previous reservation: their CPFs, not the ones already paid', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '10', { cpf: [{ external_id: 'R-old', amount: '10', operation_type: 'INSERT_NETTING' }] });
    const first = await byClientPayout(s.db.sql, c);
    await (await sender(s.db.sql)).runOnce();
    await credit(s.client, acc(c), '2.5', { dry_run: true, cpf: [{ external_id: 'R-new', amount: '2.5', operation_type: 'INSERT_NETTING' }] });
    const second = await byClientPayout(s.db.sql, c);
    await (await sender(s.db.sql)).runOnce();
    expect(await cpfs(s.db.sql, first)).toEqual(['R-old']);
    expect(await cpfs(s.db.sql, second)).toEqual(['R-new']);
    // The earlier real money does not make the new dry-run money a mix: it was paid already.
    expect(await row(s.db.sql, second)).toMatchObject({ status: 'pending', dry_run: true, amount: '2.500000' });
  });
});

describe('deployment-scoped ledger keys', () => {
  it('a second, fresh database against the same ledger reserves its own money under its own keys', async () => {
    const other = await createTestDb();
    const [c1, c2] = [uniqueClient(), uniqueClient()];
    await credit(s.client, acc(c1), '5');
    await credit(s.client, acc(c2), '7');
    // Payout ids restart in a fresh database: both databases have a payout with the same id.
    await s.db.sql`select setval(pg_get_serial_sequence('t_payout', 'id'), 900000)`;
    await other.sql`select setval(pg_get_serial_sequence('t_payout', 'id'), 900000)`;
    const a = await insertFixedPayout(s.db.sql, { external_id: `dep-${c1}`, ...acc(c1), amount: '5', approve_req: false });
    const b = await insertFixedPayout(other.sql, { external_id: `dep-${c2}`, ...acc(c2), amount: '7', approve_req: false });
    expect(a).toBe(b);
    await (await sender(s.db.sql)).runOnce();
    await (await sender(other.sql)).runOnce();
    expect(await row(s.db.sql, a!)).toMatchObject({ status: 'pending', amount: '5.000000' });
    expect(await row(other.sql, b!)).toMatchObject({ status: 'pending', amount: '7.000000' });
    expect(await balances(c1)).toEqual(['0', '5']);
    expect(await balances(c2)).toEqual(['0', '7']);
    expect(await getDeploymentId(s.db.sql)).not.toBe(await getDeploymentId(other.sql));
  });

  it('a restored database under the same deployment id: a reservation it did not make is refused loudly, never reused or published', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '100');
    const id = await insertFixedPayout(s.db.sql, { external_id: `restored-${c}`, ...acc(c), amount: '30', approve_req: false });
    const dep = await getDeploymentId(s.db.sql);
    // What the "old" payout of this id did before the restore: reserved 40 of this account.
    await s.client.writeBatch({
      event_type: 'payout-reserve', external_id: `payout/${dep}/${id}/reserve`, info: { payout_id: id, dry_run: false, cpf: [] },
      events: [{ loc: { ...acc(c), type: 'payout' }, type: 'debit', amount: '40' }, { loc: { ...acc(c), type: 'payout_sent' }, type: 'credit', amount: '40' }],
    });
    await (await sender(s.db.sql)).runOnce();
    expect(await row(s.db.sql, id!)).toMatchObject({ status: 'rejected', error: expect.stringContaining('did not make') });
    expect(await published(s.db.sql, id!)).toEqual([]);
    expect(await balances(c)).toEqual(['60', '40']);
  });

  it('a restored database under the same deployment id: a by-client namesake of a payout the ledger has seen is refused, even on the same account', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '50');
    const id = await byClientPayout(s.db.sql, c);
    const dep = await getDeploymentId(s.db.sql);
    // The old payout of this id (created before the restore) reserved 20 of this very account.
    await s.client.writeBatch({
      event_type: 'payout-reserve', external_id: `payout/${dep}/${id}/reserve`,
      info: { payout_id: id, deployment_id: dep, payout_created_at: '2020-01-01T00:00:00.000Z', dry_run: false, cpf: [] },
      events: [{ loc: { ...acc(c), type: 'payout' }, type: 'debit', amount: '20' }, { loc: { ...acc(c), type: 'payout_sent' }, type: 'credit', amount: '20' }],
    });
    await (await sender(s.db.sql)).runOnce();
    expect(await row(s.db.sql, id)).toMatchObject({ status: 'rejected', error: expect.stringContaining('did not make') });
    expect(await published(s.db.sql, id)).toEqual([]);
    expect(await balances(c)).toEqual(['30', '20']);
  });

  it('a key taken on another account is refused, not retried forever and not reused', async () => {
    const [c, elsewhere] = [uniqueClient(), uniqueClient()];
    await credit(s.client, acc(c), '9');
    await credit(s.client, acc(elsewhere), '9');
    const id = await insertFixedPayout(s.db.sql, { external_id: `taken-${c}`, ...acc(c), amount: '9', approve_req: false });
    const dep = await getDeploymentId(s.db.sql);
    await s.client.writeBatch({
      event_type: 'payout-reserve', external_id: `payout/${dep}/${id}/reserve`, info: {},
      events: [{ loc: { ...acc(elsewhere), type: 'payout' }, type: 'debit', amount: '9' }, { loc: { ...acc(elsewhere), type: 'payout_sent' }, type: 'credit', amount: '9' }],
    });
    await (await sender(s.db.sql)).runOnce();
    expect(await row(s.db.sql, id!)).toMatchObject({ status: 'rejected', error: expect.stringContaining('accounts system refused') });
    expect(await balances(c)).toEqual(['9', '0']);
    expect(add(...(await balances(elsewhere)) as [string, string])).toBe('9');
  });
});

describe('money no accrual explains (PAYOUT_PROCESS_DRY_RUN)', () => {
  /**
   * A balance the stand-in holds with no event behind it: an opening balance carried over from a
   * ledger that kept no history for it (written to the stand-in's running totals, as an import
   * would). Every credit event counts as an accrual (src/domain/sender-decision.ts), so only a
   * balance beyond the account's events is "unexplained".
   */
  const openingBalance = (client: string, amount: string) => s.db.sql`
    update accounts.account set credit = credit + ${amount}::numeric
    where namespace = 'taxi' and type = 'payout' and client_id = ${client} and contract_id = '7' and service_id = '124' and currency = 'RUB'`;
  const reserveOf = async (sql: Sql, id: string) => s.client.getBatch(ledgerExternalId.reserve(await getDeploymentId(sql), id));
  const newPayoutTopics = async (id: string) =>
    (await s.db.sql`select topic from topic_message where msg_id = ${id} and topic like '%new-payout%'`).map((r) => r.topic as string);

  it('on (the default): rejected with that reason, nothing reserved or published; off: the same money is paid as real', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '5');
    await openingBalance(c, '3');
    expect(await balances(c)).toEqual(['8', '0']);

    const refused = await byClientPayout(s.db.sql, c);
    await (await sender(s.db.sql)).runOnce();
    expect(await row(s.db.sql, refused)).toMatchObject({ status: 'rejected', error: '3 of the balance 8 is not explained by any accrual in the ledger' });
    expect(await reserveOf(s.db.sql, refused)).toBeUndefined();
    expect(await published(s.db.sql, refused)).toEqual([]);
    expect(await cpfs(s.db.sql, refused)).toEqual([]);
    expect(await balances(c)).toEqual(['8', '0']);
    // A fixed amount the explained part covers is refused too: the balance it would come from is not explained.
    const fixed = await insertFixedPayout(s.db.sql, { external_id: `unexplained-${c}`, ...acc(c), amount: '5', approve_req: false });
    await (await sender(s.db.sql)).runOnce();
    expect(await row(s.db.sql, fixed!)).toMatchObject({ status: 'rejected', error: expect.stringContaining('not explained by any accrual') });
    expect(await balances(c)).toEqual(['8', '0']);
    // The lock taken for the decision was given back: the account is free for the next payout.
    expect((await s.db.sql`select lock_uid from accounts.account where namespace = 'taxi' and type = 'payout' and client_id = ${c}`)[0]!.lock_uid).toBeNull();

    const paid = await byClientPayout(s.db.sql, c);
    await (await sender(s.db.sql, { PAYOUT_PROCESS_DRY_RUN: 'off' })).runOnce();
    expect(await row(s.db.sql, paid)).toMatchObject({ status: 'pending', amount: '8.000000', amount_oebs: '8.00', dry_run: false, error: null });
    expect((await reserveOf(s.db.sql, paid))).toMatchObject({ event_type: 'payout-reserve', info: expect.objectContaining({ dry_run: false }) });
    expect((await published(s.db.sql, paid)).map((m) => m.amount)).toEqual(['8.00']);
    expect(await newPayoutTopics(paid)).toEqual([topicsFor(testConfig(), 'taxi', false).newPayout]); // real money: never the -dry twin
    expect(await balances(c)).toEqual(['0', '8']);
  });

  it('off, with dry-run accruals under the unexplained money: rejected (unexplained money is real, the mix cannot be paid)', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '2', { dry_run: true });
    await openingBalance(c, '1');
    const id = await byClientPayout(s.db.sql, c);
    await (await sender(s.db.sql, { PAYOUT_PROCESS_DRY_RUN: 'off' })).runOnce();
    expect(await row(s.db.sql, id)).toMatchObject({ status: 'rejected', error: 'the accruals behind the balance disagree on dry_run' });
    expect(await reserveOf(s.db.sql, id)).toBeUndefined();
    expect(await balances(c)).toEqual(['3', '0']);
  });
});

describe('whole kopecks end to end: api → req-gate → sender → OEBS stand-in → receiver', () => {
  const apps: FastifyInstance[] = [];
  afterAll(() => Promise.all(apps.map((a) => a.close())));
  let envSeq = 0;

  /**
   * payout in-process on this file's stand-in ledger: the real api, req-gate, sender, receiver and
   * OEBS stand-in (the receiver tests' harness), on topics of an environment of their own, so the
   * stand-in and the wire reader see these payouts only; `wire` is every new-payout and OEBS status
   * message as a consumer received it (the body exactly as published).
   */
  async function pipeline() {
    const h = await harnessOn(s, { PAYOUT_ENV: `kopeck${process.pid}n${++envSeq}` });
    const app = await buildApp({ config: h.config, sql: s.db.sql });
    apps.push(app);
    const gate = new ReqGate({ config: h.config, sql: s.db.sql, log, accounts: payoutAccountsSource(s.client) });
    const emulator = await OebsEmulator.create({ config: h.config, sql: s.db.sql, topics: h.topics, log, retry: { baseMs: 1, maxMs: 5 } });
    const [real, dry] = [topicsFor(h.config, 'taxi', false), topicsFor(h.config, 'taxi', true)];
    const wire: DeliveredMessage[] = [];
    const reader = await h.topics.subscribe({
      group: 'wire-reader', topics: [real.newPayout, dry.newPayout, real.statusOebs, dry.statusOebs], handler: async (m) => void wire.push(m),
    });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const payoutsOf = async (client: string) => {
      const res = await app.inject({ method: 'GET', url: `/api/v1/payout?client_id=${client}&order=asc`, headers: auth });
      expect(res.statusCode).toBe(200);
      return res.json().payouts as { id: number; contract_id: number; amount: string; amount_oebs: string | null; status: string; error: string | null; oebs_payment_id: string | null }[];
    };
    return {
      h, gate, wire,
      post: (url: string, payload: object) => app.inject({ method: 'POST', url, payload, headers: auth }),
      payoutsOf,
      /** Every component takes rounds until the client's payouts are all final; then the reader catches up. */
      async settle(client: string) {
        await eventually(async () => {
          await gate.runOnce();
          await h.sender.runOnce();
          await emulator.runOnce();
          await h.receiver.runOnce();
          const ps = await payoutsOf(client);
          return ps.length > 0 && ps.every((p) => p.status === 'done' || p.status === 'rejected');
        });
        while ((await reader.runOnce()) > 0);
      },
      /** What payout told OEBS to pay: the `amount` literal of each new-payout message, by payout id. */
      told: () => new Map(wire.filter((m) => m.topic === real.newPayout || m.topic === dry.newPayout)
        .map((m) => [numberText(m, 'message_id'), numberText(m, 'amount')])),
      /** What OEBS paid: `payment_amount` of its RECONCILED answers, by payment id. */
      paid: () => new Map(wire.filter((m) => (m.topic === real.statusOebs || m.topic === dry.statusOebs) && field(m, 'status_type') === 'RECONCILED')
        .map((m) => [numberText(m, 'payment_id'), numberText(m, 'payment_amount')])),
    };
  }

  const field = (m: DeliveredMessage, name: string) => (m.payload as Record<string, unknown>)[name];
  /** A field as its literal on the wire; it must be a JSON number (a `JsonNumber` when read exactly), not a string. */
  function numberText(m: DeliveredMessage, name: string): string {
    const v = field(m, name);
    if (!(v instanceof JsonNumber)) throw new Error(`${name} is not a JSON number in ${m.body}`);
    return v.text;
  }

  /** What the ledger moved for a payout under its own keys: reserved off `payout`, paid off `payout_sent`. */
  async function ledgerMoved(id: string, paymentId: string | null) {
    const dep = await getDeploymentId(s.db.sql);
    const debitOf = async (externalId: string, type: 'payout' | 'payout_sent') =>
      (await s.client.getBatch(externalId))?.events.find((e) => e.type === 'debit' && e.loc.type === type)?.amount;
    return {
      reserved: await debitOf(ledgerExternalId.reserve(dep, id), 'payout'),
      paid: paymentId === null ? undefined : await debitOf(ledgerExternalId.confirm(dep, id, paymentId), 'payout_sent'),
    };
  }

  it("the README demo: 100.00 on contract 7 and 0.555 on contract 8, one payout-by-client → 100.00 and 0.55; the 0.005 stays", async () => {
    const p = await pipeline();
    const c = uniqueClient();
    await credit(s.client, { ...acc(c), contract_id: '7' }, '100.00');
    await credit(s.client, { ...acc(c), contract_id: '8' }, '0.555');
    const created = await p.post('/api/v1/payout-by-client', { external_id: `demo-${c}`, client_id: Number(c), namespace: 'taxi' });
    expect(created.statusCode).toBe(201);

    // req-gate plans a payout per funded account, of the balance it saw.
    await p.gate.runOnce();
    expect((await p.payoutsOf(c)).map((x) => [x.contract_id, x.amount, x.status])).toEqual([[7, '100.000000', 'new'], [8, '0.555000', 'new']]);

    // The sender pays whole kopecks: reserved = amount = amount_oebs = the literal OEBS is told.
    await p.h.sender.runOnce();
    const pending = await p.payoutsOf(c);
    expect(pending.map((x) => [x.contract_id, x.amount, x.amount_oebs, x.status])).toEqual([[7, '100.000000', '100.00', 'pending'], [8, '0.550000', '0.55', 'pending']]);
    for (const x of pending) expect((await ledgerMoved(String(x.id), null)).reserved).toBe(x.amount_oebs === '100.00' ? '100' : '0.55');
    expect(await balancesOf(c, '7')).toEqual(['0', '100']);
    expect(await balancesOf(c, '8')).toEqual(['0.005', '0.55']);

    await p.settle(c);
    const [seven, eight] = await p.payoutsOf(c);
    expect([seven!.status, eight!.status]).toEqual(['done', 'done']);
    // On the wire: the amount literals exactly, one new-payout message per payout.
    expect(p.told()).toEqual(new Map([[String(seven!.id), '100.00'], [String(eight!.id), '0.55']]));
    const bodies = p.wire.filter((m) => m.topic.endsWith('/new-payout')).map((m) => m.body);
    expect(bodies.filter((b) => b.includes('"amount":100.00,'))).toHaveLength(1);
    expect(bodies.filter((b) => b.includes('"amount":0.55,'))).toHaveLength(1);
    // OEBS paid what it was told, and the ledger moved exactly that: reserved, then paid off payout_sent.
    expect(p.paid()).toEqual(new Map([[seven!.oebs_payment_id, '100.00'], [eight!.oebs_payment_id, '0.55']]));
    expect(await ledgerMoved(String(seven!.id), seven!.oebs_payment_id)).toEqual({ reserved: '100', paid: '100' });
    expect(await ledgerMoved(String(eight!.id), eight!.oebs_payment_id)).toEqual({ reserved: '0.55', paid: '0.55' });
    expect(await balancesOf(c, '7')).toEqual(['0', '0']);
    expect(await balancesOf(c, '8')).toEqual(['0.005', '0']); // the half kopeck waits for a later payout
  });

  it('ten fixed payouts of "0.005" from an account with 0.05 are each refused with a 400 naming the amount; nothing is stored, reserved or told', async () => {
    const p = await pipeline();
    const c = uniqueClient();
    await credit(s.client, acc(c), '0.05');
    const batchesBefore = (await s.counts()).batches;
    for (let i = 0; i < 10; i++) {
      const res = await p.post('/api/v1/payout', { external_id: `half-${c}-${i}`, service_id: 124, contract_id: 7, client_id: Number(c), amount: '0.005', currency: 'RUB', namespace: 'taxi' });
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toBe('body/amount: "0.005" is not a whole number of RUB minor units (2 decimals)');
    }
    expect(await s.db.sql`select id from t_payout where client_id = ${c}`).toEqual([]);
    // Every component takes its rounds: there is nothing to do for this client.
    await p.gate.runOnce();
    await p.h.sender.runOnce();
    expect(await p.payoutsOf(c)).toEqual([]);
    expect(await balances(c)).toEqual(['0.05', '0']);
    expect((await s.counts()).batches).toBe(batchesBefore);
    expect(p.told()).toEqual(new Map());
  });

  it('fixed payouts that together exceed the balance: OEBS is never told more than the ledger moved', async () => {
    const p = await pipeline();
    const c = uniqueClient();
    for (let i = 0; i < 10; i++) await credit(s.client, acc(c), '0.005'); // 0.05, in half kopecks
    for (let i = 0; i < 3; i++) {
      const res = await p.post('/api/v1/payout', { external_id: `over-${c}-${i}`, service_id: 124, contract_id: 7, client_id: Number(c), amount: '0.02', currency: 'RUB', namespace: 'taxi' });
      expect(res.statusCode).toBe(201);
    }
    await p.settle(c);
    const ps = await p.payoutsOf(c);
    expect(ps.map((x) => [x.status, x.amount_oebs])).toEqual([['done', '0.02'], ['done', '0.02'], ['rejected', null]]);
    expect(ps[2]!.error).toBe('balance 0.01 does not cover the payout amount 0.02');
    const told = [...p.told().values()];
    const paid = [...p.paid().values()];
    const moved = await Promise.all(ps.map((x) => ledgerMoved(String(x.id), x.oebs_payment_id)));
    expect(told).toEqual(['0.02', '0.02']);
    expect(paid).toEqual(['0.02', '0.02']);
    expect(moved).toEqual([{ reserved: '0.02', paid: '0.02' }, { reserved: '0.02', paid: '0.02' }, { reserved: undefined, paid: undefined }]);
    const reserved = sum(moved.flatMap((m) => (m.reserved ? [m.reserved] : [])));
    expect(sum(told)).toBe(reserved);
    expect(sum(paid)).toBe(sum(moved.flatMap((m) => (m.paid ? [m.paid] : []))));
    expect(cmp(sum(told), '0.05')).toBeLessThanOrEqual(0);
    expect(await balances(c)).toEqual(['0.01', '0']);
  });
});

const balancesOf = async (client: string, contract: string) => {
  const a = { ...acc(client), contract_id: contract };
  const res = await s.client.read({ balances: [{ loc: { ...a, type: 'payout' } }, { loc: { ...a, type: 'payout_sent' } }] });
  return res.balances.map((b) => sub(b.credit, b.debit));
};
