// Reading ARD and OEBS status answers (pure). Whatever does not fit is a `problem` the receiver
// sends to the errors topic: waiting would never make it valid.
import { isAmount } from './money.ts';

export interface ArdAnswer {
  payoutId: string;
  statusType: string;
  statusInfo: string;
  batchId: string;
  checkId: string;
}

export interface OebsAnswer {
  statusType: string;
  /** One payment covers the payouts of one or more ARD batches. */
  batchIds: string[];
  paymentId: string;
  paymentAmount: string;
}

export type Parsed<T> = { ok: true; msg: T } | { ok: false; problem: string };

// Payout ids are bigint identities; anything else cannot name a payout.
const PAYOUT_ID = /^[1-9][0-9]{0,18}$/;
const text = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';
const show = (v: unknown) => JSON.stringify(v) ?? String(v);

export function parseArd(p: Record<string, unknown>): Parsed<ArdAnswer> {
  const { message_id: id, status_type: st, status_info: info, payment_batch_id: batch, payment_check_id: check } = p;
  if (typeof id !== 'string' || !PAYOUT_ID.test(id)) return { ok: false, problem: `message_id ${show(id)} is not a payout id` };
  if (!text(st)) return { ok: false, problem: `bad or missing status_type: ${show(st)}` };
  if (info !== undefined && info !== null && typeof info !== 'string') return { ok: false, problem: `status_info is not a string: ${show(info)}` };
  if (st === 'NEW' && (!text(batch) || !text(check))) {
    return { ok: false, problem: `ARD NEW without payment_batch_id/payment_check_id: ${show(batch)}, ${show(check)}` };
  }
  return {
    ok: true,
    msg: { payoutId: id, statusType: st, statusInfo: info ?? '', batchId: text(batch) ? batch : '', checkId: text(check) ? check : '' },
  };
}

export function parseOebs(p: Record<string, unknown>): Parsed<OebsAnswer> {
  const { status_type: st, payment_batch_id: batches, payment_id: payment, payment_amount: amount } = p;
  if (!text(st)) return { ok: false, problem: `bad or missing status_type: ${show(st)}` };
  if (!Array.isArray(batches) || batches.length === 0 || !batches.every(text)) {
    return { ok: false, problem: `payment_batch_id must be a non-empty list of batch ids: ${show(batches)}` };
  }
  if (!text(payment)) return { ok: false, problem: `bad or missing payment_id: ${show(payment)}` };
  if (typeof amount !== 'string' || !isAmount(amount)) return { ok: false, problem: `bad payment_amount: ${show(amount)} (expected a decimal string)` };
  return { ok: true, msg: { statusType: st, batchIds: [...new Set(batches)], paymentId: payment, paymentAmount: amount } };
}
