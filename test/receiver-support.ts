// Shared setup of the receiver tests: the stand-in ledger in-process, payouts made `pending` by
// the real sender (so the ledger holds real reservations), a receiver whose handler the tests
// call directly, the ARD/OEBS messages as the OEBS stand-in writes them, and ledger views.
import type { Registry } from 'prom-client';
import { createAccountsClient } from '../src/accounts/client.ts';
import type { Config } from '../src/config.ts';
import { canon, cmp, sub } from '../src/domain/money.ts';
import { createLogger } from '../src/log.ts';
import { senderLedger } from '../src/oebs-gate/ledger.ts';
import { LedgerWriter } from '../src/oebs-gate/ledger-writer.ts';
import { Receiver } from '../src/oebs-gate/receiver.ts';
import { Sender } from '../src/oebs-gate/sender.ts';
import { insertFixedPayout, insertRequestPayouts } from '../src/store/payouts.ts';
import { createTopics, noticesTopic, topicsFor } from '../src/topics/index.ts';
import { JsonNumber } from '../src/domain/json.ts';
import { decodeBody, encodePayload } from '../src/topics/codec.ts';
import type { DeliveredMessage, Payload, Topics } from '../src/topics/types.ts';
import { startStandin, type Standin } from './accounts/support.ts';
import { credit } from './gates-support.ts';
import { testConfig } from './support/config.ts';

export const log = createLogger('test', 'silent');

export interface Harness {
  s: Standin;
  config: Readonly<Config>;
  topics: Topics;
  sender: Sender;
  receiver: Receiver;
  /** The ledger writer the receiver wakes after each commit (as oebs-gate runs it, but awaited). */
  writer: LedgerWriter;
  t: ReturnType<typeof topicsFor>;
}

export async function startHarness(env: Record<string, string> = {}, opts: { now?: () => Date; accountsUrl?: string } = {}): Promise<Harness> {
  const s = await startStandin();
  return harnessOn(s, env, opts);
}

/** A sender and a receiver on the stand-in `s`, with their own configuration. */
export async function harnessOn(
  s: Standin, env: Record<string, string> = {}, opts: { now?: () => Date; accountsUrl?: string; registry?: Registry; batch?: boolean } = {},
): Promise<Harness> {
  const config = testConfig({ PAYOUT_SENDER_LIMIT: '100', ...env });
  const topics = await createTopics(config, s.db.sql);
  const sender = new Sender({
    config, sql: s.db.sql, ledger: senderLedger(s.client), publisher: topics,
    newPayoutTopic: (ns, dry) => topicsFor(config, ns, dry).newPayout, log,
  });
  const client = opts.accountsUrl ? createAccountsClient({ url: opts.accountsUrl, timeoutMs: 10_000 }) : s.client;
  // As oebs-gate runs it: a round through the topics is one batch (handleBatch); `handle` is one
  // message; each commit that stored ledger events has the writer send them before it returns.
  const writer = new LedgerWriter({ sql: s.db.sql, client, log });
  const receiver = await Receiver.create({
    config, sql: s.db.sql, topics, log, now: opts.now, registry: opts.registry, retry: { baseMs: 1, maxMs: 5 },
    onCommitted: () => writer.drain(), batches: opts.batch !== false,
  });
  return { s, config, topics, sender, receiver, writer, t: topicsFor(config, 'taxi', false) };
}

let seq = 0;
export const uniqueClient = () => String(300_000 + process.pid * 10 + ++seq * 1000);
export const acc = (client: string) => ({ namespace: 'taxi', client_id: client, contract_id: '7', service_id: '124', currency: 'RUB' });

/** Credits the client, makes a fixed payout of `amount` and lets the real sender reserve it. */
export async function pendingPayout(h: Harness, client: string, amount: string, cpf = false, dryRun = false): Promise<string> {
  const info: Record<string, unknown> = cpf ? { cpf: [{ external_id: `R-${client}`, amount, operation_type: 'INSERT_NETTING' }] } : {};
  if (dryRun) info.dry_run = true;
  await credit(h.s.client, acc(client), amount, info);
  const id = await insertFixedPayout(h.s.db.sql, { external_id: `f-${client}-${++seq}`, ...acc(client), amount, approve_req: false });
  await h.sender.runOnce();
  const [row] = await h.s.db.sql`select status from t_payout where id = ${id!}`;
  if (row!.status !== 'pending') throw new Error(`payout ${id} is ${row!.status}, expected pending`);
  return id!;
}

/**
 * Credits the client `credited` (any of 6 decimals), makes a by-client payout as req-gate does and
 * lets the real sender reserve it: what it reserved (whole kopecks) is the payout's amount.
 */
export async function pendingByClientPayout(h: Harness, client: string, credited: string): Promise<{ id: string; amount: string }> {
  await credit(h.s.client, acc(client), credited);
  const [req] = await h.s.db.sql`insert into t_request (external_id, client_id, namespace, status) values (${`bc-${client}-${++seq}`}, ${client}, 'taxi', 'done') returning id`;
  await insertRequestPayouts(h.s.db.sql, [{ external_id: `bc-${seq}`, request_id: req!.id, ...acc(client), amount: credited, cpf_only: false, approve_req: false }]);
  await h.sender.runOnce();
  const [row] = await h.s.db.sql<{ id: string; status: string; amount: string; amount_oebs: string }[]>`
    select id, status, amount::text, amount_oebs::text from t_payout where request_id = ${req!.id}`;
  if (row!.status !== 'pending') throw new Error(`payout ${row!.id} is ${row!.status}, expected pending`);
  if (cmp(row!.amount, row!.amount_oebs) !== 0) throw new Error(`payout ${row!.id}: amount ${row!.amount} differs from amount_oebs ${row!.amount_oebs}`);
  return { id: row!.id, amount: canon(row!.amount) };
}

