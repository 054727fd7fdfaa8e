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
import type { AccountsClient, WriteEvent } from '../accounts/client.ts';
import { coalescingWriter } from '../accounts/coalescer.ts';
import { ledgerEventType, ledgerExternalId } from '../domain/oebs-messages.ts';
import { accountLoc } from './ledger.ts';
import type { LedgerPayout, ReceiverLedger } from './ports.ts';

export function receiverLedger(client: AccountsClient): ReceiverLedger {
  // The receiver's handlers run concurrently: their ledger events travel together, one call.
  const writeBatch = coalescingWriter(client);
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
