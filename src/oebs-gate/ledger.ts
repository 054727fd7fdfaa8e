// The sender's ledger operations over the accounts client. Account types: money waiting to be
// paid sits on `payout`; the reservation moves it to `payout_sent` until OEBS confirms.
import { AccountsError, type AccountsClient, type Loc } from '../accounts/client.ts';
import { accountsError } from '../accounts/errors.ts';
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

/**
 * Whether the ledger holds a reservation of this account under this key: an earlier attempt of
 * the payout, wherever it sits in the account's history (another payout of the account may have
 * been reserved after it, so the history read from the previous reservation need not show it).
 */
function ownReservationIn(client: AccountsClient) {
  return async (externalId: string, account: AccountRef): Promise<LedgerReservation | undefined> => {
    const batch = await client.getBatch(externalId);
    const debit = batch?.events.find((e) => e.type === 'debit' && sameLoc(e.loc, accountLoc(account, 'payout')));
    return batch && batch.event_type === ledgerEventType.reserve && debit ? reservationOf(debit.amount, batch.batch_id, batch.info) : undefined;
  };
}

/** `lockTimeoutS`: how long an account stays locked if the sender dies holding it; it must
 *  outlast the read and the write of one payout (two accounts calls). */
export function senderLedger(client: AccountsClient, lockTimeoutS = 30): SenderLedger {
  const ownReservation = ownReservationIn(client);
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
      if (!res.lock) throw accountsError('bad-response', 'accounts read: a locking read answered without a lock');
      // A ledger that ignored `history` must not look like an account with no history: that would
      // hide an earlier reservation and make every accrual "unexplained".
      if (res.history.length !== 1) {
        await client.lockRemove(loc, res.lock.uid).catch(() => {});
        throw accountsError('bad-response', `accounts read: asked for 1 history, got ${res.history.length}`);
      }
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
        // The key holds other content. An earlier attempt of this payout on this account is the
        // payout's money (the write failed, so our lock is still held: release it); anything
        // else is not this payout's: refused, loudly, by the caller.
        const held = await ownReservation(externalId, account);
        if (!held) throw err;
        await client.lockRemove(from, lockUid).catch(() => {});
        return held;
      }
    },

    ownReservation: (key, account) => ownReservation(ledgerExternalId.reserve(key.deploymentId, key.payoutId), account),

    async unlock(account, lockUid) {
      await client.lockRemove(accountLoc(account, 'payout'), lockUid);
    },
  };
}
