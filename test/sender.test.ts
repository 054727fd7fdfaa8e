import { beforeAll, describe, expect, it } from 'vitest';
import { createAccountsClient, type AccountsClient } from '../src/accounts/client.ts';
import { connect, type Sql } from '../src/db/connect.ts';
import { sub } from '../src/domain/money.ts';
import { FailpointError, setFailpoints } from '../src/failpoints.ts';
import { createLogger } from '../src/log.ts';
import { senderLedger } from '../src/oebs-gate/ledger.ts';
import type { Publisher } from '../src/oebs-gate/ports.ts';
import { Sender } from '../src/oebs-gate/sender.ts';
import { insertFixedPayout, insertRequestPayouts } from '../src/store/payouts.ts';
import { createTopics } from '../src/topics/index.ts';
import { mapLimit } from '../src/worker/concurrency.ts';
import { topicsFor } from '../src/topics/paths.ts';
import type { Topics } from '../src/topics/types.ts';
import { startStandin, type Standin } from './accounts/support.ts';
import { testConfig } from './support/config.ts';
import { credit, faultyAccounts, insertByClientPayout } from './gates-support.ts';

const log = createLogger('test', 'silent');
/** A failed attempt is due again at once (the backoff itself is tested in parking.test.ts). */
const SOON = { PAYOUT_RETRY_BACKOFF_BASE: '1ms' };
let s: Standin;
let topics: Topics;
beforeAll(async () => {
  s = await startStandin();
  topics = await createTopics(testConfig(), s.db.sql);
});

let seq = 0;
const uniqueClient = () => String(200_000 + process.pid * 10 + ++seq * 1000);
const acc = (client: string, over: Record<string, string> = {}) =>
  ({ namespace: 'taxi', client_id: client, contract_id: '7', service_id: '124', currency: 'RUB', ...over });

function sender(env: Record<string, string> = {}, opts: { sql?: Sql; accountsUrl?: string; publisher?: Publisher } = {}) {
  const config = testConfig({ PAYOUT_SENDER_LIMIT: '100', ...env });
  return new Sender({
    config,
    sql: opts.sql ?? s.db.sql,
    ledger: senderLedger(createAccountsClient({ url: opts.accountsUrl ?? s.url, timeoutMs: 10_000 })),
    publisher: opts.publisher ?? topics,
    newPayoutTopic: (ns, dry) => topicsFor(config, ns, dry).newPayout,
    log,
  });
}

const byClientPayout = (client: string, amount: string, over: Record<string, string> = {}) => insertByClientPayout(s.db.sql, acc(client, over), amount);

const payout = async (id: string) =>
  (await s.db.sql`select status, amount::text, amount_oebs::text, dry_run, error from t_payout where id = ${id}`)[0];
const messages = async (id: string) =>
  s.db.sql<{ topic: string; payload: Record<string, unknown>; body: string }[]>`
    select topic, payload, payload::text as body from topic_message where msg_id = ${id} and topic like '%new-payout%'`;
const balances = async (client: AccountsClient, c: string, over: Record<string, string> = {}) => {
  const res = await client.read({ balances: [{ loc: { ...acc(c, over), type: 'payout' } }, { loc: { ...acc(c, over), type: 'payout_sent' } }] });
  return res.balances.map((b) => sub(b.credit, b.debit));
};

