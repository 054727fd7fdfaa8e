// Reading ARD and OEBS status answers (pure), in the original system's format (docs/wire-formats.md).
// The body arrives parsed exactly (`parseJsonExact`: numbers are `JsonNumber`s), so an int64 id
// or an amount is read from its literal text, never from a float. Ids may come as JSON integers
// or as digit strings, amounts as numbers or strings; unknown fields are ignored. Whatever does
// not fit is a `problem` the receiver sends to the errors topic: waiting would never make it valid.
import Big from 'big.js';
import { JsonNumber } from './json.ts';
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

/** Why a message went to `oebs-errors` (its `source` field). */
export type ErrorSource =
  | 'unknown_system' // status_system is not "oebs"
  | 'parse_error' // not a status message of this topic's kind
  | 'no_such_payout' // no payout of this topic's namespace and dry-run mode has that id (or batch)
  | 'wrong_payout_status' // the payout cannot take this status now, and never will
  | 'amount_mismatch' // the payouts of a payment make more than the payment
  | 'ledger_refused'; // no longer sent (reports written before the ledger outbox carry it)

export type Parsed<T> = { ok: true; msg: T } | { ok: false; source: 'unknown_system' | 'parse_error'; problem: string };

export const OEBS_SYSTEM = 'oebs';

const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
const INT_TEXT = /^-?[0-9]{1,25}$/;

/** An id as OEBS/ARD send it: a JSON integer or a digit string that fits int64 → its decimal string. */
export function readId(v: unknown): string | undefined {
  const text = v instanceof JsonNumber ? v.text : typeof v === 'string' ? v.trim() : undefined;
  if (text === undefined || !INT_TEXT.test(text)) return undefined;
  const n = BigInt(text);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n.toString();
}

/** An amount as a JSON number or a decimal string, read exactly (exponents too) → a canonical decimal string. */
export function readAmount(v: unknown): string | undefined {
  const text = v instanceof JsonNumber ? v.text : typeof v === 'string' ? v.trim() : undefined;
  if (text === undefined || !/^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]{1,3})?$/.test(text)) return undefined;
  const s = new Big(text).toFixed();
  return isAmount(s) ? s : undefined;
}

const text = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';
const show = (v: unknown) => (v instanceof JsonNumber ? v.text : (JSON.stringify(v) ?? String(v)));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const absent = (v: unknown) => v === undefined || v === null || v === '';
const bad = (problem: string): { ok: false; source: 'parse_error'; problem: string } => ({ ok: false, source: 'parse_error', problem });

function checkEnvelope(p: unknown, kind: string): { ok: false; source: 'unknown_system' | 'parse_error'; problem: string } | undefined {
  if (!isObject(p)) return bad(`an ${kind} status must be a JSON object, got ${p === undefined ? 'no JSON at all' : Array.isArray(p) ? 'an array' : show(p)}`);
  if (p.status_system !== OEBS_SYSTEM) return { ok: false, source: 'unknown_system', problem: `status_system ${show(p.status_system)} is not "${OEBS_SYSTEM}"` };
  if (!text(p.status_type)) return bad(`bad or missing status_type: ${show(p.status_type)}`);
  return undefined;
}

export function parseArd(p: unknown): Parsed<ArdAnswer> {
  const wrong = checkEnvelope(p, 'ARD');
  if (wrong) return wrong;
  const { message_id: id, status_type: st, status_info: info, payment_batch_id: batch, payment_check_id: check } = p as Record<string, unknown>;
  const payoutId = readId(id);
  if (payoutId === undefined) return bad(`message_id ${show(id)} is not an int64 id`);
  if (!absent(info) && typeof info !== 'string') return bad(`status_info is not a string: ${show(info)}`);
  const batchId = readId(batch);
  const checkId = readId(check);
  if (st === 'NEW' && (batchId === undefined || checkId === undefined)) {
    return bad(`ARD NEW needs int64 payment_batch_id and payment_check_id, got ${show(batch)}, ${show(check)}`);
  }
  // Another status may leave them out (a refused payout has no batch), but not send garbage.
  if (!absent(batch) && batchId === undefined) return bad(`payment_batch_id ${show(batch)} is not an int64 id`);
  if (!absent(check) && checkId === undefined) return bad(`payment_check_id ${show(check)} is not an int64 id`);
  return {
    ok: true,
    msg: { payoutId, statusType: st as string, statusInfo: typeof info === 'string' ? info : '', batchId: batchId ?? '', checkId: checkId ?? '' },
  };
}

export function parseOebs(p: unknown): Parsed<OebsAnswer> {
  const wrong = checkEnvelope(p, 'OEBS');
  if (wrong) return wrong;
  const { status_type: st, payment_batch_id: batches, payment_id: payment, payment_amount: amount } = p as Record<string, unknown>;
  const batchIds = Array.isArray(batches) ? batches.map(readId) : [];
  if (!batchIds.length || batchIds.some((b) => b === undefined)) {
    return bad(`payment_batch_id must be a non-empty list of int64 batch ids: ${show(batches)}`);
  }
  const paymentId = readId(payment);
  if (paymentId === undefined) return bad(`payment_id ${show(payment)} is not an int64 id`);
  const paymentAmount = readAmount(amount);
  if (paymentAmount === undefined) return bad(`bad payment_amount: ${show(amount)} (expected a non-negative decimal number or string)`);
  return { ok: true, msg: { statusType: st as string, batchIds: [...new Set(batchIds as string[])], paymentId, paymentAmount } };
}

/** Ordering key of an ARD answer without payout's headers: the payout it is about. */
export const ardKey = (p: unknown): string => (isObject(p) ? readId(p.message_id) : undefined) ?? '';
/**
 * Ordering key of an OEBS answer without payout's headers: the payment it is about and its status.
 * Not the payment alone: a key's later messages wait behind one the receiver defers ("not yet"),
 * and a RECONCILED of payment A redelivered after payment B paid the payout waits for A's RETURNED
 * — which, on the same key, would wait behind it until the receiver's bound. The receiver's
 * decisions do not rest on the order of one payment's statuses (they end the same in any order).
 */
export const oebsKey = (p: unknown): string => {
  const payment = isObject(p) ? readId(p.payment_id) : undefined;
  return payment === undefined ? '' : `${payment}/${isObject(p) && typeof p.status_type === 'string' ? p.status_type : ''}`;
};
