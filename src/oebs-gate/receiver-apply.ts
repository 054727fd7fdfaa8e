// What the receiver does with one parsed answer, inside one transaction that holds the row locks
// of the payouts it touches (receiver-rows.ts: so the ARD and OEBS topics, handled in parallel,
// take turns on a payout). Order per payout: decide (pure) → ledger event (taken for the ledger
// outbox, stored before the commit) → guarded status change (in memory, written by the rows'
// flush before the commit) → notice (outbox). The decision and its ledger event commit together;
// the ledger writer sends the event after the commit (ledger-writer.ts).
import type { Tx } from '../db/connect.ts';
import { canon, cmp, sum } from '../domain/money.ts';
import { decideArd, decideOebs, type ReceiverAction } from '../domain/status-machine.ts';
import type { ArdAnswer, ErrorSource, OebsAnswer } from '../domain/status-messages.ts';
import { listCpfs } from '../store/cpf.ts';
import type { PayoutStatus, ReceiverPayout } from '../store/payouts.ts';
import type { LedgerPayout, ReceiverLedger } from './ports.ts';
import type { ReceiverRows } from './receiver-rows.ts';

/** The message can never be applied: to the errors topic (with why: `source`), acknowledged. */
export class Unappliable extends Error {
  constructor(readonly source: ErrorSource, message: string) {
    super(message);
  }
}
/**
 * Not yet (OEBS before ARD NEW): redelivered later, until the receiver's bound. `sentAt`: when
 * the payouts it waits for were sent (the latest `reserve_dt` of those known), when the wait is
 * for a late ARD answer about payouts payout can name; the bound then counts from it.
 */
export class NotYet extends Error {
  constructor(message: string, readonly sentAt?: Date) {
    super(message);
  }
}

/** The latest sending time of these payouts (they went `pending` together with their new-payout message). */
const latestSent = (ps: readonly ReceiverPayout[]): Date | undefined =>
  ps.reduce<Date | undefined>((max, p) => (p.reserve_dt && (!max || p.reserve_dt > max) ? p.reserve_dt : max), undefined);

/** Where a status topic's messages belong: its namespaces (sharing a topic base) and dry-run twin. */
export interface Route {
  kind: 'ard' | 'oebs';
  namespaces: string[];
  dryRun: boolean;
  errors: string;
}

export interface ApplyContext {
  ledger: ReceiverLedger;
  /** The payouts the transaction locked: read and changed here, written back by its flush. */
  rows: ReceiverRows;
  /** A business notice about a payout (ARD refusal, OEBS return) to its namespace's notices topic, in `tx` (outbox). */
  notice(tx: Tx, p: ReceiverPayout, reason: string): Promise<void>;
  /** A status change that will commit with the transaction (for metrics after the commit). */
  changed(from: PayoutStatus, to: PayoutStatus): void;
}

const ledgerPayout = (p: ReceiverPayout): LedgerPayout => ({
  id: p.id, deploymentId: p.deployment_id, amount: p.amount, dryRun: p.dry_run === true,
  account: { namespace: p.namespace, client_id: p.client_id, contract_id: p.contract_id, service_id: p.service_id, currency: p.currency },
});

/** A guard that did not match under the row lock means the decision and the SQL disagree: retry, loudly. */
function guarded(ok: boolean, what: string) {
  if (!ok) throw new Error(`receiver: the guarded update "${what}" changed nothing`);
}

function checkRoute(p: ReceiverPayout, route: Route) {
  if (!route.namespaces.includes(p.namespace) || (p.dry_run === true) !== route.dryRun) {
    throw new Unappliable('no_such_payout', `payout ${p.id} (${p.namespace}${p.dry_run ? ', dry run' : ''}) does not belong to this topic`);
  }
}

export async function applyArd(tx: Tx, ctx: ApplyContext, route: Route, a: ArdAnswer): Promise<ReceiverAction['kind']> {
  const p = ctx.rows.payout(a.payoutId);
  if (!p) throw new Unappliable('no_such_payout', `unknown payout ${a.payoutId}`);
  checkRoute(p, route);
  const action = decideArd(p.status, a.statusType);
  switch (action.kind) {
    case 'confirm':
      guarded(ctx.rows.confirm(p.id, { batchId: a.batchId, checkId: a.checkId, oebsStatus: a.statusType }), 'confirm');
      ctx.rows.markCpfsDone(p.id);
      ctx.changed(p.status, 'confirmed');
      break;
    case 'reject': {
      const error = a.statusInfo.trim() || `ARD ${a.statusType}`;
      // The money goes back with the CPFs it was reserved with: the next payout pays them.
      const cpfs = (await listCpfs(tx, p.id)).map((c) => ({ external_id: c.external_id, amount: canon(c.amount), operation_type: c.operation_type }));
      await ctx.ledger.cancelReserve(ledgerPayout(p), cpfs);
      guarded(ctx.rows.rejectByArd(p.id, error, a.statusType), 'reject');
      await ctx.notice(tx, p, `payout rejected by ARD (${a.statusType}): ${error}; the reservation is cancelled`);
      ctx.changed(p.status, 'rejected');
      break;
    }
    case 'record':
      ctx.rows.recordStatus(p.id, a.statusType);
      break;
    case 'impossible':
      throw new Unappliable('wrong_payout_status', action.reason);
    default:
      break; // skip; ARD never asks to wait
  }
  return action.kind;
}

