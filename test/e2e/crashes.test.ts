// Crashes: each named failpoint kills its process (SIGKILL) once, mid-work; the supervisor
// restarts it; the system must end as if nothing happened — every request done once, every
// payout final, the ledger conserved, nothing published twice.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NATS_URL, natsReachable } from '../topics/harness.ts';
import { checkInvariants, emulatorBehaviour, runScenario, type Scenario } from './scenario.ts';
import { startSystem } from './system.ts';

const scenario: Scenario = { clients: 40, requests: 80 };
const natsUp = await natsReachable();

const points = [
  { point: 'api.after-insert', backend: 'postgres' }, // stored, the reply never sent: the caller retries
  { point: 'req-gate.after-insert-payouts', backend: 'postgres' }, // payouts written, not committed
  { point: 'sender.after-lock', backend: 'postgres' }, // account locked in the ledger, nothing reserved
  { point: 'accounts.batches-write.mid', backend: 'postgres' }, // the ledger dies in the middle of a batch write
  { point: 'sender.after-reserve', backend: 'postgres' }, // a wave's money reserved, its payouts still new
  { point: 'sender.after-commit', backend: natsUp ? 'nats' : 'postgres' }, // pending, message not yet relayed
  { point: 'receiver.before-commit', backend: 'postgres', env: { PAYOUT_RECEIVER_BATCH: '0' } }, // one message decided, its status and ledger events not committed
  { point: 'receiver.before-commit', backend: 'postgres' }, // a round decided (statuses and outbox rows written), not committed
  { point: 'ledger-writer.after-write', backend: 'postgres' }, // the ledger took the outbox's events, the rows are not removed
  ...(natsUp ? [{ point: 'ledger-writer.after-write', backend: 'nats' }] : []),
];

describe('crash at every failpoint, restart, same end state', () => {
  it.each(points as { point: string; backend: string; env?: Record<string, string> }[])('$point ($backend topics)', async ({ point, backend, env }) => {
    const sys = await startSystem({
      PAYOUT_TOPICS: backend, PAYOUT_NATS_URL: NATS_URL, PAYOUT_FAILPOINTS: point, PAYOUT_OEBS_EMULATOR: emulatorBehaviour(scenario), ...env,
    });
    try {
      await runScenario(sys, scenario);
      expect(existsSync(path.join(sys.onceDir, point)), `failpoint ${point} fired`).toBe(true);
      await checkInvariants(sys, scenario);
    } finally {
      await sys.stop();
    }
  }, 300_000);
});
