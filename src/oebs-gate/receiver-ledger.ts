// The receiver's ledger events (see ReceiverLedger in ports.ts), as batches/write requests.
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
//
// The receiver does not call the ledger: the requests its decisions make are stored in the ledger
// outbox in the transaction that commits those decisions, and the ledger writer sends them after
// the commit (ledger-writer.ts). So a decision and its money are never apart: a crash before the
// commit loses both, one after it loses neither.
import type { WriteBatchRequest, WriteEvent } from '../accounts/types.ts';
import type { Tx } from '../db/connect.ts';
import { ledgerEventType, ledgerExternalId } from '../domain/oebs-messages.ts';
import { enqueueLedgerRequests, movesMoney } from '../store/ledger-outbox.ts';
import { accountLoc } from './ledger.ts';
import type { LedgerPayout, ReceiverLedger } from './ports.ts';

/** The ledger events of one receiver transaction: taken as the answers are applied, stored by `store(tx)` before it commits. */
export interface OutboxLedger {
  ledger: ReceiverLedger;
  /** Stores every event taken (one of each external id), in the order taken; how many. */
  store(tx: Tx): Promise<number>;
}

export function outboxLedger(): OutboxLedger {
  const taken = new Map<string, { payoutId: string; request: WriteBatchRequest }>();
  return {
    ledger: ledgerOver(async (payoutId, request) => {
      // The same event twice (a duplicate message in a round) is one; the same key with other
      // content would be a bug in the decisions: nothing of the transaction may commit.
      const had = taken.get(request.external_id);
      if (had && JSON.stringify(had.request) !== JSON.stringify(request)) {
        throw new Error(`receiver: two different ledger events under one external id ${request.external_id}`);
      }
      if (!had) taken.set(request.external_id, { payoutId, request });
    }),
    async store(tx) {
      await enqueueLedgerRequests(tx, [...taken.values()]);
      return taken.size;
    },
  };
}

/**
 * The calls that write these requests, in order: one, unless a payout has two events that move
 * money (an OEBS RETURNED of an unpaid payment: confirm, then cancel-payout; or a return and a
 * payment in one round). The ledger applies a call's batches in an order of its own, so the
 * second of a payout goes in the next call: a crash between them shows what one call at a time
 * would (never paid twice, never refunded before paid). Zero events (register) never wait.
 */
export function moneyInOrder<T>(items: readonly T[], requestOf: (item: T) => WriteBatchRequest): T[][] {
  const calls: T[][] = [];
  const moved = new Map<string, number>();
  for (const item of items) {
    const req = requestOf(item);
    const who = String(req.info?.deployment_id) + '/' + String(req.info?.payout_id);
    const moves = movesMoney(req);
    const n = moves ? (moved.get(who) ?? 0) : 0;
    if (moves) moved.set(who, n + 1);
    (calls[n] ??= []).push(item);
  }
  return calls;
}

function ledgerOver(take: (payoutId: string, req: WriteBatchRequest) => Promise<void>): ReceiverLedger {
  const write = async (eventType: string, externalId: string, p: LedgerPayout, events: WriteEvent[], extra: Record<string, unknown> = {}) => {
    const info: Record<string, unknown> = { payout_id: p.id, deployment_id: p.deploymentId, dry_run: p.dryRun, ...extra };
    await take(p.id, { event_type: eventType, external_id: externalId, info, events });
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
