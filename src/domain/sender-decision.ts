// The sender's decision for one payout, without I/O: given what the accounts system showed under
// the lock (the balance, and the account's history since the previous payout's reservation),
// pay how much, as dry-run or real money, or reject why.
//
// Which money is behind the balance (and so whether it is dry-run and which CPFs it carries) is
// told by ledger events, never by a time window:
//   - the history starts at the last reservation of the account (the previous payout's, or a
//     later one found in the history: another replica's, another deployment's);
//   - the credits after it are the accruals of this payout: billing's, and cancelled
//     reservations coming back (their info carries the dry-run flag and CPFs they left with);
//   - what the balance holds beyond those credits is that reservation's remainder (the part
//     below a kopeck, or what a fixed payout left), which has that reservation's dry-run flag;
//   - money no accrual and no reservation explains is rejected (PAYOUT_PROCESS_DRY_RUN on), or
//     paid as real money (off).
import { ledgerEventType } from './oebs-messages.ts';
import { canon, cmp, floorToMinor, isNegative, isPositive, isWholeMinor, isZero, sub, sum } from './money.ts';

export interface LedgerEvent {
  batch_id?: string;
  external_id?: string;
  event_type?: string;
  type: 'debit' | 'credit';
  amount: string;
  info: unknown;
}

export interface Cpf {
  external_id: string;
  amount: string;
  operation_type: string;
}

export interface PayoutToDecide {
  by_client: boolean;
  amount: string;
  namespace: string;
  client_id: string;
  currency: string;
}

export interface DecisionRules {
  /** Decimals of the payout currency's minor unit: what OEBS can pay. */
  decimals: number;
  /** Reject a positive balance no accrual explains (on), or pay it as real money (off). */
  processDryRun: boolean;
  /** namespace → clients allowed real payouts; a namespace absent allows everyone. */
  allowedNs: ReadonlyMap<string, ReadonlySet<string>>;
}

export type SenderDecision =
  | { kind: 'reject'; error: string }
  | { kind: 'zero'; dryRun: boolean }
  | { kind: 'send'; amount: string; dryRun: boolean; cpfs: Cpf[] };

const infoOf = (e: LedgerEvent): Record<string, unknown> =>
  typeof e.info === 'object' && e.info !== null && !Array.isArray(e.info) ? (e.info as Record<string, unknown>) : {};

const isReservation = (e: LedgerEvent) => e.event_type === ledgerEventType.reserve && e.type === 'debit';

/** The cash-payment facts the money belongs to, as the credits' info lists them. */
export function cpfsOf(events: readonly LedgerEvent[]): Cpf[] {
  const out: Cpf[] = [];
  for (const e of events) {
    if (e.type !== 'credit') continue;
    const list = infoOf(e).cpf;
    if (!Array.isArray(list)) continue;
    for (const c of list) {
      if (typeof c !== 'object' || c === null) continue;
      const { external_id, amount, operation_type } = c as Record<string, unknown>;
      if (typeof external_id === 'string' && typeof amount === 'string' && typeof operation_type === 'string') {
        out.push({ external_id, amount, operation_type });
      }
    }
  }
  return out;
}

/**
 * What the balance is made of: the accruals since the last reservation, and that reservation's
 * remainder. A remainder below one minor unit has no say in the flag: it is dust no payout can pay
 * on its own, and letting a dry-run fraction of a kopeck veto real money would block the account
 * for good (a rejection moves nothing, so the next payout would read the same history).
 */
export function moneyBehind(balance: string, history: readonly LedgerEvent[], decimals: number) {
  let last = -1;
  history.forEach((e, i) => { if (isReservation(e)) last = i; });
  const reservation = last >= 0 ? history[last] : undefined;
  const accruals = history.slice(last + 1).filter((e) => e.type === 'credit');
  const remainder = sub(balance, sum(accruals.map((e) => e.amount)));
  const flags = new Set(accruals.map((e) => infoOf(e).dry_run === true));
  const payableRemainder = isPositive(floorToMinor(remainder, decimals));
  if (payableRemainder && reservation) flags.add(infoOf(reservation).dry_run === true);
  return {
    accruals,
    /** All dry-run → true, none → false; a mix cannot be paid either way. */
    dryRun: flags.size > 1 ? ('mixed' as const) : flags.has(true),
    /** Money on the account that no accrual or earlier reservation accounts for. */
    unexplained: isPositive(remainder) && !reservation ? remainder : undefined,
  };
}

export function decidePayout(
  p: PayoutToDecide,
  account: { debit: string; credit: string; history: readonly LedgerEvent[] },
  rules: DecisionRules,
): SenderDecision {
  const balance = sub(account.credit, account.debit);
  if (isNegative(balance)) return { kind: 'reject', error: `negative balance ${balance} on the payout account` };
  if (!p.by_client && !isWholeMinor(p.amount, rules.decimals)) {
    return { kind: 'reject', error: `amount ${p.amount} is not a whole number of ${p.currency} minor units (${rules.decimals} decimals)` };
  }
  if (!p.by_client && cmp(balance, p.amount) < 0) {
    return { kind: 'reject', error: `balance ${balance} does not cover the payout amount ${canon(p.amount)}` };
  }
  const amount = p.by_client ? floorToMinor(balance, rules.decimals) : p.amount;
  const behind = moneyBehind(balance, account.history, rules.decimals);
  if (isZero(amount)) return { kind: 'zero', dryRun: behind.dryRun === true };
  if (behind.dryRun === 'mixed') return { kind: 'reject', error: 'the accruals behind the balance disagree on dry_run' };
  let dryRun = behind.dryRun;
  if (behind.unexplained !== undefined) {
    if (rules.processDryRun) {
      return { kind: 'reject', error: `${behind.unexplained} of the balance ${balance} is not explained by any accrual in the ledger` };
    }
    dryRun = false; // PAYOUT_PROCESS_DRY_RUN off: unexplained money is real money
    if (behind.accruals.some((e) => infoOf(e).dry_run === true)) {
      return { kind: 'reject', error: 'the accruals behind the balance disagree on dry_run' };
    }
  }
  const allowed = rules.allowedNs.get(p.namespace);
  if (!dryRun && allowed && !allowed.has(p.client_id)) {
    return { kind: 'reject', error: `client ${p.client_id} is not allowed real (non-dry-run) payouts in namespace ${p.namespace}` };
  }
  return { kind: 'send', amount, dryRun, cpfs: cpfsOf(behind.accruals) };
}
