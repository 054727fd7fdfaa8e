// The tasks component on real parts: the stand-in ledger, the real sender, the api's
// /reconciliation and /metrics. A ledger edited behind payout's back shows within two runs and
// clears after a correction; a silent OEBS leaves payouts stuck in pending; housekeeping deletes
// what is old and nothing that is not; one replica at a time runs a task.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAccountsClient } from '../src/accounts/client.ts';
import { buildApp } from '../src/api/app.ts';
import { createLogger } from '../src/log.ts';
import { senderLedger } from '../src/oebs-gate/ledger.ts';
import { Sender } from '../src/oebs-gate/sender.ts';
import { insertFixedPayout } from '../src/store/payouts.ts';
import { HOUSEKEEPING_BATCH } from '../src/tasks/housekeeping.ts';
import { runTasksOnce, type TaskDeps } from '../src/tasks/main.ts';
import { runIntegrity } from '../src/tasks/integrity.ts';
import { runTask } from '../src/tasks/runner.ts';
import { createTopics } from '../src/topics/index.ts';
import { topicsFor } from '../src/topics/paths.ts';
import { startStandin, type Standin } from './accounts/support.ts';
import { credit } from './gates-support.ts';
import { TOKEN, testConfig } from './support/config.ts';

const config = testConfig();
const log = createLogger('test', 'silent');
let s: Standin;
let app: FastifyInstance;
let sender: Sender;
let deps: TaskDeps;
beforeAll(async () => {
  s = await startStandin();
  app = await buildApp({ config, sql: s.db.sql });
  const accounts = createAccountsClient({ url: s.url, timeoutMs: 10_000 });
  sender = new Sender({
    config, sql: s.db.sql, publisher: await createTopics(config, s.db.sql), log, ledger: senderLedger(accounts),
    newPayoutTopic: (ns, dry) => topicsFor(config, ns, dry).newPayout,
  });
  deps = { config, sql: s.db.sql, accounts, log };
  return () => app.close();
});

