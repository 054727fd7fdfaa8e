// The payout state machine of the receiver (DESIGN.md), as pure decisions: given a payout's
// status and an ARD/OEBS status, what happens. Nothing here moves money; the receiver carries
// out the action (ledger event first, then the guarded status change).
//
//   new ──sender──▶ pending ──ARD NEW──▶ confirmed ──OEBS RECONCILED──▶ done
//    ▲ └─sender gives up─▶ parked   └──ARD error──▶ rejected        ▲─────OEBS RETURNED─────┘
//    └───── a person retries ─────┘
// A parked payout was never sent: to ARD and OEBS it is the same as a new one.
import type { PayoutStatus } from '../store/payouts.ts';

export type ReceiverAction =
  | { kind: 'confirm' } //  pending → confirmed, batch/check ids stored, CPFs done
  | { kind: 'reject' } //   pending → rejected, reservation cancelled in the ledger
  | { kind: 'record' } //   fields only (last OEBS status), no money, no status change
  | { kind: 'register' } // payment id + a zero "register" ledger event
  | { kind: 'pay' } //      confirmed → done, "confirm" ledger event (debit payout_sent)
  | { kind: 'return' } //   done → confirmed, "cancel payout" ledger event, notice
  | { kind: 'returnUnpaid' } // the payment is remembered as returned; confirm + cancel-payout of it (net zero), notice
  | { kind: 'wait'; reason: string } //   not yet: ARD has not confirmed it; redelivered later
  | { kind: 'skip'; reason: string } //   duplicate or late: nothing at all
  | { kind: 'impossible'; reason: string }; // to the errors topic, acknowledged

export const ARD_ERROR_STATUSES: ReadonlySet<string> = new Set(['ERROR', 'REJECTED', 'FAILED', 'CANCELLED', 'CANCELED']);
export const OEBS_INTERMEDIATE_STATUSES: ReadonlySet<string> = new Set(['TRANSMITTED', 'ACCEPTED', 'PROCESSING', 'SENT']);

/** What the payout knows about OEBS payments, so a late message of an old payment is told apart. */
export interface PaymentFacts {
  /** The payment the message is about. */
  paymentId?: string;
  /** The payment the payout was last registered or paid under. */
  paidBy?: string | null;
  /** Payments of this payout that OEBS returned. */
  returned?: readonly string[];
}

const skip = (reason: string): ReceiverAction => ({ kind: 'skip', reason });
const impossible = (reason: string): ReceiverAction => ({ kind: 'impossible', reason });
const neverSent = (status: PayoutStatus) => status === 'new' || status === 'parked';

export function decideArd(status: PayoutStatus, statusType: string): ReceiverAction {
  if (neverSent(status)) return impossible(`ARD ${statusType} for a payout that was never sent (${status})`);
  if (statusType === 'NEW') {
    if (status === 'pending') return { kind: 'confirm' };
    if (status === 'rejected') return impossible('ARD NEW for a rejected payout: it is not revived');
    return skip(`ARD NEW again (payout is ${status})`);
  }
  if (statusType === 'PROCESSED') return status === 'rejected' ? skip('ARD PROCESSED for a rejected payout') : { kind: 'record' };
  if (ARD_ERROR_STATUSES.has(statusType)) {
    if (status === 'pending') return { kind: 'reject' };
    if (status === 'rejected') return skip(`ARD ${statusType} again (payout already rejected)`);
    return impossible(`ARD ${statusType} for a payout already ${status}`);
  }
  return impossible(`unknown ARD status "${statusType}"`);
}

/**
 * OEBS speaks about payments; ARD's NEW travels on another topic and may come later, so a
 * payout still `pending` is "not yet", never an error (the receiver bounds the wait).
 *
 * The messages of a payment may come in any order (two receivers, a redelivery after a failure
 * comes after later messages), so no decision rests on order: the end state is the one the
 * messages say, whichever came first.
 *   - RETURNED of a payment this payout was not (yet) paid by remembers the payment as returned,
 *     moving no money; its RECONCILED, should it come later, is then skipped. Paid-and-returned
 *     and returned-before-paid both end confirmed, the money on payout_sent.
 *   - RECONCILED of another payment while the payout is paid by one not returned waits: the
 *     RETURNED of the first is on its way (or, after the wait bound, a case for an operator).
 */
export function decideOebs(status: PayoutStatus, statusType: string, f: PaymentFacts = {}): ReceiverAction {
  const known = statusType === 'CREATED' || statusType === 'RECONCILED' || statusType === 'RETURNED' || OEBS_INTERMEDIATE_STATUSES.has(statusType);
  if (!known) return impossible(`unknown OEBS status "${statusType}"`);
  if (neverSent(status)) return impossible(`OEBS ${statusType} for a payout that was never sent (${status})`);
  if (status === 'pending') return { kind: 'wait', reason: `OEBS ${statusType} before ARD NEW (payout is pending)` };
  if (status === 'rejected') return impossible(`OEBS ${statusType} for a rejected payout`);
  const wasReturned = f.paymentId !== undefined && (f.returned ?? []).includes(f.paymentId);
  const paidByOther = status === 'done' && f.paymentId !== undefined && !!f.paidBy && f.paidBy !== f.paymentId;
  switch (statusType) {
    case 'CREATED':
      // A late CREATED of an old payment must not replace the payment a payout was paid under:
      // RETURNED trusts that id to say which payment it undoes.
      if (wasReturned) return skip(`OEBS CREATED of payment ${f.paymentId}, which was returned`);
      if (paidByOther) return skip(`OEBS CREATED of payment ${f.paymentId}, payout paid by ${f.paidBy}`);
      return { kind: 'register' };
    case 'RECONCILED':
      // Its money came back (RETURNED was applied, before or after): it must not mark the payout paid.
      if (wasReturned) return skip(`OEBS RECONCILED of payment ${f.paymentId}, which was returned`);
      if (status === 'confirmed') return { kind: 'pay' };
      if (paidByOther) return { kind: 'wait', reason: `OEBS RECONCILED of payment ${f.paymentId}, payout paid by ${f.paidBy}, whose RETURNED has not come` };
      return skip('OEBS RECONCILED again (payout already done)');
    case 'RETURNED':
      if (wasReturned) return skip(`OEBS RETURNED of payment ${f.paymentId} again`);
      if (status === 'done' && !paidByOther) return { kind: 'return' };
      return { kind: 'returnUnpaid' };
    default:
      return { kind: 'record' };
  }
}
