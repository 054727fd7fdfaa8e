// The integrity task: per payout account touched since the last run (and every account holding
// a reservation, and every account with an open violation), the ledger against payout's tables;
// per OEBS payment applied since the last run (and every open one), the three-way
// reconciliation; per ARD check of payouts changed since the last run, /check against the ledger. The ledger is read through the accounts client only: balances and history of
// `payout_sent`, up to READ_CHUNK accounts per call. Disagreements are stored (t_violation); a
// later run that finds agreement clears them. The rules are in src/domain/integrity.ts.
import type { AccountsClient, Loc } from '../accounts/client.ts';
import type { Sql } from '../db/connect.ts';
import {
  ACCOUNT_KINDS, CHECK_KINDS, PAYMENT_KINDS, accountFindings, accountOfSubject, accountSubject, checkFindings, checkOfSubject, checkSubject,
  confirmedForPayment, paymentFindings, paymentSubject, reservedFor, type Finding, type LedgerEvent,
} from '../domain/integrity.ts';
import { paymentsToReconcile } from '../store/oebs-payments.ts';
import { accountExpectations, checksToReconcile } from '../store/payouts.ts';
import { clearAgreeing, openSubjects, recordFindings } from '../store/tasks.ts';
import { mapLimit } from '../worker/concurrency.ts';

const READ_CHUNK = 500;
/**
 * How far before the last run's start the next run looks: a transaction that stamped updated_at
 * before the watermark may commit after it. Re-checking a few minutes twice costs little.
 */
const LOOKBACK_MS = 10 * 60_000;

const sentLoc = (subject: string): Loc => {
  const [namespace, client_id, contract_id, service_id, currency] = subject.split('/');
  return { namespace: namespace!, type: 'payout_sent', client_id: client_id!, contract_id, service_id, currency };
};

export interface IntegrityResult {
  accounts: number;
  payments: number;
  checks: number;
  findings: Finding[];
}

interface LedgerView { balance: { debit: string; credit: string }; events: LedgerEvent[] }

async function readLedger(accounts: AccountsClient, subjects: string[]): Promise<Map<string, LedgerView>> {
  const chunks: string[][] = [];
  for (let i = 0; i < subjects.length; i += READ_CHUNK) chunks.push(subjects.slice(i, i + READ_CHUNK));
  const out = new Map<string, LedgerView>();
  await mapLimit(chunks, 4, async (chunk) => {
    const locs = chunk.map(sentLoc);
    const res = await accounts.read({ balances: locs.map((loc) => ({ loc })), history: locs.map((loc) => ({ loc })) });
    if (res.balances.length !== chunk.length || res.history.length !== chunk.length) {
      throw new Error(`integrity: the ledger answered ${res.balances.length} balances and ${res.history.length} histories for ${chunk.length} accounts`);
    }
    chunk.forEach((s, i) => out.set(s, { balance: res.balances[i]!, events: res.history[i]!.events }));
  });
  return out;
}

export async function runIntegrity(deps: { sql: Sql; accounts: AccountsClient }, since: Date): Promise<IntegrityResult> {
  const { sql } = deps;
  const from = new Date(since.getTime() - LOOKBACK_MS);
  const [openAccounts, openPayments, openChecks] = await Promise.all([
    openSubjects(sql, ACCOUNT_KINDS), openSubjects(sql, PAYMENT_KINDS), openSubjects(sql, CHECK_KINDS),
  ]);
  const [expected, payments, checks] = await Promise.all([
    accountExpectations(sql, from, [...new Set(openAccounts.map(accountOfSubject))]),
    paymentsToReconcile(sql, from, openPayments),
    checksToReconcile(sql, from, openChecks.map(checkOfSubject)),
  ]);
  const subjects = [...new Set([...expected.map(accountSubject), ...payments.flatMap((p) => p.accounts), ...checks.flatMap((c) => c.accounts)])];
  const ledger = await readLedger(deps.accounts, subjects);

  const findings: Finding[] = [];
  for (const a of expected) {
    const l = ledger.get(accountSubject(a))!;
    findings.push(...accountFindings(a, l.balance, l.events));
  }
  for (const p of payments) {
    const events = p.accounts.flatMap((s) => ledger.get(s)?.events ?? []);
    findings.push(...paymentFindings(p, confirmedForPayment(p.payment_id, new Set(p.payout_ids), events)));
  }
  for (const c of checks) {
    const events = c.accounts.flatMap((s) => ledger.get(s)?.events ?? []);
    findings.push(...checkFindings(c, reservedFor(new Set(c.payout_ids), events)));
  }
  await recordFindings(sql, findings);
  const disagreeing = findings.map((f) => `${f.kind} ${f.subject}`);
  // An account's reserved-twice subjects are cleared when the account was checked and no longer shows them.
  const checked = new Set(expected.map(accountSubject));
  const checkedAccountSubjects = [...checked, ...openAccounts.filter((s) => s.includes('#') && checked.has(accountOfSubject(s)))];
  await clearAgreeing(sql, ACCOUNT_KINDS, checkedAccountSubjects, disagreeing);
  await clearAgreeing(sql, PAYMENT_KINDS, payments.map(paymentSubject), disagreeing);
  await clearAgreeing(sql, CHECK_KINDS, checks.map((c) => checkSubject(c.check_id)), disagreeing);
  return { accounts: expected.length, payments: payments.length, checks: checks.length, findings };
}
