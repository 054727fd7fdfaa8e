// What the OEBS stand-in answers to one new-payout message (pure: no I/O, no clock, no randomness).
//
// Every id in an answer (batch, check, payment, message id) is derived from the payout id and the
// step, so handling the same new-payout twice (a redelivery after a crash, or the same payout
// published twice) yields exactly the same messages, which the topics then drop as repeats.
// This is a separate system: it reads the message as OEBS would, with its own checks, and does
// not borrow payout's domain rules.
import type { OebsEmulatorBehaviour } from '../../config.ts';
import { JsonNumber } from '../../domain/json.ts';
import type { OutgoingMessage } from '../../topics/types.ts';

/** The fields of a new-payout message the emulator uses (ids and amount as their JSON text). */
export type NewPayout = { message_id: string; message_dt: string; billing_client_id: string; amount: string };

/** ARD's answer (original format): accepted into a batch (`NEW`) or refused (`ERROR`, the reason in status_info). */
export type ArdStatus = {
  status_id: JsonNumber;
  status_dt: string;
  status_system: 'oebs';
  message_id: JsonNumber;
  status_type: 'NEW' | 'ERROR';
  status_info: string;
  ard_line_id: JsonNumber;
  payment_batch_id: JsonNumber | null;
  payment_check_id: JsonNumber | null;
};

/** OEBS's answer about a payment (original format); one payment may cover many batches, hence the list. */
export type OebsStatus = {
  status_dt: string;
  status_system: 'oebs';
  status_type: 'CREATED' | 'RECONCILED' | 'RETURNED';
  ard_line_id: JsonNumber;
  payment_batch_id: JsonNumber[];
  payment_id: JsonNumber;
  payment_amount: JsonNumber;
  payment_purpose: string;
  total_batch_count: JsonNumber;
};

/** Where the answers of one namespace (real or dry-run) go. */
export interface StatusTopics {
  ard: string;
  oebs: string;
}

export const REJECT_REASON = 'rejected by the OEBS emulator';

/** Ids are int64, derived from the payout id: batch and check = the payout id, payments ×10 + 1 (A) or + 2 (B). */
export const emulatorIds = {
  batch: (payoutId: string) => payoutId,
  check: (payoutId: string) => payoutId,
  /** A returned payment is paid again under a new payment: `A` first, then `B`. */
  payment: (payoutId: string, attempt: 'A' | 'B') => (BigInt(payoutId) * 10n + (attempt === 'A' ? 1n : 2n)).toString(),
  /** status_id of ARD's answers: ×10 + 0 (NEW / ERROR). */
  status: (payoutId: string) => (BigInt(payoutId) * 10n).toString(),
};

// What OEBS reads: JSON integers for ids, a JSON number with two decimals for the amount.
const INT = /^[1-9][0-9]{0,17}$/;
const OEBS_AMOUNT = /^(0|[1-9][0-9]{0,17})\.[0-9]{2}$/;
const DT = /^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$/;
const numberText = (v: unknown) => (v instanceof JsonNumber ? v.text : undefined);
const show = (v: unknown) => (v instanceof JsonNumber ? v.text : JSON.stringify(v));

/** Reads a new-payout message as OEBS would; `problem` says why it is not one. */
export function parseNewPayout(payload: unknown): { ok: true; msg: NewPayout } | { ok: false; problem: string } {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return { ok: false, problem: 'not a JSON object' };
  const { message_id: id, message_dt: dt, message_system: system, billing_client_id: client, amount } = payload as Record<string, unknown>;
  if (system !== 'billingpay') return { ok: false, problem: `message_system ${show(system)} is not "billingpay"` };
  const idText = numberText(id);
  if (idText === undefined || !INT.test(idText)) return { ok: false, problem: `message_id must be a JSON integer: ${show(id)}` };
  const clientText = numberText(client);
  if (clientText === undefined || !INT.test(clientText)) return { ok: false, problem: `billing_client_id must be a JSON integer: ${show(client)}` };
  const amountText = numberText(amount);
  if (amountText === undefined || !OEBS_AMOUNT.test(amountText) || !/[1-9]/.test(amountText)) {
    return { ok: false, problem: `bad amount: ${show(amount)} (expected a positive JSON number with two decimals)` };
  }
  if (typeof dt !== 'string' || !DT.test(dt)) return { ok: false, problem: `message_dt must be "YYYY-MM-DD HH:MM:SS": ${show(dt)}` };
  return { ok: true, msg: { message_id: idText, message_dt: dt, billing_client_id: clientText, amount: amountText } };
}

/** The answers, in the order OEBS/ARD would send them. */
export function answersFor(p: NewPayout, behaviour: OebsEmulatorBehaviour, to: StatusTopics): OutgoingMessage[] {
  switch (behaviour) {
    case 'silent':
      return [];
    case 'reject':
      return [ard(p, to, 'ERROR')];
    case 'accept':
      return [ard(p, to, 'NEW'), oebs(p, to, 'CREATED', 'A'), oebs(p, to, 'RECONCILED', 'A')];
    case 'return':
      // Paid, returned by the bank, then paid again under a second payment of the same batch.
      return [
        ard(p, to, 'NEW'),
        oebs(p, to, 'CREATED', 'A'), oebs(p, to, 'RECONCILED', 'A'), oebs(p, to, 'RETURNED', 'A'),
        oebs(p, to, 'CREATED', 'B'), oebs(p, to, 'RECONCILED', 'B'),
      ];
  }
}

/** Keyed by payout id: ARD speaks about one payout. */
function ard(p: NewPayout, to: StatusTopics, status: ArdStatus['status_type']): OutgoingMessage {
  const accepted = status === 'NEW';
  const payload: ArdStatus = {
    status_id: new JsonNumber(emulatorIds.status(p.message_id)),
    // No clock here: the answer is dated by the message it answers, so a repeat is identical.
    status_dt: p.message_dt,
    status_system: 'oebs',
    message_id: new JsonNumber(p.message_id),
    status_type: status,
    status_info: accepted ? '' : REJECT_REASON,
    ard_line_id: new JsonNumber(p.message_id),
    // A refused payout never gets a batch or a check.
    payment_batch_id: accepted ? new JsonNumber(emulatorIds.batch(p.message_id)) : null,
    payment_check_id: accepted ? new JsonNumber(emulatorIds.check(p.message_id)) : null,
  };
  return { topic: to.ard, key: p.message_id, msgId: `${p.message_id}/ard-${status.toLowerCase()}`, payload };
}

/** Keyed by payment id: OEBS speaks about payments (payout's receiver does not rely on their order). */
function oebs(p: NewPayout, to: StatusTopics, status: OebsStatus['status_type'], attempt: 'A' | 'B'): OutgoingMessage {
  const payment = emulatorIds.payment(p.message_id, attempt);
  const payload: OebsStatus = {
    status_dt: p.message_dt,
    status_system: 'oebs',
    status_type: status,
    ard_line_id: new JsonNumber(p.message_id),
    payment_batch_id: [new JsonNumber(emulatorIds.batch(p.message_id))],
    payment_id: new JsonNumber(payment),
    payment_amount: new JsonNumber(p.amount),
    payment_purpose: `Payout ${p.message_id} to client ${p.billing_client_id}`,
    total_batch_count: new JsonNumber('1'),
  };
  // Keyed like the receiver keys OEBS's own messages (see oebsKey): payment and status.
  return { topic: to.oebs, key: `${payment}/${status}`, msgId: `${p.message_id}/oebs-${status.toLowerCase()}-${attempt}`, payload };
}
