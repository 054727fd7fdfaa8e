// The sender's ledger operations over the accounts client, batch-first: one locking read for all
// the accounts of a wave of payouts, one write call for all their reservations. Account types:
// money waiting to be paid sits on `payout`; the reservation moves it to `payout_sent` until OEBS
// confirms.
import type { AccountsClient, Loc, WriteBatchRequest } from '../accounts/client.ts';
import { accountsError } from '../accounts/errors.ts';
import { cpfsOf } from '../domain/sender-decision.ts';
import { ledgerEventType, ledgerExternalId } from '../domain/oebs-messages.ts';
import type { AccountRef, AccountView, LedgerReservation, ReservationKey, ReserveResult, SenderLedger } from './ports.ts';

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

/** The reservation batch of a payout. No dt: the ledger stamps it, and a retry carries exactly the first try's content. */
function reserveBatch(key: ReservationKey, account: AccountRef, lockUid: string, r: { amount: string; dryRun: boolean; cpfs: unknown[] }): WriteBatchRequest {
  const from = accountLoc(account, 'payout');
  return {
    event_type: ledgerEventType.reserve,
    external_id: ledgerExternalId.reserve(key.deploymentId, key.payoutId),
    // payout_created_at tells this payout from another database's payout of the same id and
    // deployment (a restore that kept the deployment id): see the sender's reuse rule.
    info: { payout_id: key.payoutId, deployment_id: key.deploymentId, payout_created_at: key.createdAt.toISOString(), dry_run: r.dryRun, cpf: r.cpfs },
    events: [
      { loc: from, type: 'debit', amount: r.amount },
      { loc: accountLoc(account, 'payout_sent'), type: 'credit', amount: r.amount },
    ],
    locks: [{ loc: from, uid: lockUid, mode: 'remove' }],
  };
}

/** `lockTimeoutS`: how long an account stays locked if the sender dies holding it; it must
 *  outlast the read and the write of one wave (two accounts calls). */
export function senderLedger(client: AccountsClient, lockTimeoutS = 30): SenderLedger {
  /**
   * The reservation of this account held under this key, wherever it sits in the account's
   * history: an earlier attempt of the payout (another payout of the account may have been
   * reserved after it, so the history read from the previous reservation need not show it).
   */
  async function heldUnderKey(externalId: string, account: AccountRef): Promise<LedgerReservation | undefined> {
    const batch = await client.getBatch(externalId);
    const debit = batch?.events.find((e) => e.type === 'debit' && sameLoc(e.loc, accountLoc(account, 'payout')));
    return batch && batch.event_type === ledgerEventType.reserve && debit ? reservationOf(debit.amount, batch.batch_id, batch.info) : undefined;
  }

  const unlock = async (items: { account: AccountRef; lockUid: string }[]) => {
    // Best effort, at once: an unreleased lock expires by itself after lockTimeoutS.
    await Promise.all(items.map((x) => client.lockRemove(accountLoc(x.account, 'payout'), x.lockUid).catch(() => {})));
  };

  return {
    async lockAndRead(items) {
      if (!items.length) return [];
      const locs = items.map((q) => accountLoc(q.account, 'payout'));
      // From each account's previous reservation on: an earlier attempt of this payout reserved
      // after that one, so it is in the same events.
      const res = await client.read({
        locks: locs.map((loc) => ({ loc, timeout_s: lockTimeoutS })),
        balances: locs.map((loc) => ({ loc })),
        history: items.map((q, i) => ({ loc: locs[i]!, ...(q.fromBatchId ? { from_batch_id: q.fromBatchId } : {}) })),
      });
      // A ledger that ignored part of the read must not look like accounts with no history: that
      // would hide earlier reservations and make every accrual "unexplained".
      if (res.locks.length !== items.length || res.balances.length !== items.length || res.history.length !== items.length) {
        await unlock(res.locks.flatMap((l, i) => ('uid' in l ? [{ account: items[i]!.account, lockUid: l.uid }] : [])));
        throw accountsError('bad-response', `accounts read: asked for ${items.length} locks, balances and histories, got ${res.locks.length}, ${res.balances.length}, ${res.history.length}`);
      }
      return items.map((q, i): AccountView => {
        const lock = res.locks[i]!;
        if (!('uid' in lock)) return { locked: false, reason: lock.message };
        const balance = res.balances[i]!;
        const events = res.history[i]!.events;
        const key = ledgerExternalId.reserve(q.key.deploymentId, q.key.payoutId);
        const mine = events.find((e) => e.external_id === key && e.type === 'debit');
        const history = events.map((e) => ({
          batch_id: e.batch_id, external_id: e.external_id, event_type: e.event_type, type: e.type, amount: e.amount, info: e.info,
        }));
        return { locked: true, lockUid: lock.uid, debit: balance.debit, credit: balance.credit, history, earlier: mine && reservationOf(mine.amount, mine.batch_id, mine.info) };
      });
    },

    async reserve(items) {
      if (!items.length) return [];
      const outcomes = await client.writeBatches(items.map((x) => reserveBatch(x.key, x.account, x.lockUid, x.r)));
      if (outcomes.length !== items.length) throw accountsError('bad-response', `accounts batches/write: ${items.length} batches, ${outcomes.length} results`);
      // A batch that was not written kept its lock: release those (the written ones removed theirs).
      await unlock(items.filter((_, i) => outcomes[i]!.kind !== 'created' && outcomes[i]!.kind !== 'existing'));
      return Promise.all(items.map(async (x, i): Promise<ReserveResult> => {
        const o = outcomes[i]!;
        if (o.kind === 'created' || o.kind === 'existing') return { kind: 'held', r: { ...x.r, batchId: o.batch_id, payoutCreatedAt: x.key.createdAt.toISOString() } };
        if (o.kind === 'lock-invalid') return { kind: 'retry', reason: `the account lock was lost before the reservation: ${o.message}` };
        if (o.kind === 'rejected') return { kind: 'refused', reason: `accounts system refused the reservation: ${o.message}` };
        // The key holds other content: an earlier attempt of this payout on this account is its
        // money; anything else is not this payout's.
        const held = await heldUnderKey(ledgerExternalId.reserve(x.key.deploymentId, x.key.payoutId), x.account);
        return held ? { kind: 'held', r: held } : { kind: 'refused', reason: `accounts system refused: ${'message' in o ? o.message : o.kind}` };
      }));
    },

    ownReservations: (items) => Promise.all(items.map((x) => heldUnderKey(ledgerExternalId.reserve(x.key.deploymentId, x.key.payoutId), x.account))),

    unlock,
  };
}
