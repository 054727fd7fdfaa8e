// What the ledger must say about payouts, as pure decisions (the tasks' integrity and payment
// reconciliation, src/tasks). Per payout account, from its `payout_sent` balance and history:
//   - payout_sent (credit − debit) = the sum of the account's payouts in pending/confirmed: the
//     money reserved and not yet paid or given back; plus what the ledger holds reserved under the
//     keys of its payouts not sent (new, parked): an attempt whose reservation landed but whose
//     commit never came (a crash, a timed-out answer), which that payout reuses when it goes;
//   - money confirmed (confirm debits − cancel-payout credits) = the sum of its done payouts;
//   - no payout reserved twice (two reserve batches of one payout).
// Per OEBS payment: its amount = the sum of amount_oebs of the payouts in its batches = what the
// ledger confirmed for them under this payment (nothing once the payment was returned).
// Per ARD check: what POST /check tells ARD (the sum of amount_oebs of the check's payouts) = what
// the ledger holds reserved for them (reserve − cancel-reserve; ARD confirmed them, so none was
// cancelled).
import { canon, cmp, sub, sum } from './money.ts';
import { ledgerEventType } from './oebs-messages.ts';

export const VIOLATION_KINDS = {
  payoutSent: 'payout_sent',
  confirmed: 'confirmed',
  reservedTwice: 'reserved_twice',
  paymentAmount: 'payment_amount',
  paymentLedger: 'payment_ledger',
  checkLedger: 'check_ledger',
} as const;
export const ACCOUNT_KINDS = [VIOLATION_KINDS.payoutSent, VIOLATION_KINDS.confirmed, VIOLATION_KINDS.reservedTwice];
export const PAYMENT_KINDS = [VIOLATION_KINDS.paymentAmount, VIOLATION_KINDS.paymentLedger];
export const CHECK_KINDS = [VIOLATION_KINDS.checkLedger];

export interface AccountKey {
  namespace: string;
  client_id: string;
  contract_id: string;
  service_id: string;
  currency: string;
}

/** `taxi/42/7/124/RUB`: the subject of an account's violations (ids and codes hold no `/`). */
export const accountSubject = (a: AccountKey) => `${a.namespace}/${a.client_id}/${a.contract_id}/${a.service_id}/${a.currency}`;
/** A reserved-twice subject is the account's plus the payout: `taxi/42/7/124/RUB#17`. */
export const accountOfSubject = (subject: string) => subject.split('#')[0]!;

export interface LedgerEvent {
  batch_id: string;
  event_type: string;
  type: 'debit' | 'credit';
  amount: string;
  info: Record<string, unknown> | null;
}

export interface AccountExpected extends AccountKey {
  sent: string;
  done: string;
  sent_ids: string[];
  done_ids: string[];
  /** `<deployment>#<payout>` of its new and parked payouts. */
  unsent_keys: string[];
}

export interface Finding {
  kind: string;
  subject: string;
  namespace?: string;
  client_id?: string;
  contract_id?: string;
  service_id?: string;
  currency?: string;
  payout_ids: string[];
  expected: string;
  actual: string;
  detail?: string;
}

const amountsOf = (events: readonly LedgerEvent[], eventType: string, side: 'debit' | 'credit') =>
  sum(events.filter((e) => e.event_type === eventType && e.type === side).map((e) => e.amount));

/** The disagreements of one account (none: it agrees). `events`: its payout_sent history. */
export function accountFindings(a: AccountExpected, balance: { debit: string; credit: string }, events: readonly LedgerEvent[]): Finding[] {
  const subject = accountSubject(a);
  const where = { namespace: a.namespace, client_id: a.client_id, contract_id: a.contract_id, service_id: a.service_id, currency: a.currency };
  const out: Finding[] = [];
  const onSent = sub(balance.credit, balance.debit);
  const unsent = new Set(a.unsent_keys);
  const held = sum(events.filter((e) => e.event_type === ledgerEventType.reserve && e.type === 'credit'
    && unsent.has(`${String(e.info?.deployment_id ?? '')}#${String(e.info?.payout_id ?? '')}`)).map((e) => e.amount));
  const expected = sum([a.sent, held]);
  if (cmp(onSent, expected) !== 0) {
    out.push({ kind: VIOLATION_KINDS.payoutSent, subject, ...where, payout_ids: a.sent_ids, expected, actual: onSent,
      detail: `payout_sent holds ${onSent}, the account's pending/confirmed payouts ${canon(a.sent)}${cmp(held, '0') !== 0 ? ` and reservations of its unsent (new/parked) payouts ${held}` : ''}` });
  }
  const confirmed = sub(amountsOf(events, ledgerEventType.confirm, 'debit'), amountsOf(events, ledgerEventType.cancelPayout, 'credit'));
  if (cmp(confirmed, a.done) !== 0) {
    out.push({ kind: VIOLATION_KINDS.confirmed, subject, ...where, payout_ids: a.done_ids, expected: canon(a.done), actual: confirmed,
      detail: `the ledger confirmed ${confirmed}, the account's done payouts make ${canon(a.done)}` });
  }
  const reserves = new Map<string, Set<string>>();
  for (const e of events) {
    if (e.event_type !== ledgerEventType.reserve || e.type !== 'credit') continue;
    const payoutId = String(e.info?.payout_id ?? '?');
    const key = `${String(e.info?.deployment_id ?? '')}#${payoutId}`;
    reserves.set(key, (reserves.get(key) ?? new Set()).add(e.batch_id));
  }
  for (const [key, batches] of reserves) {
    if (batches.size < 2) continue;
    const payoutId = key.split('#')[1]!;
    out.push({ kind: VIOLATION_KINDS.reservedTwice, subject: `${subject}#${key}`, ...where, payout_ids: /^\d+$/.test(payoutId) ? [payoutId] : [],
      expected: '1', actual: String(batches.size), detail: `payout ${payoutId} reserved by ${batches.size} ledger batches (${[...batches].join(', ')})` });
  }
  return out;
}

