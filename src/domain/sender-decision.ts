// The sender's decision for one payout, without I/O: given what the accounts system showed under
// the lock (balance, and the events behind it), pay how much, as dry-run or real, or reject why.
import { cmp, isNegative, isZero, roundOebs, sub } from './money.ts';

export interface LedgerEvent {
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
}

export type SenderDecision =
  | { kind: 'reject'; error: string }
  | { kind: 'zero'; dryRun: boolean }
  | { kind: 'send'; amount: string; amountOebs: string; dryRun: boolean; cpfs: Cpf[] };

const infoOf = (e: LedgerEvent): Record<string, unknown> =>
  typeof e.info === 'object' && e.info !== null && !Array.isArray(e.info) ? (e.info as Record<string, unknown>) : {};

/** All credits dry-run → dry-run; none → real; a mix cannot be paid either way. */
export function dryRunOf(events: readonly LedgerEvent[]): boolean | 'mixed' {
  const flags = new Set(events.filter((e) => e.type === 'credit').map((e) => infoOf(e).dry_run === true));
  if (flags.size > 1) return 'mixed';
  return flags.has(true);
}

/** The cash-payment facts the money belongs to, as the accruals' info lists them. */
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

export function decidePayout(
  p: PayoutToDecide,
  account: { debit: string; credit: string; events: readonly LedgerEvent[] },
  allowedNs: ReadonlyMap<string, ReadonlySet<string>>,
): SenderDecision {
  const balance = sub(account.credit, account.debit);
  if (isNegative(balance)) return { kind: 'reject', error: `negative balance ${balance} on the payout account` };
  const dryRun = dryRunOf(account.events);
  if (dryRun === 'mixed') return { kind: 'reject', error: 'the accruals behind the balance disagree on dry_run' };
  const amount = p.by_client ? balance : p.amount;
  if (!p.by_client && cmp(balance, amount) < 0) {
    return { kind: 'reject', error: `balance ${balance} does not cover the payout amount ${amount}` };
  }
  const allowed = allowedNs.get(p.namespace);
  if (!dryRun && allowed && !allowed.has(p.client_id)) {
    return { kind: 'reject', error: `client ${p.client_id} is not allowed real (non-dry-run) payouts in namespace ${p.namespace}` };
  }
  if (isZero(amount)) return { kind: 'zero', dryRun };
  return { kind: 'send', amount, amountOebs: roundOebs(amount), dryRun, cpfs: cpfsOf(account.events) };
}
