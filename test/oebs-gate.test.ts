// The oebs-gate process (`payout oebs-gate`) beside the OEBS stand-in process, on this file's
// database and the in-process stand-in ledger: a payout goes from `new` to `done` on its own, and
// a gate killed right after a ledger write finishes the job after a restart, moving no money twice.
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

it.each([
  ['receiver.after-ledger', { PAYOUT_RECEIVER_BATCH: '0' }],
  ['receiver.batch-after-ledger', {}],
])('a gate killed after a ledger write (%s), restarted: the payout ends done, each ledger event written once', async (point, env) => {
  const id = await newPayout('5.5');
  const emulator = run('oebs-emulator');
  const killed = run('oebs-gate', { PAYOUT_FAILPOINTS: point, ...env });
  expect(await killed.exited).toBe('SIGKILL');
  // OEBS's answers' ledger events are in the ledger, their status changes are not: the register
  // (CREATED), the confirm (RECONCILED) or both — they are keyed apart and handled concurrently,
  // and their events share one ledger call, so both may have landed before the process died.
  // In a batch, the ARD NEW may be in the same round as OEBS's answers (applied first, in its
  // order): then its confirmation rolled back with them and the payout is still pending.
  expect(point === 'receiver.after-ledger' ? ['confirmed'] : ['pending', 'confirmed']).toContain(await status(id));
  const [reserve, ...written] = await batches(id);
  expect(reserve).toBe('payout-reserve');
  expect(written.length >= 1 && written.every((b) => ['payout-register', 'payout-confirm'].includes(b)) && new Set(written).size === written.length, `written: ${written}`).toBe(true);
  const again = run('oebs-gate', env);
  await eventually(async () => (await status(id)) === 'done' && (await batches(id)).length >= 3, 60_000);
  expect((await batches(id)).sort()).toEqual(['payout-confirm', 'payout-register', 'payout-reserve']);
  again.child.kill('SIGTERM');
  emulator.child.kill('SIGTERM');
  expect(await again.exited).toBe(0);
  expect(await emulator.exited).toBe(0);
}, 90_000);
