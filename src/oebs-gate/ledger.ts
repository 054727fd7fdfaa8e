// The sender's ledger operations over the accounts client. Account types: money waiting to be
// paid sits on `payout`; the reservation moves it to `payout_sent` until OEBS confirms.
import type { AccountsClient, Loc } from '../accounts/client.ts';
import { cpfsOf } from '../domain/sender-decision.ts';
import { ledgerEventType, ledgerExternalId } from '../domain/oebs-messages.ts';
import type { AccountRef, SenderLedger } from './ports.ts';

/** How long an account stays locked if the sender dies holding the lock. */
export const LOCK_TIMEOUT_S = 30;
const EPOCH = new Date(0).toISOString();
const END_OF_TIME = '9999-12-31T00:00:00Z';

export const accountLoc = (a: AccountRef, type: 'payout' | 'payout_sent'): Loc => ({
  namespace: a.namespace, type, client_id: a.client_id, contract_id: a.contract_id, service_id: a.service_id, currency: a.currency,
});

export function senderLedger(client: AccountsClient): SenderLedger {
  return {
    async findReservation(payoutId) {
      const batch = await client.getBatch(ledgerExternalId.reserve(payoutId));
      if (!batch) return undefined;
      const debit = batch.events.find((e) => e.type === 'debit');
      if (!debit) throw new Error(`reservation batch of payout ${payoutId} has no debit event`);
      const info = batch.info ?? {};
      return {
        amount: debit.amount,
        dryRun: info.dry_run === true,
        // The reservation recorded the CPFs it paid, so a retry stores exactly those.
        cpfs: cpfsOf([{ type: 'credit', amount: debit.amount, info }]),
        dt: new Date(batch.dt),
      };
    },

    async lockAndRead(account, since) {
      const loc = accountLoc(account, 'payout');
      const res = await client.read({
        balances: [{ loc }],
        detailed_turnovers: [{ loc, dt_from: since ? since.toISOString() : EPOCH, dt_to: END_OF_TIME }],
        lock: { loc, timeout_s: LOCK_TIMEOUT_S },
      });
      if (!res.lock) throw new Error('the accounts system answered a locking read without a lock');
      const balance = res.balances[0] ?? { debit: '0', credit: '0' };
      const events = (res.detailed_turnovers[0]?.events ?? []).map((e) => ({
        event_type: e.event_type, type: e.type, amount: e.amount, info: e.info,
      }));
      return { lockUid: res.lock.uid, debit: balance.debit, credit: balance.credit, events };
    },

    async reserve(payoutId, account, lockUid, r) {
      const from = accountLoc(account, 'payout');
      await client.writeBatch({
        event_type: ledgerEventType.reserve,
        external_id: ledgerExternalId.reserve(payoutId),
        dt: r.dt.toISOString(),
        info: { payout_id: payoutId, dry_run: r.dryRun, cpf: r.cpfs },
        events: [
          { loc: from, type: 'debit', amount: r.amount },
          { loc: accountLoc(account, 'payout_sent'), type: 'credit', amount: r.amount },
        ],
        locks: [{ loc: from, uid: lockUid, mode: 'remove' }],
      });
    },

    async unlock(account, lockUid) {
      await client.lockRemove(accountLoc(account, 'payout'), lockUid);
    },
  };
}