/**
 * OEBS addresses payouts by their ARD batches. All of the payment's payouts must be known before
 * anything moves: a batch no payout has yet, or payouts that add up to less than the payment,
 * mean an ARD NEW still on its way (not yet); more than the payment can never become right.
 */
export async function applyOebs(tx: Tx, ctx: ApplyContext, route: Route, o: OebsAnswer): Promise<ReceiverAction['kind'][]> {
  const payouts = ctx.rows.ofBatches(o.batchIds, route.namespaces, route.dryRun);
  // OEBS names payouts only by their ARD batches: the payouts whose ARD NEW is late are unknown
  // until it comes. Those of the payment already known were sent with them (ARD batches what it
  // got together), so their sending time is the clock of the wait; none known → the message's age.
  const missing = o.batchIds.filter((b) => !payouts.some((p) => p.oebs_batch_id === b));
  if (missing.length) throw new NotYet(`OEBS ${o.statusType} of payment ${o.paymentId}: no confirmed payout in batch ${missing.join(', ')} yet`, latestSent(payouts));
  const total = sum(payouts.map((p) => p.amount_oebs ?? '0'));
  const vs = cmp(total, o.paymentAmount);
  if (vs < 0) throw new NotYet(`OEBS ${o.statusType} of payment ${o.paymentId}: the payouts known so far make ${total} of ${o.paymentAmount}`, latestSent(payouts));
  if (vs > 0) throw new Unappliable('amount_mismatch', `OEBS ${o.statusType} of payment ${o.paymentId}: the payouts of its batches make ${total}, more than ${o.paymentAmount}`);
  const decided = payouts.map((p) => ({
    p, action: decideOebs(p.status, o.statusType, { paymentId: o.paymentId, paidBy: p.oebs_payment_id, returned: p.oebs_returned_payments }),
  }));
  // All or nothing: one impossible payout sends the whole message to the errors topic.
  for (const { action } of decided) if (action.kind === 'impossible') throw new Unappliable('wrong_payout_status', action.reason);
  // A payout still `pending` waits for its ARD NEW: counted from its sending. Any other wait (a
  // RETURNED of another payment on its way) counts from the message.
  for (const { p, action } of decided) {
    if (action.kind === 'wait') throw new NotYet(action.reason, p.status === 'pending' ? latestSent([p]) : undefined);
  }
  const kinds: ReceiverAction['kind'][] = [];
  for (const { p, action } of decided) {
    await applyOebsAction(tx, ctx, p, action, o);
    kinds.push(action.kind);
  }
  // Remembered with the changes it made, for the tasks' three-way reconciliation (payment amount
  // = its payouts = what the ledger confirmed): OEBS's amount is stored nowhere else.
  ctx.rows.appliedPayment({ paymentId: o.paymentId, dryRun: route.dryRun, namespaces: route.namespaces, amount: o.paymentAmount, batchIds: o.batchIds, statusType: o.statusType });
  return kinds;
}

async function applyOebsAction(tx: Tx, ctx: ApplyContext, p: ReceiverPayout, action: ReceiverAction, o: OebsAnswer) {
  switch (action.kind) {
    case 'register':
      await ctx.ledger.register(ledgerPayout(p), o.paymentId);
      guarded(ctx.rows.recordPayment(p.id, o.paymentId, o.statusType), 'register');
      break;
    case 'pay':
      await ctx.ledger.confirm(ledgerPayout(p), o.paymentId);
      guarded(ctx.rows.paid(p.id, o.paymentId, o.statusType), 'pay');
      ctx.changed(p.status, 'done');
      break;
    case 'return':
      await ctx.ledger.cancelPayout(ledgerPayout(p), o.paymentId);
      guarded(ctx.rows.returned(p.id, o.paymentId, o.statusType), 'return');
      await ctx.notice(tx, p, `OEBS returned payment ${o.paymentId}: the payout is confirmed again, its money back on payout_sent`);
      ctx.changed(p.status, 'confirmed');
      break;
    case 'returnUnpaid':
      // RETURNED says the payment was made and came back, before its RECONCILED reached payout
      // (the topics race). Confirm and cancel-payout of this payment, each under its own key, net
      // to zero and show the ledger what OEBS says: paid, and returned. The ledger writer sends a
      // payout's second money event in a call after the first, so the order holds should it die
      // between the two: a payout another payment paid gets the cancel first, so it never shows
      // paid twice; a payout not paid yet gets the confirm first, so it never shows refunded
      // before it was paid. Either way what it shows paid is 0 or its amount.
      const confirm = () => ctx.ledger.confirm(ledgerPayout(p), o.paymentId);
      const cancel = () => ctx.ledger.cancelPayout(ledgerPayout(p), o.paymentId);
      if (p.status === 'done') {
        await cancel();
        await confirm();
      } else {
        await confirm();
        await cancel();
      }
      guarded(ctx.rows.returnedUnpaid(p.id, o.paymentId, o.statusType), 'return unpaid');
      await ctx.notice(tx, p, `OEBS returned payment ${o.paymentId}, which has not paid this ${p.status} payout (yet): `
        + 'it is remembered as returned, its money stays on payout_sent');
      break;
    case 'record':
      ctx.rows.recordStatus(p.id, o.statusType);
      break;
    default:
      break; // skip
  }
}