describe('sender decisions, end to end through the ledger', () => {
  it('reserves the balance found now in whole kopecks, stores CPFs, publishes the payout and makes it pending', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '100.005', { cpf: [{ external_id: 'R-1', amount: '100.005', operation_type: 'INSERT_NETTING' }] });
    const id = await byClientPayout(c, '50');
    await credit(s.client, acc(c), '10'); // grew since req-gate
    expect(await sender().runOnce()).toMatchObject({ count: 1 });
    // 110.005 on the account: 110.00 is what OEBS can pay, and exactly that is reserved; 0.005 stays.
    expect(await payout(id)).toEqual({ status: 'pending', amount: '110.000000', amount_oebs: '110.00', dry_run: false, error: null });
    expect(await balances(s.client, c)).toEqual(['0.005', '110']);
    const [msg] = await messages(id);
    expect(msg!.topic).toBe('/billing-payout/dev/oebs/new-payout');
    // The original's format, as text: ids as integers, the amount as a number with two decimals.
    const [created] = await s.db.sql<{ day: string }[]>`select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD') as day from t_payout where id = ${id}`;
    expect(msg!.body).toMatch(new RegExp(`^\\{"message_id":${id},"message_dt":"\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d","message_system":"billingpay",`
      + `"billing_contract_id":7,"billing_person_id":-1,"transaction_type":"PAYMENT","transaction_dt":"${created!.day}","service_id":124,`
      + `"amount":110.00,"paysys_type_cc":"payout","partner_currency":"RUB","billing_client_id":${c},"namespace":"taxi"\\}$`));
    expect(await s.db.sql`select external_id, amount::text, status from t_cpf where payout_id = ${id}`)
      .toEqual([{ external_id: 'R-1', amount: '100.005000', status: 'new' }]);
  });

  it('pays a covered fixed amount and rejects one the balance does not cover', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '30');
    const ok = await insertFixedPayout(s.db.sql, { external_id: `f-${c}-1`, ...acc(c), amount: '20', approve_req: false });
    const tooMuch = await insertFixedPayout(s.db.sql, { external_id: `f-${c}-2`, ...acc(c), amount: '20', approve_req: false });
    await sender().runOnce();
    expect(await payout(ok!)).toMatchObject({ status: 'pending', amount: '20.000000' });
    expect(await payout(tooMuch!)).toMatchObject({ status: 'rejected', error: 'balance 10 does not cover the payout amount 20' });
    expect(await balances(s.client, c)).toEqual(['10', '20']);
    expect(await messages(tooMuch!)).toEqual([]);
  });

  it('rejects a negative balance and finishes a zero one as done, neither sent', async () => {
    const [neg, zero] = [uniqueClient(), uniqueClient()];
    await s.client.writeBatch({ event_type: 'charge', external_id: `neg-${neg}`, events: [{ loc: { ...acc(neg), type: 'payout' }, type: 'debit', amount: '3' }] });
    const ids = { neg: await byClientPayout(neg, '1'), zero: await byClientPayout(zero, '1') };
    await sender().runOnce();
    expect(await payout(ids.neg)).toMatchObject({ status: 'rejected', error: expect.stringContaining('negative balance') });
    expect(await payout(ids.zero)).toMatchObject({ status: 'done', amount: '0.000000' });
    expect([...(await messages(ids.neg)), ...(await messages(ids.zero))]).toEqual([]);
  });

  it('routes dry-run money to the -dry topic and rejects accruals that disagree', async () => {
    const [dry, mixed] = [uniqueClient(), uniqueClient()];
    await credit(s.client, acc(dry), '5', { dry_run: true });
    await credit(s.client, acc(mixed), '5', { dry_run: true });
    await credit(s.client, acc(mixed), '5');
    const ids = { dry: await byClientPayout(dry, '5'), mixed: await byClientPayout(mixed, '10') };
    await sender().runOnce();
    expect(await payout(ids.dry)).toMatchObject({ status: 'pending', dry_run: true });
    expect((await messages(ids.dry))[0]!.topic).toBe('/billing-payout/dev/oebs/new-payout-dry');
    expect(await payout(ids.mixed)).toMatchObject({ status: 'rejected', error: expect.stringContaining('dry_run') });
    expect(await balances(s.client, mixed)).toEqual(['10', '0']);
  });

  it('sends real money only to clients allowed in a restricted namespace', async () => {
    const [allowed, other] = [uniqueClient(), uniqueClient()];
    for (const c of [allowed, other]) await credit(s.client, acc(c), '5');
    const ids = { allowed: await byClientPayout(allowed, '5'), other: await byClientPayout(other, '5') };
    await sender({ PAYOUT_ALLOWED_NS: JSON.stringify({ taxi: [allowed] }) }).runOnce();
    expect(await payout(ids.allowed)).toMatchObject({ status: 'pending' });
    expect(await payout(ids.other)).toMatchObject({ status: 'rejected', error: expect.stringContaining('not allowed') });
  });

  it('payouts of one account in one round take turns (waves): each reads what the one before it reserved', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '12', { cpf: [{ external_id: 'R-w', amount: '12', operation_type: 'INSERT_NETTING' }] });
    const fixed = [];
    for (let i = 0; i < 3; i++) fixed.push((await insertFixedPayout(s.db.sql, { external_id: `wave-${c}-${i}`, ...acc(c), amount: '5', approve_req: false }))!);
    const byClient = await byClientPayout(c, '0');
    expect(await sender().runOnce()).toMatchObject({ count: 4 });
    expect(await Promise.all(fixed.map((id) => payout(id)))).toMatchObject([
      { status: 'pending', amount: '5.000000' }, { status: 'pending', amount: '5.000000' },
      { status: 'rejected', error: 'balance 2 does not cover the payout amount 5' },
    ]);
    expect(await payout(byClient)).toMatchObject({ status: 'pending', amount: '2.000000' });
    expect(await balances(s.client, c)).toEqual(['0', '12']);
    // The CPF went with the first payout only: the later ones paid what it left.
    expect(await s.db.sql`select payout_id::text from t_cpf where external_id = 'R-w'`).toEqual([{ payout_id: fixed[0] }]);
  });

  it('skips payouts waiting for approval', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '5');
    const id = await insertFixedPayout(s.db.sql, { external_id: `appr-${c}`, ...acc(c), amount: '5', approve_req: true });
    await sender().runOnce();
    expect(await payout(id!)).toMatchObject({ status: 'new' });
  });
});

