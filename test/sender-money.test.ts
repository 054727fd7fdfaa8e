// The sender on real input, through the real stand-in ledger: amounts with 6 decimals pay whole
// kopecks (reserved = published = amount_oebs), the history behind a payout is read from the
// previous reservation on, and ledger keys are scoped by the deployment, so a second database
// against the same ledger never takes the first one's reservations.
import { beforeAll, describe, expect, it } from 'vitest';
import { add, sub } from '../src/domain/money.ts';
import { createLogger } from '../src/log.ts';
import { senderLedger } from '../src/oebs-gate/ledger.ts';
import { Sender } from '../src/oebs-gate/sender.ts';
import { getDeploymentId } from '../src/store/deployment.ts';
import { insertFixedPayout, insertRequestPayouts } from '../src/store/payouts.ts';
import { createTopics } from '../src/topics/index.ts';
import { topicsFor } from '../src/topics/paths.ts';
import type { Sql } from '../src/db/connect.ts';
import { startStandin, type Standin } from './accounts/support.ts';
import { credit } from './gates-support.ts';
import { testConfig } from './support/config.ts';
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
