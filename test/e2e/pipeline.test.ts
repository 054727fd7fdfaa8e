// End to end, as separate OS processes, on both topic backends: 1,000 requests for 300 clients.
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { describe, it } from 'vitest';
import { NATS_URL, natsReachable } from '../topics/harness.ts';
import { checkInvariants, emulatorBehaviour, runScenario, type Scenario } from './scenario.ts';
import { startSystem } from './system.ts';

const scenario: Scenario = { clients: 300, requests: 1000 };
const natsUp = await natsReachable();
if (!natsUp) console.warn(`NATS not reachable at ${NATS_URL}: the NATS end-to-end test is skipped`);

async function deleteStreams(env: string) {
  const nc = await natsConnect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  for await (const name of jsm.streams.names()) if (name.startsWith(`billing-payout_${env}`)) await jsm.streams.delete(name);
  await nc.close();
}

describe.each([
  { backend: 'postgres', skip: false, runs: 1 },
  // Twice in a row against one nats-server, same topics, a fresh database each time (a staging
  // reset, a restore): payout ids restart at 1, and the second run must not lose a single message
  // to JetStream's duplicate window.
  { backend: 'nats', skip: !natsUp, runs: 2 },
])('the whole system on the $backend topics', ({ backend, skip, runs }) => {
  it.skipIf(skip)(`takes every request to done, every payout to its final state, and conserves the ledger (${runs} fresh database(s) in a row)`, async () => {
    const env = `e2e${randomBytes(3).toString('hex')}`;
    try {
      for (let run = 1; run <= runs; run++) {
        const sys = await startSystem({ PAYOUT_TOPICS: backend, PAYOUT_NATS_URL: NATS_URL, PAYOUT_ENV: env, PAYOUT_OEBS_EMULATOR: emulatorBehaviour(scenario) });
        try {
          await runScenario(sys, scenario);
          await checkInvariants(sys, scenario);
        } finally {
          await sys.stop();
        }
      }
    } finally {
      if (backend === 'nats') await deleteStreams(env);
    }
  }, 400_000 * runs);
});