describe('sender crash safety', () => {
  it('a crash between reservation and commit: the retry uses the reservation, never reserves twice', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '42');
    const id = await byClientPayout(c, '42');
    setFailpoints(['sender.after-reserve'], 'throw');
    try {
      // The round dies after the ledger write, as a killed process would: nothing of it commits.
      await expect(sender().runOnce()).rejects.toThrow(FailpointError);
    } finally {
      setFailpoints([]);
    }
    expect(await payout(id)).toMatchObject({ status: 'new' });
    expect(await balances(s.client, c)).toEqual(['0', '42']); // the ledger has the reservation
    await credit(s.client, acc(c), '8'); // new money arrives before the retry
    await sender().runOnce();
    expect(await payout(id)).toMatchObject({ status: 'pending', amount: '42.000000' });
    expect(await balances(s.client, c)).toEqual(['8', '42']);
    expect(await messages(id)).toHaveLength(1);
  });

  it('finds its own earlier reservation even after another payout of the account reserved since', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '20');
    const a = await insertFixedPayout(s.db.sql, { external_id: `a-${c}`, ...acc(c), amount: '5', approve_req: false });
    setFailpoints(['sender.after-reserve'], 'throw');
    try {
      // The round dies after the ledger write, as a killed process would: nothing of it commits.
      await expect(sender().runOnce()).rejects.toThrow(FailpointError);
    } finally {
      setFailpoints([]);
    }
    // A's reservation is in the ledger, A is still new; now B of the same account goes first.
    await s.db.sql`update t_payout set approve_req = true where id = ${a!}`;
    const b = await insertFixedPayout(s.db.sql, { external_id: `b-${c}`, ...acc(c), amount: '5', approve_req: false });
    await sender().runOnce();
    expect(await payout(b!)).toMatchObject({ status: 'pending', amount: '5.000000' });
    await s.db.sql`update t_payout set approve_req = false where id = ${a!}`;
    await sender().runOnce();
    expect(await payout(a!)).toMatchObject({ status: 'pending', amount: '5.000000' });
    expect(await balances(s.client, c)).toEqual(['10', '10']);
  });

  it.each([
    ['by-client', false],
    ['fixed', true],
  ])('a %s payout whose reservation falls before the history it is read from (another payout of the account reserved since) still reuses it, never finishes without it', async (_kind, fixedAmount) => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '100');
    const a = fixedAmount
      ? (await insertFixedPayout(s.db.sql, { external_id: `lost-${c}`, ...acc(c), amount: '100', approve_req: false }))!
      : await byClientPayout(c, '100');
    setFailpoints(['sender.after-reserve'], 'throw');
    try {
      // The round dies after the ledger write, as a killed process would: nothing of it commits.
      await expect(sender().runOnce()).rejects.toThrow(FailpointError);
    } finally {
      setFailpoints([]);
    }
    // A's reservation of 100 is in the ledger, A is still new; B pays the 50 that came after it.
    await s.db.sql`update t_payout set approve_req = true where id = ${a}`;
    await credit(s.client, acc(c), '50');
    const b = await byClientPayout(c, '50');
    await sender().runOnce();
    expect(await payout(b)).toMatchObject({ status: 'pending', amount: '50.000000' });
    // A is read from B's reservation on: its own is not in that history, and the balance is 0.
    await s.db.sql`update t_payout set approve_req = false where id = ${a}`;
    await sender().runOnce();
    expect(await payout(a)).toMatchObject({ status: 'pending', amount: '100.000000' });
    expect(await balances(s.client, c)).toEqual(['0', '150']);
    expect(await messages(a)).toHaveLength(1);
  });

  it('a ledger answer without the history asked for is a failure to retry, not an account without history', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '12', { dry_run: true });
    const id = await byClientPayout(c, '12');
    const url = await faultyAccounts(s.url, () => undefined, (path, body) => {
      if (path !== '/v1/batch/read') return body;
      const { history: _dropped, ...rest } = JSON.parse(body) as Record<string, unknown>;
      return JSON.stringify(rest);
    });
    await sender({ PAYOUT_PROCESS_DRY_RUN: 'off', ...SOON }, { accountsUrl: url }).runOnce();
    expect(await payout(id)).toMatchObject({ status: 'new' });
    expect(await balances(s.client, c)).toEqual(['12', '0']);
    await sender().runOnce();
    expect(await payout(id)).toMatchObject({ status: 'pending', dry_run: true });
  });

  it('an accounts failure at the locking read leaves the payout new and touches nothing', async () => {
    const c = uniqueClient();
    await credit(s.client, acc(c), '5');
    const id = await byClientPayout(c, '5');
    const url = await faultyAccounts(s.url, ({ path, clientId }) => (path === '/v1/batch/read' && clientId === c ? 503 : undefined));
    await sender(SOON, { accountsUrl: url }).runOnce();
    expect(await payout(id)).toMatchObject({ status: 'new' });
    expect(await balances(s.client, c)).toEqual(['5', '0']);
    await sender().runOnce();
    expect(await payout(id)).toMatchObject({ status: 'pending' });
  });

  it('a failed reservation call leaves its whole wave new with every account unlocked; the next round pays them', async () => {
    const [one, two] = [uniqueClient(), uniqueClient()];
    for (const c of [one, two]) await credit(s.client, acc(c), '5');
    const ids = { one: await byClientPayout(one, '5'), two: await byClientPayout(two, '5') };
    // The ledger answers the write call with a 503, after the locks were taken by the read.
    const url = await faultyAccounts(s.url, ({ path }) => (path === '/v1/batches/write' ? 503 : undefined));
    await sender(SOON, { accountsUrl: url }).runOnce();
    expect(await payout(ids.one)).toMatchObject({ status: 'new' });
    expect(await payout(ids.two)).toMatchObject({ status: 'new' });
    // The locks were released: new ones can be taken at once.
    for (const c of [one, two]) {
      const lock = await s.client.lockInit({ ...acc(c), type: 'payout' }, 5);
      await s.client.lockRemove({ ...acc(c), type: 'payout' }, lock.uid);
    }
    await sender().runOnce();
    expect(await payout(ids.one)).toMatchObject({ status: 'pending', amount: '5.000000' });
    expect(await payout(ids.two)).toMatchObject({ status: 'pending', amount: '5.000000' });
  });

  it('an account locked by someone else leaves its payout new while the rest of the wave goes on', async () => {
    const [busy, fine] = [uniqueClient(), uniqueClient()];
    for (const c of [busy, fine]) await credit(s.client, acc(c), '5');
    const ids = { busy: await byClientPayout(busy, '5'), fine: await byClientPayout(fine, '5') };
    const held = await s.client.lockInit({ ...acc(busy), type: 'payout' }, 30);
    await sender().runOnce();
    expect(await payout(ids.busy)).toMatchObject({ status: 'new' });
    expect(await payout(ids.fine)).toMatchObject({ status: 'pending' });
    await s.client.lockRemove({ ...acc(busy), type: 'payout' }, held.uid);
    await sender().runOnce();
    expect(await payout(ids.busy)).toMatchObject({ status: 'pending', amount: '5.000000' });
  });

  it('a database failure while storing one payout leaves it new with nothing stored, the rest going on', async () => {
    const [failing, fine] = [uniqueClient(), uniqueClient()];
    for (const c of [failing, fine]) await credit(s.client, acc(c), '5');
    const ids = { failing: await byClientPayout(failing, '5'), fine: await byClientPayout(fine, '5') };
    // The publish of one payout fails in SQL, after its CPFs and status went out in the same savepoint.
    const publisher: Publisher = {
      publish: (tx, msg) => topics.publish(tx, msg),
      publishMany: (tx, msgs) => (msgs.some((m) => m.key === ids.failing) ? tx`select 1 / 0`.then(() => 0) : topics.publishMany(tx, msgs)),
    };
    await sender({}, { publisher }).runOnce();
    expect(await payout(ids.failing)).toMatchObject({ status: 'new' });
    expect(await messages(ids.failing)).toEqual([]);
    expect(await s.db.sql`select 1 from t_cpf where payout_id = ${ids.failing}`).toHaveLength(0);
    expect(await payout(ids.fine)).toMatchObject({ status: 'pending' });
    expect(await messages(ids.fine)).toHaveLength(1);
    // The next round reuses the reservation the failed round made.
    await sender().runOnce();
    expect(await payout(ids.failing)).toMatchObject({ status: 'pending', amount: '5.000000' });
    expect(await messages(ids.failing)).toHaveLength(1);
  });

  it('three replicas on 2,000 payouts: each reserved once and published once, payout_sent = the sum of the payouts', async () => {
    await s.db.sql`update t_payout set approve_req = true where status = 'new'`;
    const clients = Array.from({ length: 400 }, () => uniqueClient());
    await mapLimit(clients.flatMap((c) => ['1', '2', '3', '4', '5'].map((contract) => acc(c, { contract_id: contract }))), 16, (a) => credit(s.client, a, '1.25'));
    // One request per client: a request has one payout per payout account (its key, migration 006).
    const reqs = await s.db.sql<{ id: string; client_id: string }[]>`
      insert into t_request (external_id, client_id, namespace, status)
      select 'bulk-' || c, c, 'taxi', 'done' from unnest(${clients}::int8[]) as c returning id, client_id`;
    const reqIds = reqs.map((r) => r.id);
    const reqOf = new Map(reqs.map((r) => [r.client_id, r.id]));
    const rows = clients.flatMap((c) => ['1', '2', '3', '4', '5'].map((contract) => ({
      external_id: `bulk-${c}-${contract}`, request_id: reqOf.get(c)!, ...acc(c, { contract_id: contract }), amount: '1.25', cpf_only: false, approve_req: false,
    })));
    await insertRequestPayouts(s.db.sql, rows);
    const replicas = Array.from({ length: 3 }, () => connect(s.db.url, { max: 4 }));
    const drain = async (sql: Sql) => {
      const one = sender({ PAYOUT_SENDER_LIMIT: '50' }, { sql });
      while ((await one.runOnce()).count > 0);
    };
    await Promise.all(replicas.map(drain));
    await Promise.all(replicas.map((r) => r.end()));
    const [summary] = await s.db.sql`
      select count(*) filter (where status = 'pending')::int as pending, count(*)::int as total, sum(amount)::text as sum
      from t_payout where request_id = any(${reqIds}::int8[])`;
    expect(summary).toEqual({ pending: 2000, total: 2000, sum: '2500.000000' });
    const [published] = await s.db.sql`
      select count(*)::int as n, count(distinct msg_id)::int as distinct_ids from topic_message m
      join t_payout p on p.id::text = m.msg_id where p.request_id = any(${reqIds}::int8[])`;
    expect(published).toEqual({ n: 2000, distinct_ids: 2000 });
    const [ledger] = await s.db.sql`
      select count(*)::int as reservations from accounts.batch where external_id like 'payout/%/reserve'
      and external_id = any(select 'payout/' || deployment_id || '/' || id || '/reserve' from t_payout where request_id = any(${reqIds}::int8[]))`;
    expect(ledger).toEqual({ reservations: 2000 });
    for (const c of clients.slice(0, 20)) expect(await balances(s.client, c, { contract_id: '3' })).toEqual(['0', '1.25']);
  }, 180_000);
});
