// On real NATS, ARD and OEBS as the other systems they are: a plain NATS client reads payout's
// new-payout message off the stream and publishes the answers as bare JSON on the topics'
// subjects, with no payout headers and ids as JSON integers (or digit strings). The receiver takes
// topic, key and id from the subject, the payload and the stream, and the payout reaches done.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECEIVER_GROUP } from '../../src/oebs-gate/receiver.ts';
import { durableFor, streamFor, subjectFor } from '../../src/topics/nats-wire.ts';
import { startStandin, type Standin } from '../accounts/support.ts';
import { eventually } from '../gates-support.ts';
import { balances, errorsAbout, harnessOn, payoutRow, pendingPayout, uniqueClient, type Harness } from '../receiver-support.ts';
import { NATS_URL, RUN_ID, deleteRunStreams, natsReachable } from '../topics/harness.ts';

const natsUp = await natsReachable();
if (!natsUp) console.warn(`nats e2e: no nats-server with JetStream at ${NATS_URL}; tests SKIPPED`);

describe.skipIf(!natsUp)('ARD and OEBS answers from a plain NATS client, without payout headers', () => {
  let s: Standin;
  let h: Harness;
  let nc: NatsConnection;
  beforeAll(async () => {
    s = await startStandin();
    h = await harnessOn(s, { PAYOUT_TOPICS: 'nats', PAYOUT_NATS_URL: NATS_URL, PAYOUT_ENV: `${RUN_ID}w` });
    nc = await natsConnect({ servers: NATS_URL });
  });
  afterAll(async () => {
    await h?.topics.close();
    await nc?.close();
    await deleteRunStreams();
  });

  /** Publishes a bare body on the topic's subject, as another system would: no headers, no message id. */
  const publishBare = async (topic: string, body: string) => {
    const ack = await jetstream(nc).publish(subjectFor(topic), body);
    expect(ack.duplicate).toBe(false);
  };
  const receiveUntil = (done: () => Promise<boolean>) => eventually(async () => {
    await h.receiver.runOnce().catch(() => 0);
    return done();
  }, 20_000, 20);

  it('reads the exact new-payout off the stream, answers bare, and the payout is done with its money paid', async () => {
    const client = uniqueClient();
    const id = await pendingPayout(h, client, '100.5');
    await h.topics.relay.runOnce();
    // What OEBS reads: the text on the wire, with the amount as the literal 100.50 and int ids.
    const jsm = await jetstreamManager(nc);
    const onWire = await jsm.streams.getMessage(streamFor(h.t.newPayout), { last_by_subj: subjectFor(h.t.newPayout) });
    expect(onWire!.string()).toMatch(new RegExp(`^\\{"message_id":${id},"message_dt":"[0-9 :-]{19}","message_system":"billingpay",.*"amount":100\\.50,.*"billing_client_id":${client},"namespace":"taxi"\\}$`));

    const dt = '"status_dt":"2025-03-01 10:05:00","status_system":"oebs"';
    await publishBare(h.t.statusArd, `{"status_id":1,${dt},"message_id":${id},"status_type":"NEW","status_info":"","ard_line_id":1,"payment_batch_id":${id},"payment_check_id":${id}}`);
    await receiveUntil(async () => (await payoutRow(h, id)).status === 'confirmed');
    expect(await payoutRow(h, id)).toMatchObject({ oebs_batch_id: id, oebs_check_id: id });
    // OEBS with ids as digit strings and the amount as a string: accepted alike.
    await publishBare(h.t.statusOebs, `{${dt},"status_type":"CREATED","ard_line_id":"1","payment_batch_id":["${id}"],"payment_id":"${id}1","payment_amount":"100.50","payment_purpose":"p","total_batch_count":1}`);
    await publishBare(h.t.statusOebs, `{${dt},"status_type":"RECONCILED","ard_line_id":1,"payment_batch_id":[${id}],"payment_id":${id}1,"payment_amount":100.50,"payment_purpose":"p","total_batch_count":1}`);
    await receiveUntil(async () => (await payoutRow(h, id)).status === 'done');
    expect(await payoutRow(h, id)).toMatchObject({ status: 'done', oebs_payment_id: `${id}1` });
    expect(await balances(h, client)).toEqual({ payout: '0', sent: '0' });
  });

  // A round's acks travel together and only the last one asks for the server's answer: ARD's bare
  // answers for several payouts, handled in one wave, must all be acknowledged, or each would come
  // back after the ack wait.
  it('acknowledges every bare ARD answer of a round, not only the last', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await pendingPayout(h, uniqueClient(), '10'));
    await h.topics.relay.runOnce();
    const dt = '"status_dt":"2025-03-01 10:05:00","status_system":"oebs"';
    for (const [i, id] of ids.entries()) {
      await publishBare(h.t.statusArd, `{"status_id":${i + 1},${dt},"message_id":${id},"status_type":"NEW","status_info":"","ard_line_id":1,"payment_batch_id":${id},"payment_check_id":${id}}`);
    }
    await receiveUntil(async () => (await Promise.all(ids.map((id) => payoutRow(h, id)))).every((p) => p.status === 'confirmed'));
    const info = await (await jetstreamManager(nc)).consumers.info(streamFor(h.t.statusArd), durableFor(RECEIVER_GROUP));
    expect({ ackPending: info.num_ack_pending, pending: info.num_pending, redelivered: info.num_redelivered }).toEqual({ ackPending: 0, pending: 0, redelivered: 0 });
  });

  it('sends a bare message it cannot use to oebs-errors once, with its raw text, and goes on', async () => {
    const body = '{"status_system":"ard","message_id":1,"status_type":"NEW"}';
    await publishBare(h.t.statusArd, body);
    await eventually(async () => {
      await h.receiver.runOnce().catch(() => 0);
      const rows = await s.db.sql`select payload from topic_message where topic = ${h.t.errors} and payload->>'message' = ${body}`;
      return rows.length > 0;
    }, 20_000, 20);
    for (let i = 0; i < 3; i++) await h.receiver.runOnce();
    const rows = await s.db.sql<{ payload: Record<string, unknown> }[]>`select payload from topic_message where topic = ${h.t.errors} and payload->>'message' = ${body}`;
    expect(rows.map((r) => r.payload)).toEqual([expect.objectContaining({ system: 'billing', module: 'ard', source: 'unknown_system', dry_run: false })]);
    expect(String(rows[0]!.payload.source_msg_id)).toMatch(/^nats\/\d+\/\d+$/); // the id the stream gave it
    expect(await errorsAbout(h, { msgId: String(rows[0]!.payload.source_msg_id) })).toHaveLength(1);
  });
});