export interface PaymentFacts {
  payment_id: string;
  dry_run: boolean;
  amount: string;
  reconciled: boolean;
  returned: boolean;
  payouts_amount: string;
  payout_ids: string[];
}

export const paymentSubject = (p: Pick<PaymentFacts, 'payment_id' | 'dry_run'>) => `${p.payment_id}/${p.dry_run}`;

/** What the ledger confirmed under this payment for these payouts: confirm − cancel-payout. */
export function confirmedForPayment(paymentId: string, payoutIds: ReadonlySet<string>, events: readonly LedgerEvent[]): string {
  const mine = events.filter((e) => String(e.info?.payment_id ?? '') === paymentId && payoutIds.has(String(e.info?.payout_id ?? '')));
  return sub(amountsOf(mine, ledgerEventType.confirm, 'debit'), amountsOf(mine, ledgerEventType.cancelPayout, 'credit'));
}

export function paymentFindings(p: PaymentFacts, ledgerConfirmed: string): Finding[] {
  const subject = paymentSubject(p);
  const out: Finding[] = [];
  if (cmp(p.amount, p.payouts_amount) !== 0) {
    out.push({ kind: VIOLATION_KINDS.paymentAmount, subject, payout_ids: p.payout_ids, expected: canon(p.amount), actual: canon(p.payouts_amount),
      detail: `OEBS payment ${p.payment_id} of ${canon(p.amount)}: its payouts make ${canon(p.payouts_amount)}` });
  }
  // Paid (RECONCILED applied) and not returned: the ledger confirmed the whole payment; otherwise nothing.
  const expected = p.reconciled && !p.returned ? canon(p.amount) : '0';
  if (cmp(expected, ledgerConfirmed) !== 0) {
    out.push({ kind: VIOLATION_KINDS.paymentLedger, subject, payout_ids: p.payout_ids, expected, actual: ledgerConfirmed,
      detail: `OEBS payment ${p.payment_id}${p.returned ? ' (returned)' : p.reconciled ? '' : ' (not reconciled)'}: the ledger confirmed ${ledgerConfirmed} for its payouts` });
  }
  return out;
}

/** `check/<id>`: the subject of an ARD check's violation. */
export const checkSubject = (checkId: string) => `check/${checkId}`;
export const checkOfSubject = (subject: string) => subject.slice('check/'.length);

/** What the ledger holds reserved for these payouts: reserve credits − cancel-reserve debits on payout_sent. */
export function reservedFor(payoutIds: ReadonlySet<string>, events: readonly LedgerEvent[]): string {
  const mine = events.filter((e) => payoutIds.has(String(e.info?.payout_id ?? '')));
  return sub(amountsOf(mine, ledgerEventType.reserve, 'credit'), amountsOf(mine, ledgerEventType.cancelReserve, 'debit'));
}

export function checkFindings(c: { check_id: string; amount: string; payout_ids: string[] }, ledgerReserved: string): Finding[] {
  if (cmp(c.amount, ledgerReserved) === 0) return [];
  return [{ kind: VIOLATION_KINDS.checkLedger, subject: checkSubject(c.check_id), payout_ids: c.payout_ids, expected: canon(c.amount), actual: ledgerReserved,
    detail: `ARD check ${c.check_id}: /check answers ${canon(c.amount)}, the ledger holds ${ledgerReserved} reserved for its payouts` }];
}
