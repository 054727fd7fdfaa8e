// What the OEBS stand-in answers to one new-payout message (pure: no I/O, no clock, no randomness).
//
// Every id in an answer (batch, check, payment, message id) is derived from the payout id and the
// step, so handling the same new-payout twice (a redelivery after a crash, or the same payout
// published twice) yields exactly the same messages, which the topics then drop as repeats.
// This is a separate system: it reads the message as OEBS would, with its own checks, and does
// not borrow payout's domain rules.
import type { OebsEmulatorBehaviour } from '../../config.ts';
import type { NewPayoutMessage } from '../../domain/oebs-messages.ts';
import type { OutgoingMessage } from '../../topics/types.ts';

/** The fields of a new-payout message the emulator uses. */
export type NewPayout = Pick<NewPayoutMessage, 'message_id' | 'billing_client_id' | 'amount'>;

/** ARD's answer: accepted into a batch (`NEW`) or refused (`ERROR`, the reason in status_info). */
export type ArdStatus = {
  message_id: string;
  status_type: 'NEW' | 'ERROR';
  status_info: string;
  payment_batch_id: string;
  payment_check_id: string;
};

/** OEBS's answer about a payment; one payment may cover many payouts, hence the batch id list. */
export type OebsStatus = {
  status_type: 'CREATED' | 'RECONCILED' | 'RETURNED';
  payment_batch_id: string[];
  payment_id: string;
  payment_amount: string;
  payment_purpose: string;
};

/** Where the answers of one namespace (real or dry-run) go. */
export interface StatusTopics {
  ard: string;
  oebs: string;
}

export const REJECT_REASON = 'rejected by the OEBS emulator';

export const emulatorIds = {
  batch: (payoutId: string) => `B${payoutId}`,
  check: (payoutId: string) => `C${payoutId}`,
  /** A returned payment is paid again under a new payment: `A` first, then `B`. */
  payment: (payoutId: string, attempt: 'A' | 'B') => `P${payoutId}-${attempt}`,
};

// Ids end up inside message ids and keys, so they keep to a plain alphabet.
const PAYOUT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const CLIENT_ID = /^[1-9][0-9]{0,18}$/;
// What OEBS takes: a positive decimal string, at most 2 decimals (payout sends amount_oebs).
const OEBS_AMOUNT = /^(0|[1-9][0-9]{0,17})(\.[0-9]{1,2})?$/;

/** Reads a new-payout payload; `problem` says why it is not one. */
export function parseNewPayout(payload: Record<string, unknown>): { ok: true; msg: NewPayout } | { ok: false; problem: string } {
  const { message_id: id, billing_client_id: client, amount } = payload;
  if (typeof id !== 'string' || !PAYOUT_ID.test(id)) return { ok: false, problem: `bad or missing message_id: ${JSON.stringify(id)}` };
  if (typeof client !== 'string' || !CLIENT_ID.test(client)) return { ok: false, problem: `bad or missing billing_client_id: ${JSON.stringify(client)}` };
  if (typeof amount !== 'string' || !OEBS_AMOUNT.test(amount) || !/[1-9]/.test(amount)) {
    return { ok: false, problem: `bad amount: ${JSON.stringify(amount)} (expected a positive decimal string with at most 2 decimals)` };
  }
  return { ok: true, msg: { message_id: id, billing_client_id: client, amount } };
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
    message_id: p.message_id,
    status_type: status,
    status_info: accepted ? '' : REJECT_REASON,
    // A refused payout never gets a batch or a check.
    payment_batch_id: accepted ? emulatorIds.batch(p.message_id) : '',
    payment_check_id: accepted ? emulatorIds.check(p.message_id) : '',
  };
  return { topic: to.ard, key: p.message_id, msgId: `${p.message_id}/ard-${status.toLowerCase()}`, payload };
}

/** Keyed by batch id: OEBS speaks about payments of a batch, and their order matters. */
function oebs(p: NewPayout, to: StatusTopics, status: OebsStatus['status_type'], attempt: 'A' | 'B'): OutgoingMessage {
  const batch = emulatorIds.batch(p.message_id);
  const payload: OebsStatus = {
    status_type: status,
    payment_batch_id: [batch],
    payment_id: emulatorIds.payment(p.message_id, attempt),
    payment_amount: p.amount,
    payment_purpose: `Payout ${p.message_id} to client ${p.billing_client_id}`,
  };
  return { topic: to.oebs, key: batch, msgId: `${p.message_id}/oebs-${status.toLowerCase()}-${attempt}`, payload };
}
