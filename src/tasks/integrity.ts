// The integrity task: per payout account touched since the last run (and every account holding
// a reservation, and every account with an open violation), the ledger against payout's tables;
// per OEBS payment applied since the last run (and every open one), the three-way
// reconciliation; per ARD check of payouts changed since the last run, /check against the ledger. The ledger is read through the accounts client only: balances and history of
// `payout_sent`, up to READ_CHUNK accounts per call. Disagreements are stored (t_violation); a
// later run that finds agreement clears them. The rules are in src/domain/integrity.ts.
//
// The sender writes the ledger first and commits the payout's status after, holding the payout's
// row lock in between; the receiver commits first and the ledger writer sends its events after
// (the ledger outbox). So payout's tables are read in one snapshot with a fingerprint of each
// account's rows, and an account whose rows changed, were locked or had events waiting in the
// ledger outbox by the end of the ledger read is not judged this run (nor cleared): only settled
// accounts can disagree.
import type { AccountsClient, Loc } from '../accounts/client.ts';
import type { Sql } from '../db/connect.ts';
import {
  ACCOUNT_KINDS, CHECK_KINDS, PAYMENT_KINDS, accountFindings, accountOfSubject, accountSubject, checkFindings, checkOfSubject, checkSubject,
  confirmedForPayment, paymentFindings, paymentSubject, reservedFor, type Finding, type LedgerEvent,
} from '../domain/integrity.ts';
import { paymentsToReconcile } from '../store/oebs-payments.ts';
import { accountExpectations, accountFingerprints, checksToReconcile } from '../store/payouts.ts';
import { clearAgreeing, openSubjects, recordFindings } from '../store/tasks.ts';
import { mapLimit } from '../worker/concurrency.ts';
import { MAX_SPLITS, SplitBudget, halves } from '../worker/isolate.ts';

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
  /** Accounts busy (locked or changed) during the run, or that the ledger could not read: left for the next one. */
  deferred: number;
  findings: Finding[];
}

interface LedgerView { balance: { debit: string; credit: string }; events: LedgerEvent[] }

/**
 * The ledger's view of these accounts. A read that fails is tried again on halves (within a
 * budget: an accounts system that is down fails the run, as before), so an account the accounts
 * system cannot serve is left unread — and unjudged this run — instead of blinding the check for
 * every other account.
 */
async function readLedger(accounts: AccountsClient, subjects: string[], timeoutMs: number): Promise<Map<string, LedgerView>> {
  const chunks: string[][] = [];
  for (let i = 0; i < subjects.length; i += READ_CHUNK) chunks.push(subjects.slice(i, i + READ_CHUNK));
  const out = new Map<string, LedgerView>();
  // No transaction waits on this read: a few accounts timeouts of splitting are affordable.
  const budget = new SplitBudget(MAX_SPLITS, 3 * timeoutMs);
  const read = async (chunk: string[]): Promise<void> => {
    try {
      const locs = chunk.map(sentLoc);
      const res = await accounts.read({ balances: locs.map((loc) => ({ loc })), history: locs.map((loc) => ({ loc })) });
      if (res.balances.length !== chunk.length || res.history.length !== chunk.length) {
        throw new Error(`integrity: the ledger answered ${res.balances.length} balances and ${res.history.length} histories for ${chunk.length} accounts`);
      }
      chunk.forEach((s, i) => out.set(s, { balance: res.balances[i]!, events: res.history[i]!.events }));
    } catch (err) {
      if (chunk.length === 1) return; // this account waits for a run that can read it
      if (!budget.take()) throw err;
      const [a, b] = halves(chunk);
      await read(a);
      await read(b);
    }
  };
  await mapLimit(chunks, 4, read);
  return out;
}

export async function runIntegrity(deps: { sql: Sql; accounts: AccountsClient; readTimeoutMs?: number }, since: Date): Promise<IntegrityResult> {
  const { sql } = deps;
  const from = new Date(since.getTime() - LOOKBACK_MS);
  // One snapshot for everything read from payout's tables, with the accounts' fingerprints.
  const snap = await sql.begin('isolation level repeatable read', async (tx) => {
    const [openAccounts, openPayments, openChecks] = await Promise.all([
      openSubjects(tx, ACCOUNT_KINDS), openSubjects(tx, PAYMENT_KINDS), openSubjects(tx, CHECK_KINDS),
    ]);
    const expected = await accountExpectations(tx, from, [...new Set(openAccounts.map(accountOfSubject))]);
    const payments = await paymentsToReconcile(tx, from, openPayments);
    const checks = await checksToReconcile(tx, from, openChecks.map(checkOfSubject));
    const subjects = [...new Set([...expected.map(accountSubject), ...payments.flatMap((p) => p.accounts), ...checks.flatMap((c) => c.accounts)])];
    const before = await accountFingerprints(tx, subjects, false);
    return { openAccounts, expected, payments, checks, subjects, before };
  });
  const { openAccounts, expected, payments, checks, subjects } = snap;
  const ledger = await readLedger(deps.accounts, subjects, deps.readTimeoutMs ?? 5_000);
  // An account a gate changed, or holds locked, or with ledger events still in the outbox, may
  // show a ledger write without its status commit or the reverse: it is judged by the next run.
  const after = new Map((await accountFingerprints(sql, subjects, true)).map((a) => [a.subject, a]));
  const settled = new Set(snap.before.filter((b) => ledger.has(b.subject) && after.get(b.subject)?.fp === b.fp && after.get(b.subject)?.locked === 0).map((b) => b.subject));
  const allSettled = (accs: string[]) => accs.every((a) => settled.has(a));

  const findings: Finding[] = [];
  const checkedAccounts = expected.filter((a) => settled.has(accountSubject(a)));
  for (const a of checkedAccounts) {
    const l = ledger.get(accountSubject(a))!;
    findings.push(...accountFindings(a, l.balance, l.events));
  }
  const checkedPayments = payments.filter((p) => allSettled(p.accounts));
  for (const p of checkedPayments) {
    const events = p.accounts.flatMap((a) => ledger.get(a)?.events ?? []);
    findings.push(...paymentFindings(p, confirmedForPayment(p.payment_id, new Set(p.payout_ids), events)));
  }
  const checkedChecks = checks.filter((c) => allSettled(c.accounts));
  for (const c of checkedChecks) {
    const events = c.accounts.flatMap((a) => ledger.get(a)?.events ?? []);
    findings.push(...checkFindings(c, reservedFor(new Set(c.payout_ids), events)));
  }
  await recordFindings(sql, findings);
  const disagreeing = findings.map((f) => `${f.kind} ${f.subject}`);
  // An account's reserved-twice subjects are cleared when the account was checked and no longer shows them.
  const checked = new Set(checkedAccounts.map(accountSubject));
  const checkedAccountSubjects = [...checked, ...openAccounts.filter((s) => s.includes('#') && checked.has(accountOfSubject(s)))];
  await clearAgreeing(sql, ACCOUNT_KINDS, checkedAccountSubjects, disagreeing);
  await clearAgreeing(sql, PAYMENT_KINDS, checkedPayments.map(paymentSubject), disagreeing);
  await clearAgreeing(sql, CHECK_KINDS, checkedChecks.map((c) => checkSubject(c.check_id)), disagreeing);
  return {
    accounts: checkedAccounts.length, payments: checkedPayments.length, checks: checkedChecks.length,
    deferred: subjects.length - settled.size, findings,
  };
}
