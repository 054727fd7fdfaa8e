// The sender's ledger operations over the accounts client. Account types: money waiting to be
// paid sits on `payout`; the reservation moves it to `payout_sent` until OEBS confirms.
import { AccountsError, type AccountsClient, type Loc, type TurnoverEvent } from '../accounts/client.ts';
import { cpfsOf } from '../domain/sender-decision.ts';
import { ledgerEventType, ledgerExternalId } from '../domain/oebs-messages.ts';
import type { AccountRef, LedgerReservation, SenderLedger } from './ports.ts';

export const accountLoc = (a: AccountRef, type: 'payout' | 'payout_sent'): Loc => ({
  namespace: a.namespace, type, client_id: a.client_id, contract_id: a.contract_id, service_id: a.service_id, currency: a.currency,
});

const LOC_FIELDS = ['namespace', 'type', 'client_id', 'contract_id', 'service_id', 'currency'] as const;
const sameLoc = (a: Loc, b: Loc) => LOC_FIELDS.every((k) => (a[k] ?? null) === (b[k] ?? null));

/** A reservation as the ledger holds it: its debit of `payout` and its batch's info. */
function reservationOf(amount: string, batchId: string, info: Record<string, unknown> | null): LedgerReservation {
  const i = info ?? {};
  return {
    amount,
    dryRun: i.dry_run === true,
    // The reservation recorded the CPFs it paid, so a retry stores exactly those.
    cpfs: cpfsOf([{ type: 'credit', amount, info: i }]),
    batchId,
    payoutCreatedAt: typeof i.payout_created_at === 'string' ? i.payout_created_at : undefined,
  };
}

/** `lockTimeoutS`: how long an account stays locked if the sender dies holding it; it must
 *  outlast the read and the write of one payout (two accounts calls). */
export function senderLedger(client: AccountsClient, lockTimeoutS = 30): SenderLedger {
  return {
    async lockAndRead(account, { deploymentId, payoutId, fromBatchId }) {
      const loc = accountLoc(account, 'payout');
      // From the previous payout's reservation on: any reservation an earlier attempt of this
      // payout made is later than that one, so it is in the same events.
      const res = await client.read({
        balances: [{ loc }],
        history: [{ loc, ...(fromBatchId ? { from_batch_id: fromBatchId } : {}) }],
        lock: { loc, timeout_s: lockTimeoutS },
      });
      if (!res.lock) throw new Error('the accounts system answered a locking read without a lock');
      const balance = res.balances[0] ?? { debit: '0', credit: '0' };
      const events = res.history[0]?.events ?? [];
      const key = ledgerExternalId.reserve(deploymentId, payoutId);
      const mine = events.find((e) => e.external_id === key && e.type === 'debit');
      const history = events.map((e) => ({
        batch_id: e.batch_id, external_id: e.external_id, event_type: e.event_type, type: e.type, amount: e.amount, info: e.info,
      }));
      return { lockUid: res.lock.uid, debit: balance.debit, credit: balance.credit, history, earlier: mine && reservationOf(mine.amount, mine.batch_id, mine.info) };
    },

    async reserve({ deploymentId, payoutId, createdAt }, account, lockUid, r) {
      const from = accountLoc(account, 'payout');
      const externalId = ledgerExternalId.reserve(deploymentId, payoutId);
      try {
        // No dt: the ledger stamps it, and a retry carries exactly the content of the first try.
        const { batch_id } = await client.writeBatch({
          event_type: ledgerEventType.reserve,
          external_id: externalId,
          // payout_created_at tells this payout from another database's payout of the same id and
          // deployment (a restore that kept the deployment id): see the sender's reuse rule.
          info: { payout_id: payoutId, deployment_id: deploymentId, payout_created_at: createdAt.toISOString(), dry_run: r.dryRun, cpf: r.cpfs },
          events: [
            { loc: from, type: 'debit', amount: r.amount },
            { loc: accountLoc(account, 'payout_sent'), type: 'credit', amount: r.amount },
          ],
          locks: [{ loc: from, uid: lockUid, mode: 'remove' }],
        });
        return { ...r, batchId: batch_id, payoutCreatedAt: createdAt.toISOString() };
      } catch (err) {
        if (!(err instanceof AccountsError && err.reason === 'idempotency-conflict')) throw err;
        // The key holds other content. If it is a reservation of this very account, it is an
        // earlier attempt of this payout that the history did not show (another payout of the
        // account was reserved after it): that one is the payout's money. Anywhere else the key
        // belongs to something that is not this payout: refused, loudly, by the caller.
        const batch = await client.getBatch(externalId);
        const debit = batch?.events.find((e) => e.type === 'debit' && sameLoc(e.loc, from));
        if (!batch || batch.event_type !== ledgerEventType.reserve || !debit) throw err;
        return reservationOf(debit.amount, batch.batch_id, batch.info);
      }
    },

    async unlock(account, lockUid) {
      await client.lockRemove(accountLoc(account, 'payout'), lockUid);
    },
  };
}
