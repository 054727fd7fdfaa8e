// The whole system on a three-node JetStream cluster (its own nats-server processes, routed to each
// other, on free ports) with streams of three replicas. A third of the way into 1,000 requests for
// 300 clients, the node leading the new-payout stream is killed with SIGKILL; it comes back on the
// same store once the stream has taken messages without it. Then: every request done, every
// payout final, the ledger conserved per client; every message payout stored is in its stream
// exactly once (nothing lost, nothing doubled) and consumed to the end; no payment confirmed
// twice; every stream still has three replicas and the restarted node has caught up.
import { randomBytes } from 'node:crypto';
import { jetstreamManager, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { streamFor } from '../../src/topics/nats-wire.ts';
import { topicsFor } from '../../src/topics/paths.ts';
import { eventually } from '../gates-support.ts';
import { testConfig } from '../support/config.ts';
import { natsServerInstalled, startNatsCluster, type NatsCluster } from '../support/nats-server.ts';
import { checkInvariants, emulatorBehaviour, runScenario, type Scenario } from './scenario.ts';
import { startSystem, type System } from './system.ts';

const scenario: Scenario = { clients: 300, requests: 1000 };
if (!natsServerInstalled) console.warn('nats cluster: no /usr/sbin/nats-server; the three-node cluster test is SKIPPED');

/** Stream info, or undefined while the stream has no leader to answer (an election under way). */
const infoOf = (jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> =>
  jsm.streams.info(name).catch(() => undefined);

async function streamsOf(jsm: JetStreamManager, env: string): Promise<string[]> {
  const names: string[] = [];
  for await (const name of jsm.streams.names()) if (name.startsWith(`billing-payout_${env}`)) names.push(name);
  return names.sort();
}

/** `node` is the stream's leader, or a replica that is current with nothing left to catch up. */
const caughtUp = (info: StreamInfo, node: string) =>
  info.cluster?.leader === node || info.cluster?.replicas?.some((r) => r.name === node && r.current && !r.lag) === true;

describe.skipIf(!natsServerInstalled)('the whole system on a three-node JetStream cluster', () => {
  let cluster: NatsCluster | undefined;
  let sys: System | undefined;
  let nc: NatsConnection | undefined;
  afterAll(async () => {
    await sys?.stop();
    await nc?.close().catch(() => {});
    await cluster?.stop();
  });

  it('loses nothing and applies nothing twice when a node is SIGKILLed mid-run, and the node catches up when it returns', async () => {
    cluster = await startNatsCluster(3);
    const env = `cl${randomBytes(3).toString('hex')}`;
    const newPayoutStream = streamFor(topicsFor(testConfig({ PAYOUT_ENV: env }), 'taxi', false).newPayout);
    sys = await startSystem({
      PAYOUT_TOPICS: 'nats', PAYOUT_NATS_URL: cluster.urls.join(','), PAYOUT_NATS_REPLICAS: '3',
      PAYOUT_ENV: env, PAYOUT_OEBS_EMULATOR: emulatorBehaviour(scenario),
    });
    nc = await natsConnect({ servers: cluster.urls, maxReconnectAttempts: -1 });
    const jsm = await jetstreamManager(nc, { timeout: 2000 });

    // The kill, once a third of the requests are in: the new-payout stream's leader (the stream
    // every payout goes through) dies mid-write. It is restarted once that stream has taken 50
    // more messages without it, so that it has something to catch up on.
    let victim = -1;
    let restarted: Promise<void> | undefined;
    let posted = 0;
    const outage = { seqAtKill: 0, seqAtRestart: 0 };
    const killLeader = async () => {
      const before = await infoOf(jsm, newPayoutStream);
      expect(before?.cluster?.leader, 'the new-payout stream exists and has a leader a third of the way in').toBeTruthy();
      victim = cluster!.names.indexOf(before!.cluster!.leader!);
      outage.seqAtKill = before!.state.last_seq;
      await cluster!.kill(victim);
      await eventually(async () => ((await infoOf(jsm, newPayoutStream))?.state.last_seq ?? 0) >= outage.seqAtKill + 50, 90_000, 200);
      outage.seqAtRestart = (await infoOf(jsm, newPayoutStream))!.state.last_seq;
      cluster!.restart(victim);
    };
    const watched: System = {
      ...sys,
      post: async (pathname, body) => {
        const reply = await sys!.post(pathname, body);
        if (pathname === '/api/v1/payout-by-client' && ++posted === Math.ceil(scenario.requests / 3)) (restarted = killLeader()).catch(() => {}); // awaited below
        return reply;
      },
    };

    await runScenario(watched, scenario, 180_000);
    expect(restarted, 'the node was killed').toBeDefined();
    await restarted;
    expect(outage.seqAtRestart - outage.seqAtKill).toBeGreaterThanOrEqual(50);

    // The whole scenario's invariants: requests done once, payouts final, ledger conserved per
    // client, each new-payout message published once.
    await checkInvariants(sys, scenario);

    // No payment confirmed twice, and each done payout paid exactly once in the end (a returned
    // one is paid again under a new payment, after its cancel), a rejected one never.
    const doubled = await sys.db.sql`
      select info->>'payout_id' as payout, info->>'payment_id' as payment, count(*)::int as n from accounts.batch
      where event_type = 'payout-confirm' group by 1, 2 having count(*) > 1`;
    expect(doubled).toEqual([]);
    const misPaid = await sys.db.sql`
      select p.id::text, p.status, count(*) filter (where b.event_type = 'payout-confirm')::int as confirms,
             count(*) filter (where b.event_type = 'payout-cancel-payout')::int as cancels
      from t_payout p left join accounts.batch b on b.info->>'payout_id' = p.id::text
      where p.amount > 0 group by 1, 2
      having count(*) filter (where b.event_type = 'payout-confirm') - count(*) filter (where b.event_type = 'payout-cancel-payout')
             <> case when p.status = 'done' then 1 else 0 end`;
    expect(misPaid).toEqual([]);

    // The restarted node catches up on every stream; then every stream has three replicas, all
    // current, and holds each message payout stored for its topic exactly once.
    const streams = await streamsOf(jsm, env);
    expect(streams).toContain(newPayoutStream);
    const victimName = cluster.names[victim]!;
    await eventually(async () => {
      for (const name of streams) {
        const info = await infoOf(jsm, name);
        if (!info || !caughtUp(info, victimName)) return false;
      }
      return true;
    }, 60_000, 250);
    // The relay empties the outbox: messages published late (reports, notices) may wait out its
    // backoff, which grew while publishes failed around the kill and the return (up to 30 s).
    let waiting: { topic: string; n: number }[] = [];
    const { db } = sys;
    await eventually(async () => {
      waiting = await db.sql<{ topic: string; n: number }[]>`
        select m.topic, count(*)::int as n from topic_outbox o join topic_message m on m.id = o.message_id group by 1`;
      return waiting.length === 0;
    }, 90_000, 250).catch(() => undefined);
    expect(waiting, 'outbox rows the relay never moved').toEqual([]);
    const stored = await sys.db.sql<{ topic: string; n: number }[]>`select topic, count(*)::int as n from topic_message group by topic`;
    const storedIn = new Map(stored.map((r) => [streamFor(r.topic), r.n]));
    for (const name of streams) {
      const info = (await infoOf(jsm, name))!;
      expect({ name, replicas: info.config.num_replicas }).toEqual({ name, replicas: 3 });
      expect({ name, nodes: [info.cluster!.leader, ...info.cluster!.replicas!.map((r) => r.name)].sort() }).toEqual({ name, nodes: [...cluster.names].sort() });
      expect({ name, current: info.cluster!.replicas!.every((r) => r.current) }).toEqual({ name, current: true });
      expect({ name, messages: info.state.messages }).toEqual({ name, messages: storedIn.get(name) ?? 0 });
    }
    expect(storedIn.get(newPayoutStream)).toBeGreaterThan(0);

    // Every message reached its consumers and was acknowledged: none undelivered, none waiting.
    // (OEBS answers are keyed by payment and status, so a RECONCILED redelivered after the payout
    // was paid again, which waits for its payment's RETURNED, never holds that RETURNED back.)
    const open = async () => {
      const left: string[] = [];
      for (const name of streams) {
        for await (const c of jsm.consumers.list(name)) {
          if (c.num_pending > 0 || c.num_ack_pending > 0) left.push(`${name}/${c.name}: ${c.num_pending} pending, ${c.num_ack_pending} unacknowledged`);
        }
      }
      return left;
    };
    await eventually(async () => (await open()).length === 0, 60_000, 500).catch(() => {});
    expect(await open()).toEqual([]);
  }, 300_000);
});
