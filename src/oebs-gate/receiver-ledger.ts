// The receiver's ledger events over the accounts client (see ReceiverLedger in ports.ts).
//
// Entries per payout (reserve is the sender's: debit payout, credit payout_sent):
//   cancel reserve  debit payout_sent, credit payout    (ARD refused; the money is the client's again)
//   register        credit payout_sent 0                (OEBS CREATED; a trace, moves nothing)
//   confirm         debit payout_sent                   (OEBS RECONCILED; paid out of the system)
//   cancel payout   credit payout_sent                  (OEBS RETURNED; back, until paid again)
// "confirm" has no counter-entry on purpose: the money went to the client's bank account, which
// is not an account of this ledger; the stand-in (like the real one) takes unbalanced batches.
// The batches carry no dt and only stable info, so a retry has the same content as the first try
// (the ledger compares content on a repeated external id).
import type { AccountsClient, WriteBatchRequest, WriteEvent } from '../accounts/client.ts';
import { accountsError } from '../accounts/errors.ts';
import { cmp } from '../domain/money.ts';
import { MAX_BATCHES, coalescingWriter } from '../accounts/coalescer.ts';
import { ledgerEventType, ledgerExternalId } from '../domain/oebs-messages.ts';
import { failpoint } from '../failpoints.ts';
import { accountLoc } from './ledger.ts';
import type { LedgerPayout, ReceiverLedger } from './ports.ts';

export function receiverLedger(client: AccountsClient): ReceiverLedger {
  // The receiver's handlers run concurrently: their ledger events travel together, one call.
  return ledgerOver(coalescingWriter(client));
}

/** The receiver's ledger events of a batch of messages, written by one call once all are decided. */
export interface ReceiverLedgerBatch {
  /** Takes the events; nothing reaches the ledger before `write()`. */
  ledger: ReceiverLedger;
  /**
   * One batches/write call with every event taken (one of each external id), each batch atomic
   * and idempotent on its own; how many it carried (0: no call). False when the ledger refused
   * one (conflict, lock, rejected): the caller then does not commit what it decided. Throws when
   * the call failed.
   */
  write(): Promise<number | false>;
}

export function receiverLedgerBatches(client: Pick<AccountsClient, 'writeBatches'>): () => ReceiverLedgerBatch {
  return () => {
    const taken = new Map<string, WriteBatchRequest>();
    let clash = false;
    return {
      ledger: ledgerOver(async (req) => {
        // The same event twice (a duplicate message in the batch) is one batch; the same key with
        // other content could never be written.
        const had = taken.get(req.external_id);
        if (had && JSON.stringify(had) !== JSON.stringify(req)) clash = true;
        taken.set(req.external_id, had ?? req);
      }),
      async write() {
        if (clash) return false;
        // A call carries at most MAX_BATCHES: a big payment's events take several calls of one
        // step, all written before the next step's (a payout has one money event per step).
        let calls = 0;
        for (const step of moneyInOrder([...taken.values()])) for (let i = 0; i < step.length; i += MAX_BATCHES) {
          // A crash between two calls of one round: the first's events are in the ledger, the
          // round's status changes are not; the redelivery writes both again (the first as repeats).
          if (calls++ > 0) failpoint('receiver.batch-between-ledger-calls');
          const call = step.slice(i, i + MAX_BATCHES);
          const outcomes = await client.writeBatches(call);
          if (outcomes.length !== call.length) throw accountsError('bad-response', `accounts batches/write: ${call.length} batches, ${outcomes.length} results`);
          if (!outcomes.every((o) => o.kind === 'created' || o.kind === 'existing')) return false;
        }
        return taken.size;
      },
    };
  };
}

/**
 * The calls that write these events: one, unless a payout has two events that move money (an
 * OEBS RETURNED of an unpaid payment: confirm, then cancel-payout; or a return and a payment in
 * one batch). The ledger applies a call's batches in an order of its own, so the second of a
 * payout goes in the next call: a crash between them shows what the one-by-one receiver would
 * (never paid twice, never refunded before paid). Zero events (register) never wait.
 */
export function moneyInOrder(reqs: WriteBatchRequest[]): WriteBatchRequest[][] {
  const calls: WriteBatchRequest[][] = [];
  const moved = new Map<string, number>();
  for (const req of reqs) {
    const who = String(req.info?.deployment_id) + '/' + String(req.info?.payout_id);
    const moves = req.events.some((e) => cmp(e.amount, '0') !== 0);
    const n = moves ? (moved.get(who) ?? 0) : 0;
    if (moves) moved.set(who, n + 1);
    (calls[n] ??= []).push(req);
  }
  return calls;
}

function ledgerOver(writeBatch: (req: WriteBatchRequest) => Promise<unknown>): ReceiverLedger {
  const write = async (eventType: string, externalId: string, p: LedgerPayout, events: WriteEvent[], extra: Record<string, unknown> = {}) => {
    const info: Record<string, unknown> = { payout_id: p.id, deployment_id: p.deploymentId, dry_run: p.dryRun, ...extra };
    await writeBatch({ event_type: eventType, external_id: externalId, info, events });
  };
  const sent = (p: LedgerPayout) => accountLoc(p.account, 'payout_sent');
  const key = ledgerExternalId;
  return {
    // The credit back on `payout` is an accrual for the account's next payout: its info says
    // what the money was (dry-run or not) and which CPFs it belongs to, as the reservation did.
    cancelReserve: (p, cpfs) => write(ledgerEventType.cancelReserve, key.cancelReserve(p.deploymentId, p.id), p, [
      { loc: sent(p), type: 'debit', amount: p.amount },
      { loc: accountLoc(p.account, 'payout'), type: 'credit', amount: p.amount },
    ], { cpf: cpfs }),
    register: (p, paymentId) => write(ledgerEventType.register, key.register(p.deploymentId, p.id, paymentId), p, [
      { loc: sent(p), type: 'credit', amount: '0' },
    ], { payment_id: paymentId }),
    confirm: (p, paymentId) => write(ledgerEventType.confirm, key.confirm(p.deploymentId, p.id, paymentId), p, [
      { loc: sent(p), type: 'debit', amount: p.amount },
    ], { payment_id: paymentId }),
    cancelPayout: (p, paymentId) => write(ledgerEventType.cancelPayout, key.cancelPayout(p.deploymentId, p.id, paymentId), p, [
      { loc: sent(p), type: 'credit', amount: p.amount },
    ], { payment_id: paymentId }),
  };
}