let seq = 0;
const account = () => ({ namespace: 'taxi', client_id: String(800_000 + ++seq), contract_id: '7', service_id: '124', currency: 'RUB' });
async function pendingPayout(amount: string) {
  const a = account();
  await credit(s.client, a, '100.00');
  const id = await insertFixedPayout(s.db.sql, { ...a, external_id: `t-${seq}`, amount, approve_req: false });
  await sender.runOnce();
  const [row] = await s.db.sql`select status from t_payout where id = ${id!}`;
  expect(row!.status).toBe('pending');
  return { id: id!, a };
}
const reconciliation = async () => (await app.inject({ method: 'GET', url: '/api/v1/reconciliation', headers: { authorization: `Bearer ${TOKEN}` } })).json();
const metric = async (name: string, appUnderTest = app) => {
  const text = (await appUnderTest.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
};
const sentWrite = (a: ReturnType<typeof account>, type: 'debit' | 'credit', amount: string) =>
  s.client.writeBatch({ event_type: 'manual-fix', external_id: randomUUID(), events: [{ loc: { ...a, type: 'payout_sent' }, type, amount }] });

describe('integrity', () => {
  it('reports a payout_sent edited behind payout\'s back within two runs, and clears it after a credit restores it', async () => {
    const { id, a } = await pendingPayout('40.00');
    await runTasksOnce(deps);
    expect(await reconciliation()).toMatchObject({ ok: true, violations: [] });
    expect(await metric('payout_integrity_violations')).toBe(0);

    await sentWrite(a, 'debit', '10');
    await runTasksOnce(deps);
    await runTasksOnce(deps);
    const report = await reconciliation();
    expect(report.ok).toBe(false);
    expect(new Date(report.checked_at).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(report.violations).toEqual([expect.objectContaining({
      kind: 'payout_sent', namespace: 'taxi', client_id: Number(a.client_id), contract_id: 7, currency: 'RUB',
      payout_ids: [Number(id)], expected: '40.000000', actual: '30.000000',
    })]);
    expect(await metric('payout_integrity_violations')).toBe(1);

    await sentWrite(a, 'credit', '10');
    await runTasksOnce(deps);
    expect(await reconciliation()).toMatchObject({ ok: true, violations: [] });
    expect(await metric('payout_integrity_violations')).toBe(0);
    const [row] = await s.db.sql`select cleared_at from t_violation where kind = 'payout_sent'`;
    expect(row!.cleared_at).not.toBeNull();
  });

  it('does not report a disagreement seen by one run only (a payout between its ledger write and its commit)', async () => {
    const { a } = await pendingPayout('5.00');
    await sentWrite(a, 'debit', '1');
    await runTasksOnce(deps);
    await sentWrite(a, 'credit', '1');
    await runTasksOnce(deps);
    expect(await reconciliation()).toMatchObject({ ok: true, violations: [] });
  });

  it('leaves an account a gate holds locked (its ledger write ahead of its status commit) for a later run', async () => {
    const { id, a } = await pendingPayout('12.00');
    // A gate mid-way: the payout row locked FOR UPDATE, the ledger already moved.
    const gate = await s.db.sql.reserve();
    try {
      await gate`begin`;
      await gate`select id from t_payout where id = ${id} for update`;
      await sentWrite(a, 'debit', '12');
      for (const _ of [1, 2, 3]) {
        const r = await runTask(s.db.sql, { name: 'integrity-probe', lockKey: 7_260_198, run: ({ since }) => runIntegrity(deps, since) });
        expect(r!.deferred).toBeGreaterThanOrEqual(1);
        expect(r!.findings.filter((f) => f.client_id === a.client_id)).toEqual([]);
      }
      expect((await reconciliation()).violations.filter((v: { client_id: number }) => v.client_id === Number(a.client_id))).toEqual([]);
    } finally {
      await gate`rollback`;
      gate.release();
    }
    // Released and still disagreeing: now it is judged, and reported by the second run.
    await runTasksOnce(deps);
    await runTasksOnce(deps);
    expect((await reconciliation()).violations.filter((v: { client_id: number }) => v.client_id === Number(a.client_id)).map((v: { kind: string }) => v.kind)).toEqual(['payout_sent']);
    await sentWrite(a, 'credit', '12');
    await runTasksOnce(deps);
  });

  it('finds money confirmed in the ledger that no done payout explains, and a payout reserved twice', async () => {
    const { id, a } = await pendingPayout('20.00');
    const info = { payout_id: id, deployment_id: 'other', dry_run: false };
    // Two reserve batches of one payout key, and a confirm with no done payout: the ledger holds 20 + 20 - 20 on payout_sent.
    for (const n of [1, 2]) {
      await s.client.writeBatch({ event_type: 'payout-reserve', external_id: randomUUID(), info, events: [{ loc: { ...a, type: 'payout_sent' }, type: 'credit', amount: `${n}0` }] });
    }
    await s.client.writeBatch({ event_type: 'payout-confirm', external_id: randomUUID(), info: { ...info, payment_id: '9' }, events: [{ loc: { ...a, type: 'payout_sent' }, type: 'debit', amount: '30' }] });
    await runTasksOnce(deps);
    await runTasksOnce(deps);
    const kinds = (await reconciliation()).violations.filter((v: { client_id: number }) => v.client_id === Number(a.client_id));
    expect(kinds.map((v: { kind: string; expected: string; actual: string }) => [v.kind, v.expected, v.actual]).sort()).toEqual([
      ['confirmed', '0.000000', '30.000000'],
      ['reserved_twice', '1.000000', '2.000000'],
    ]);
  });

  it('runs a task on one replica at a time', async () => {
    let release!: () => void;
    const holding = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const first = runTask(s.db.sql, { name: 'lock-test', lockKey: 7_260_199, run: async () => { started(); await holding; return 'first'; } });
    await running;
    expect(await runTask(s.db.sql, { name: 'lock-test', lockKey: 7_260_199, run: async () => 'second' })).toBeUndefined();
    release();
    expect(await first).toBe('first');
    expect(await runTask(s.db.sql, { name: 'lock-test', lockKey: 7_260_199, run: async () => 'third' })).toBe('third');
  });
});

describe('stuck payouts', () => {
  it('shows a payout a silent OEBS never answered in payout_stuck{status="pending"}', async () => {
    await pendingPayout('1.00');
    const [{ n }] = await s.db.sql`select count(*)::int as n from t_payout where status = 'pending'` as unknown as [{ n: number }];
    expect(await metric('payout_stuck{status="pending"}')).toBe(0); // default threshold: a day
    const strict = await buildApp({ config: testConfig({ PAYOUT_STUCK_AFTER: 'pending=1ms' }), sql: s.db.sql });
    try {
      expect(await metric('payout_stuck{status="pending"}', strict)).toBe(n);
      expect(await metric('payout_stuck{status="confirmed"}', strict)).toBe(0);
      expect(await metric('payout_oldest_seconds{status="pending"}', strict)).toBeGreaterThan(0);
    } finally {
      await strict.close();
    }
  });
});

describe('housekeeping', () => {
  it('deletes consumed topic messages and finished requests without payouts that are old, and nothing else', async () => {
    const sql = s.db.sql;
    const msg = async (tag: string, age: string) =>
      (await sql`insert into topic_message (topic, key, msg_id, payload, created_at) values ('hk', ${tag}, ${tag}, '{}', now() - ${age}::interval) returning id`)[0]!.id as string;
    const oldConsumed = await Promise.all(Array.from({ length: HOUSEKEEPING_BATCH + 3 }, (_, i) => msg(`old-${i}`, '8 days')));
    const oldUndelivered = await msg('old-undelivered', '8 days');
    await sql`insert into topic_delivery (grp, message_id, topic, key) values ('g', ${oldUndelivered}, 'hk', 'k')`;
    const oldUnrelayed = await msg('old-unrelayed', '8 days');
    await sql`insert into topic_outbox (message_id) values (${oldUnrelayed})`;
    const recent = await msg('recent', '6 days');

    const req = async (tag: string, status: string, age: string) =>
      (await sql`insert into t_request (external_id, client_id, namespace, status, error, updated_at)
                 values (${tag}, 1, 'taxi', ${status}, ${status === 'error' ? 'x' : null}, now() - ${age}::interval) returning id`)[0]!.id as string;
    const oldDone = await req('hk-old-done', 'done', '91 days');
    const oldError = await req('hk-old-error', 'error', '91 days');
    const oldNew = await req('hk-old-new', 'new', '91 days');
    const recentDone = await req('hk-recent-done', 'done', '89 days');
    const withPayout = await req('hk-with-payout', 'done', '91 days');
    await sql`insert into t_payout (external_id, request_id, namespace, client_id, contract_id, service_id, currency, by_client, amount)
              values ('hk', ${withPayout}, 'taxi', 1, 1, 1, 'RUB', true, 0)`;

    await runTasksOnce(deps);
    const left = await sql<{ id: string }[]>`select id from topic_message where topic = 'hk'`;
    expect(left.map((r) => r.id).sort()).toEqual([oldUndelivered, oldUnrelayed, recent].sort());
    expect(oldConsumed).toHaveLength(HOUSEKEEPING_BATCH + 3); // more than one batch, all gone
    const reqs = await sql<{ id: string }[]>`select id from t_request where external_id like 'hk-%'`;
    expect(reqs.map((r) => r.id).sort()).toEqual([oldNew, recentDone, withPayout].sort());
    expect([oldDone, oldError].every((id) => !reqs.some((r) => r.id === id))).toBe(true);
  });
});
