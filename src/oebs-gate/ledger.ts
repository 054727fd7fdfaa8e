// The sender's ledger operations over the accounts client. Account types: money waiting to be
// paid sits on `payout`; the reservation moves it to `payout_sent` until OEBS confirms.
import type { AccountsClient, Loc, TurnoverEvent } from '../accounts/client.ts';
import { cpfsOf } from '../domain/sender-decision.ts';
import { ledgerEventType, ledgerExternalId } from '../domain/oebs-messages.ts';
import type { AccountRef, Reservation, SenderLedger } from './ports.ts';

const RESERVATION_LOOKBACK_MS = 24 * 3_600_000;
const END_OF_TIME = '9999-12-31T00:00:00Z';

export const accountLoc = (a: AccountRef, type: 'payout' | 'payout_sent'): Loc => ({
  namespace: a.namespace, type, client_id: a.client_id, contract_id: a.contract_id, service_id: a.service_id, currency: a.currency,
});

/** Our reservation, from its events in the turnover (the debit of `payout` and the batch info). */
function reservationOf(events: readonly TurnoverEvent[]): Reservation | undefined {
  const debit = events.find((e) => e.type === 'debit');
  if (!debit) return undefined;
  const info = debit.info ?? {};
  return {
    amount: debit.amount,
    dryRun: info.dry_run === true,
    // The reservation recorded the CPFs it paid, so a retry stores exactly those.
    cpfs: cpfsOf([{ type: 'credit', amount: debit.amount, info }]),
    dt: new Date(debit.dt),
  };
}

/** `lockTimeoutS`: how long an account stays locked if the sender dies holding the lock; it must
 *  outlast the read and the write of one payout (two accounts calls). */
export function senderLedger(client: AccountsClient, lockTimeoutS = 30): SenderLedger {
  return {
    async lockAndRead(account, { payoutId, since, createdAt }) {
      const loc = accountLoc(account, 'payout');
      // The window reaches back to before the payout existed, so it holds any reservation an
      // earlier attempt of this payout made (its dt is later than the payout's creation; a day
      // of margin covers clocks that disagree); accruals older than `since` are dropped below.
      const from = new Date(Math.min(since?.getTime() ?? 0, createdAt.getTime() - RESERVATION_LOOKBACK_MS));
      const res = await client.read({
        balances: [{ loc }],
        detailed_turnovers: [{ loc, dt_from: from.toISOString(), dt_to: END_OF_TIME }],
        lock: { loc, timeout_s: lockTimeoutS },
      });
      if (!res.lock) throw new Error('the accounts system answered a locking read without a lock');
      const balance = res.balances[0] ?? { debit: '0', credit: '0' };
      const all = res.detailed_turnovers[0]?.events ?? [];
      const mine = all.filter((e) => e.external_id === ledgerExternalId.reserve(payoutId));
      const events = all
        .filter((e) => !since || Date.parse(e.dt) >= since.getTime())
        .map((e) => ({ event_type: e.event_type, type: e.type, amount: e.amount, info: e.info }));
      return { lockUid: res.lock.uid, debit: balance.debit, credit: balance.credit, events, earlier: reservationOf(mine) };
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
