// The oebs-gate process (`payout oebs-gate`) beside the OEBS stand-in process, on this file's
// database and the in-process stand-in ledger: a payout goes from `new` to `done` on its own, and
// a gate killed before a receiver round commits, or after the ledger writer's call (before it
// removed the outbox rows it sent), finishes the job after a restart, moving no money twice.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { insertFixedPayout } from '../src/store/payouts.ts';
import { startStandin, type Standin } from './accounts/support.ts';
import { credit, eventually } from './gates-support.ts';
import { acc, uniqueClient } from './receiver-support.ts';

let s: Standin;
beforeAll(async () => {
  s = await startStandin();
});

const root = path.resolve(import.meta.dirname, '..');
const running: { kill: () => void }[] = [];
afterEach(() => running.splice(0).forEach((p) => p.kill()));

function run(command: string, env: Record<string, string> = {}) {
  const child = spawn(path.join(root, 'bin/payout'), [command], {
    env: {
      ...process.env, PAYOUT_DB_URL: s.db.url, PAYOUT_ACCOUNTS_URL: s.url, PAYOUT_OEBS_GATE_INTERVAL: '100ms',
      PAYOUT_LOG_LEVEL: 'warn', PAYOUT_FAILPOINTS: '',
      PAYOUT_RETRY_BACKOFF_BASE: '100ms', // a transient accounts failure is retried within the tests' waits
      ...env,
    },
    stdio: 'inherit',
  });
  const exited = new Promise<NodeJS.Signals | number | null>((r) => child.once('exit', (code, sig) => r(sig ?? code)));
  running.push({ kill: () => child.exitCode === null && child.kill('SIGKILL') });
  return { child, exited };
}

async function newPayout(amount: string) {
  const c = uniqueClient();
  await credit(s.client, acc(c), amount);
  return (await insertFixedPayout(s.db.sql, { external_id: `g-${c}`, ...acc(c), amount, approve_req: false }))!;
}

const status = async (id: string) => (await s.db.sql`select status from t_payout where id = ${id}`)[0]!.status as string;
const batches = async (id: string) =>
  (await s.db.sql`select event_type from accounts.batch where external_id like ${`payout/%/${id}/%`} order by id`).map((r) => r.event_type as string);

it('a payout reaches done with the gate and the OEBS stand-in running; both stop cleanly', async () => {
  const id = await newPayout('12.34');
  const gate = run('oebs-gate');
  const emulator = run('oebs-emulator');
  await eventually(async () => (await status(id)) === 'done', 60_000);
  // CREATED and RECONCILED are keyed apart (payment and status): the register may land after the
  // payout is done. Each event once, whatever the order.
  await eventually(async () => (await batches(id)).length >= 3, 30_000);
  expect((await batches(id)).sort()).toEqual(['payout-confirm', 'payout-register', 'payout-reserve']);
  gate.child.kill('SIGTERM');
  emulator.child.kill('SIGTERM');
  expect(await gate.exited).toBe(0);
  expect(await emulator.exited).toBe(0);
}, 90_000);

const outbox = async (id: string) => (await s.db.sql`select count(*)::int as n from t_ledger_outbox where payout_id = ${id}`)[0]!.n as number;

it.each([
  ['receiver.before-commit', { PAYOUT_RECEIVER_BATCH: '0' }],
  ['receiver.before-commit', {}],
  ['ledger-writer.after-write', {}],
])('a gate killed at %s (%o), restarted: the payout ends done, each ledger event written once', async (point, env) => {
  const id = await newPayout('5.5');
  const emulator = run('oebs-emulator');
  const killed = run('oebs-gate', { PAYOUT_FAILPOINTS: point, ...env });
  expect(await killed.exited).toBe('SIGKILL');
  const [reserve, ...written] = await batches(id);
  expect(reserve).toBe('payout-reserve');
  if (point === 'receiver.before-commit') {
    // The first round of answers died before its commit: nothing of it committed, nothing sent.
    expect(await status(id)).toBe('pending');
    expect(written).toEqual([]);
    expect(await outbox(id)).toBe(0);
  } else {
    // The ledger took the events (the register, the confirm or both: OEBS's answers are keyed
    // apart); their status changes committed before; the rows are still in the outbox.
    expect(['confirmed', 'done']).toContain(await status(id));
    expect(written.length >= 1 && written.every((b) => ['payout-register', 'payout-confirm'].includes(b)) && new Set(written).size === written.length, `written: ${written}`).toBe(true);
    expect(await outbox(id)).toBeGreaterThanOrEqual(written.length);
  }
  const again = run('oebs-gate', env);
  await eventually(async () => (await status(id)) === 'done' && (await batches(id)).length >= 3 && (await outbox(id)) === 0, 60_000);
  expect((await batches(id)).sort()).toEqual(['payout-confirm', 'payout-register', 'payout-reserve']);
  again.child.kill('SIGTERM');
  emulator.child.kill('SIGTERM');
  expect(await again.exited).toBe(0);
  expect(await emulator.exited).toBe(0);
}, 90_000);
