// The payouts a receiver transaction touches, locked with one statement and changed in memory,
// then written back with a few bulk statements (issue 14: "bulk guarded status updates").
//
// Why in memory: a round applies hundreds of answers, three or so per payout, and one statement
// per change made the receiver the most statement-heavy part of payout. Here every guard that
// used to sit in an UPDATE's WHERE is checked against the locked row, the change is applied to
// it (so the next message of the round sees it: an ARD NEW puts a payout in its batch before the
// OEBS answer of that batch is applied), and `flush` writes each payout's changes in the order
// they were made.
//
// The flush keeps the history exact: the history trigger records each status change, so a
// payout's changes are written in waves, one per status it passed through (a change that keeps
// the status folds into its neighbour). Each wave is one UPDATE for all payouts, guarded again by
// the status it expects: the rows are locked, so a miss means a bug, and the transaction fails
// rather than write something its decisions did not see.
import type { Tx } from '../db/connect.ts';
import { markCpfsDone } from '../store/cpf.ts';
import { mergeAppliedPayments, recordAppliedPayments, type AppliedPayment } from '../store/oebs-payments.ts';
import { lockReceiverPayouts, writeHeldPayouts, type HeldPayout, type HeldWrite } from '../store/payouts.ts';

/** What fields a change sets; the rest of the row stays. */
type Change = Partial<Pick<HeldPayout, 'status' | 'error' | 'oebs_batch_id' | 'oebs_check_id' | 'oebs_payment_id' | 'oebs_returned_payments' | 'oebs_status'>>;

export class ReceiverRows {
  private readonly writes = new Map<string, HeldWrite[]>();
  private readonly cpfsDone = new Set<string>();
  private readonly payments: AppliedPayment[] = [];

  private constructor(private readonly rows: Map<string, HeldPayout>) {}

  /** Locks every payout the answers may touch: those named, and those in the OEBS batches named. */
  static async lock(tx: Tx, need: { payoutIds: readonly string[]; batchIds: readonly string[] }): Promise<ReceiverRows> {
    const found = await lockReceiverPayouts(tx, [...new Set(need.payoutIds)], [...new Set(need.batchIds)]);
    return new ReceiverRows(new Map(found.map((r) => [r.id, r])));
  }

  /** The payout, as this transaction has changed it so far. */
  payout(id: string): HeldPayout | undefined {
    return this.rows.get(id);
  }

  /** The payouts of these ARD batches in these namespaces and mode, in id order. */
  ofBatches(batchIds: readonly string[], namespaces: readonly string[], dryRun: boolean): HeldPayout[] {
    return [...this.rows.values()]
      .filter((p) => p.oebs_batch_id !== null && batchIds.includes(p.oebs_batch_id) && namespaces.includes(p.namespace) && p.dry_run === dryRun)
      .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  }

  // ---- guarded changes: a late or duplicate message can never move a payout backwards; false
  // means "not changed".

  /** pending → confirmed, in its ARD batch. */
  confirm(id: string, a: { batchId: string; checkId: string; oebsStatus: string }): boolean {
    return this.change(id, (p) => p.status === 'pending', { status: 'confirmed', oebs_batch_id: a.batchId, oebs_check_id: a.checkId, oebs_status: a.oebsStatus });
  }

  /** pending → rejected by ARD, with why. */
  rejectByArd(id: string, error: string, oebsStatus: string): boolean {
    return this.change(id, (p) => p.status === 'pending', { status: 'rejected', error, oebs_status: oebsStatus });
  }

  /** The last status ARD/OEBS reported; no status change. */
  recordStatus(id: string, oebsStatus: string): boolean {
    return this.change(id, () => true, { oebs_status: oebsStatus });
  }

  /** OEBS created a payment for the payout; a done payout keeps the payment it was paid under. */
  recordPayment(id: string, paymentId: string, oebsStatus: string): boolean {
    return this.change(id, (p) => !p.oebs_returned_payments.includes(paymentId)
      && (p.status === 'confirmed' || (p.status === 'done' && (p.oebs_payment_id === null || p.oebs_payment_id === paymentId))),
    { oebs_payment_id: paymentId, oebs_status: oebsStatus });
  }

  /** confirmed → done under a payment that was not returned. */
  paid(id: string, paymentId: string, oebsStatus: string): boolean {
    return this.change(id, (p) => p.status === 'confirmed' && !p.oebs_returned_payments.includes(paymentId),
      { status: 'done', oebs_payment_id: paymentId, oebs_status: oebsStatus });
  }

  /** done → confirmed, only for the payment it was paid under; that payment is remembered as returned. */
  returned(id: string, paymentId: string, oebsStatus: string): boolean {
    return this.change(id, (p) => p.status === 'done' && (p.oebs_payment_id === null || p.oebs_payment_id === paymentId),
      (p) => ({ status: 'confirmed', oebs_returned_payments: [...p.oebs_returned_payments, paymentId], oebs_status: oebsStatus }));
  }

  /**
   * OEBS returned a payment that has not paid this payout (its RECONCILED came later, or never):
   * remembered as returned, so that a RECONCILED of it is skipped. No money, no status change.
   */
  returnedUnpaid(id: string, paymentId: string, oebsStatus: string): boolean {
    return this.change(id, (p) => !p.oebs_returned_payments.includes(paymentId)
      && (p.status === 'confirmed' || (p.status === 'done' && p.oebs_payment_id !== paymentId)),
    (p) => ({ oebs_returned_payments: [...p.oebs_returned_payments, paymentId], oebs_status: oebsStatus }));
  }

  /** ARD accepted the payout: its CPFs are done. */
  markCpfsDone(id: string): void {
    this.cpfsDone.add(id);
  }

  /** A payment applied, remembered for the tasks' three-way reconciliation (OEBS's amount is stored nowhere else). */
  appliedPayment(p: AppliedPayment): void {
    this.payments.push(p);
  }

  private change(id: string, allowed: (p: HeldPayout) => boolean, change: Change | ((p: HeldPayout) => Change)): boolean {
    const p = this.rows.get(id);
    if (!p || !allowed(p)) return false;
    const next: HeldPayout = { ...p, ...(typeof change === 'function' ? change(p) : change) };
    this.rows.set(id, next);
    const writes = this.writes.get(id) ?? [];
    const last = writes.at(-1);
    // A write that keeps the status, or follows one that kept it, folds into the write before it:
    // the history records status changes, and those stay one per wave.
    if (last && (next.status === p.status || last.expect === last.row.status)) last.row = next;
    else writes.push({ expect: p.status, row: next });
    this.writes.set(id, writes);
    return true;
  }

  /** Writes every change, in the order made: a few statements however many payouts changed. */
  async flush(tx: Tx): Promise<void> {
    const perPayout = [...this.writes.values()];
    for (let k = 0; perPayout.some((w) => w.length > k); k++) {
      const wave = perPayout.filter((w) => w.length > k).map((w) => w[k]!);
      const written = await writeHeldPayouts(tx, wave);
      if (written !== wave.length) {
        throw new Error(`receiver: ${wave.length - written} of ${wave.length} locked payouts were not in the status the receiver decided on`);
      }
    }
    await markCpfsDone(tx, [...this.cpfsDone]);
    await recordAppliedPayments(tx, mergeAppliedPayments(this.payments));
  }
}