let msgSeq = 0;
const J = (v: string) => new JsonNumber(v);
/** Digit strings become JSON integers (as ARD/OEBS send them); anything else is sent as it is. */
const id = (v: unknown) => (typeof v === 'string' && /^-?[0-9]+$/.test(v) ? J(v) : v);
const dt = () => new Date().toISOString().slice(0, 19).replace('T', ' ');

/** A message as the topics deliver it: the payload written to text and read back exactly. */
export function inbound(topic: string, key: string, msgId: string, payload: Payload, publishedAt?: Date): DeliveredMessage {
  return { topic, key, msgId, ...decodeBody(encodePayload(payload)), publishedAt };
}

/** Another batch id for payout `payoutId` (the default batch is the payout id itself). */
export const otherBatch = (payoutId: string, n: number) => String(BigInt(payoutId) + BigInt(n) * 1_000_000_000n);

/** ARD's answer about one payout, in the original format (batch and check = the payout id unless `over`). */
export const ard = (h: Harness, payoutId: string, status: string, over: Record<string, unknown> = {}): DeliveredMessage =>
  inbound(h.t.statusArd, payoutId, `ard-${payoutId}-${status}-${++msgSeq}`, {
    status_id: J(String(++msgSeq)), status_dt: dt(), status_system: 'oebs', message_id: id(payoutId), status_type: status,
    status_info: status === 'NEW' ? '' : 'no such account', ard_line_id: id(payoutId),
    payment_batch_id: id(payoutId), payment_check_id: id(payoutId), ...over,
  }, new Date());

/** OEBS's answer about a payment covering `batches`, in the original format, keyed by the payment. */
export const oebs = (h: Harness, batches: string[], status: string, paymentId: string, amount: string, over: { publishedAt?: Date | undefined } = {}): DeliveredMessage =>
  inbound(h.t.statusOebs, paymentId, `oebs-${paymentId}-${status}-${++msgSeq}`, {
    status_dt: dt(), status_system: 'oebs', status_type: status, ard_line_id: id(batches[0]), payment_batch_id: batches.map(id),
    payment_id: id(paymentId), payment_amount: /^[0-9.]+$/.test(amount) ? J(amount) : amount, payment_purpose: 'test',
    total_batch_count: J(String(batches.length)),
  }, 'publishedAt' in over ? over.publishedAt : new Date());

export async function payoutRow(h: Harness, id: string) {
  const [row] = await h.s.db.sql<{ status: string; error: string | null; oebs_batch_id: string | null; oebs_check_id: string | null; oebs_payment_id: string | null; oebs_status: string | null }[]>`
    select status, error, oebs_batch_id, oebs_check_id, oebs_payment_id, oebs_status from t_payout where id = ${id}`;
  return row!;
}

/** Balances (credit − debit) of the client's `payout` and `payout_sent` accounts. */
export async function balances(h: Harness, client: string): Promise<{ payout: string; sent: string }> {
  const res = await h.s.client.read({ balances: [{ loc: { ...acc(client), type: 'payout' } }, { loc: { ...acc(client), type: 'payout_sent' } }] });
  const [payout, sent] = res.balances.map((b) => sub(b.credit, b.debit));
  return { payout: payout!, sent: sent! };
}

/** The event types of the payout's own ledger batches, in the order written. */
export async function ledgerBatches(h: Harness, id: string): Promise<string[]> {
  const rows = await h.s.db.sql<{ event_type: string }[]>`
    select event_type from accounts.batch where external_id like ${`payout/%/${id}/%`} order by id`;
  return rows.map((r) => r.event_type);
}

/** What the receiver wrote to oebs-errors and to the notices topic (of taxi) about a source message or a payout. */
export async function errorsAbout(h: Harness, what: { msgId?: string; payoutId?: string }) {
  const rows = await h.s.db.sql<{ payload: Record<string, unknown> }[]>`
    select payload from topic_message where topic in (${h.t.errors}, ${noticesTopic(h.config, 'taxi', false)})
      and (${what.msgId ?? null}::text is null or payload->>'source_msg_id' = ${what.msgId ?? null})
      and (${what.payoutId ?? null}::text is null or payload->>'payout_id' = ${what.payoutId ?? null})
    order by id`;
  return rows.map((r) => r.payload);
}

/** Everything the receiver published about a source message, on whichever topic (errors or notices, real or -dry). */
export async function reportsOf(h: Harness, msgId: string): Promise<{ topic: string; payload: Record<string, unknown> }[]> {
  return h.s.db.sql<{ topic: string; payload: Record<string, unknown> }[]>`
    select topic, payload from topic_message where payload->>'source_msg_id' = ${msgId} order by id`;
}

export async function history(h: Harness, id: string): Promise<string[]> {
  const rows = await h.s.db.sql<{ status: string }[]>`select status from t_payout_history where payout_id = ${id} order by id`;
  return rows.map((r) => r.status);
}
