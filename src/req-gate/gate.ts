// req-gate: turns payout requests into payouts. One round (src/worker/round.ts) claims a batch of
// `new` requests (row locks, SKIP LOCKED), asks the accounts system for the payout accounts of all
// their clients in one call per namespace, and commits the payouts together with the requests' new
// status in the same transaction: a request is never `done` without its payouts, and payouts never
// exist for a request still `new`. A transient failure of the accounts call counts an attempt and
// defers the request (src/domain/retry.ts); the last allowed attempt parks it in `error`.
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Config } from '../config.ts';
import type { Sql, Tx } from '../db/connect.ts';
import { planRequestPayouts, plannedPayoutDifferences, type PayoutAccount, type PlannedPayout } from '../domain/request-payouts.ts';
import { failpoint } from '../failpoints.ts';
import type { Logger } from '../log.ts';
import { findRequestPayoutsByKeys, insertRequestPayouts, type RequestPayoutKey } from '../store/payouts.ts';
import { afterFailure } from '../domain/retry.ts';
import { claimNewRequests, deferRequests, markRequestError, markRequestsDone, parkRequests, type ClaimedRequest } from '../store/requests.ts';
import { MAX_SPLITS, SplitBudget, halves } from '../worker/isolate.ts';
import { mapLimit } from '../worker/concurrency.ts';
import type { RunResult } from '../worker/loop.ts';
import { runRound } from '../worker/round.ts';
import { accountsVerdict } from '../accounts/errors.ts';

/** What req-gate needs of the accounts system. */
export interface PayoutAccountsSource {
  /** The accounts of type `payout` of these clients in the namespace, in one call. Throws an
   *  AccountsError (see accountsVerdict) when the call fails. */
  listPayoutAccounts(namespace: string, clientIds: string[]): Promise<PayoutAccount[]>;
}

type Outcome =
  | { kind: 'payouts'; req: ClaimedRequest; payouts: PlannedPayout[] }
  | { kind: 'error'; req: ClaimedRequest; error: string }
  /** Decided: the accounts call failed for a transient reason; store counts the attempt. */
  | { kind: 'failed'; req: ClaimedRequest; reason: string }
  /** Stored: the attempt counted, the request waits `delayMs` for the next one. */
  | { kind: 'deferred'; req: ClaimedRequest; reason: string; attempts: number; delayMs: number }
  /** Stored: that was the last attempt allowed; the request is `error` until retried. */
  | { kind: 'parked'; req: ClaimedRequest; error: string; lastError: string; attempts: number };

export interface ReqGateDeps {
  config: Readonly<Config>;
  sql: Sql;
  accounts: PayoutAccountsSource;
  log: Logger;
  registry?: Registry;
}

export class ReqGate {
  private readonly processed: Counter<'outcome'>;
  private readonly duration: Histogram;

  constructor(private readonly deps: ReqGateDeps) {
    const registers = deps.registry ? [deps.registry] : [];
    this.processed = new Counter({ name: 'payout_req_gate_requests_total', help: 'requests processed by outcome', labelNames: ['outcome'], registers });
    this.duration = new Histogram({ name: 'payout_req_gate_batch_seconds', help: 'req-gate batch duration', registers });
  }

  async runOnce(): Promise<RunResult> {
    const { config, sql, log } = this.deps;
    const round = await runRound(sql, {
      claim: (tx) => claimNewRequests(tx, config.reqGate.limit),
      decide: (requests) => this.plan(requests),
      store: (tx, outcomes) => this.store(tx, outcomes),
      isRetry: (o) => o.kind === 'deferred',
    }, { limit: config.reqGate.limit, idleMs: config.accounts.timeoutMs + 5_000, statementMs: 60_000 });
    if (!round.outcomes.length) return { count: 0, full: false };
    let payouts = 0;
    for (const o of round.outcomes) {
      this.processed.inc({ outcome: o.kind === 'payouts' ? 'done' : o.kind });
      if (o.kind === 'payouts') payouts += o.payouts.length;
    }
    this.duration.observe(round.ms / 1000);
    const retries = round.outcomes.flatMap((o) => (o.kind === 'deferred' ? [o.reason] : [])).slice(0, 3);
    for (const o of round.outcomes) if (o.kind === 'parked') log.error({ requestId: o.req.id, error: o.error }, 'req-gate: request parked in error after its last attempt');
    log.info({ claimed: round.outcomes.length, ...round.counts, payouts, ms: Math.round(round.ms), retries }, 'req-gate batch');
    return { count: round.outcomes.length, full: round.full };
  }

  /** One accounts call per namespace for all the clients of the claim, then pure plans. */
  private async plan(requests: ClaimedRequest[]): Promise<Outcome[]> {
    const namespaces = [...new Set(requests.map((r) => r.namespace))];
    const list = async (ns: string, clients: string[]) => {
      try {
        return { ns, clients, accounts: await this.deps.accounts.listPayoutAccounts(ns, clients) };
      } catch (err) {
        return { ns, clients, err };
      }
    };
    const budget = new SplitBudget(MAX_SPLITS, this.deps.config.accounts.timeoutMs);
    type Listed = Awaited<ReturnType<typeof list>>;
    const isolated = async (ns: string, clients: string[]): Promise<Listed[]> => {
      const all = await list(ns, clients);
      if (!('err' in all) || clients.length === 1) return [all];
      // A refusal of the whole call names no client: ask for each on its own, so it fails only its requests.
      if (accountsVerdict(all.err) === 'refused') return mapLimit(clients, 16, (c) => list(ns, [c]));
      // A transient failure may be one client's: halves, so it is counted against that client's requests only.
      if (!budget.take()) return [all];
      const [a, b] = halves(clients);
      return [...(await isolated(ns, a)), ...(await isolated(ns, b))];
    };
    const listed = (await Promise.all(namespaces.map((ns) =>
      isolated(ns, [...new Set(requests.filter((r) => r.namespace === ns).map((r) => r.client_id))])))).flat();
    const approve = this.deps.config.approveRequired;
    return requests.map((req): Outcome => {
      const got = listed.find((l) => l.ns === req.namespace && l.clients.includes(req.client_id))!;
      if ('err' in got) {
        const message = got.err instanceof Error ? got.err.message : String(got.err);
        return accountsVerdict(got.err) === 'refused'
          ? { kind: 'error', req, error: `accounts system refused the request: ${message}` }
          : { kind: 'failed', req, reason: message };
      }
      const mine = got.accounts.filter((a) => a.client_id === req.client_id);
      const plan = planRequestPayouts(req, mine, approve === 'global' || approve.includes(req.namespace));
      return plan.ok ? { kind: 'payouts', req, payouts: plan.payouts } : { kind: 'error', req, error: plan.error };
    });
  }

  /** A failed attempt becomes deferred, or parked when it was the last one allowed. */
  private counted(o: Outcome): Outcome {
    if (o.kind !== 'failed') return o;
    const next = afterFailure(o.req.attempts, o.reason, this.deps.config.retry);
    return next.kind === 'park'
      ? { kind: 'parked', req: o.req, error: next.error, lastError: o.reason, attempts: next.attempts }
      : { kind: 'deferred', req: o.req, reason: o.reason, attempts: next.attempts, delayMs: next.delayMs };
  }

  /** Everything in one statement per kind; if that fails, request by request so one bad request
   *  cannot hold back the rest of the batch. Returns the outcomes as stored (a request whose
   *  payouts could not be stored became an error). */
  private async store(tx: Tx, decided: Outcome[]): Promise<Outcome[]> {
    const outcomes = decided.map((o) => this.counted(o));
    let stored = outcomes;
    try {
      await tx.savepoint(async (sp) => {
        await insertPlannedPayouts(sp, outcomes.flatMap((o) => (o.kind === 'payouts' ? o.payouts : [])));
        await markRequestsDone(sp, outcomes.filter((o) => o.kind === 'payouts').map((o) => o.req.id));
        for (const o of outcomes) if (o.kind === 'error') await markRequestError(sp, o.req.id, o.error);
        await this.writeAttempts(sp, outcomes);
      });
    } catch (err) {
      this.deps.log.warn({ err }, 'req-gate: batch write failed, storing request by request');
      stored = [];
      for (const o of outcomes) stored.push(await this.storeOne(tx, o));
    }
    failpoint('req-gate.after-insert-payouts');
    return stored;
  }

  private async writeAttempts(tx: Tx, outcomes: Outcome[]) {
    await deferRequests(tx, outcomes.flatMap((o) => (o.kind === 'deferred' ? [{ id: o.req.id, attempts: o.attempts, error: o.reason, delayMs: o.delayMs }] : [])));
    await parkRequests(tx, outcomes.flatMap((o) => (o.kind === 'parked' ? [{ id: o.req.id, attempts: o.attempts, lastError: o.lastError, error: o.error }] : [])));
  }

  private async storeOne(tx: Tx, o: Outcome): Promise<Outcome> {
    try {
      await tx.savepoint(async (sp) => {
        if (o.kind === 'deferred' || o.kind === 'parked') return this.writeAttempts(sp, [o]);
        if (o.kind === 'failed') throw new Error('a failed attempt is stored as deferred or parked');
        if (o.kind === 'error') return markRequestError(sp, o.req.id, o.error);
        await insertPlannedPayouts(sp, o.payouts);
        await markRequestsDone(sp, [o.req.id]);
      });
      return o;
    } catch (err) {
      const error = `could not store the payouts: ${err instanceof Error ? err.message : String(err)}`;
      // Loud on purpose: a request that cannot get the payouts it planned must never end `done`.
      this.deps.log.error({ err, requestId: o.req.id }, 'req-gate: request failed, its payouts could not be stored');
      await markRequestError(tx, o.req.id, error);
      return { kind: 'error', req: o.req, error };
    }
  }
}

/**
 * Inserts planned payouts and checks that each one is now stored as planned: inserted by this
 * call, or found under its key as the very payout planned before (the request processed again).
 * A key held by anything else throws, failing the request rather than letting it end `done`
 * with a payout it did not plan. The message names the differing fields, not their values.
 */
async function insertPlannedPayouts(tx: Tx, planned: readonly PlannedPayout[]): Promise<void> {
  const key = (p: RequestPayoutKey) => `${p.request_id}/${p.contract_id}/${p.service_id}/${p.currency}`;
  const inserted = new Set((await insertRequestPayouts(tx, planned)).map(key));
  const skipped = planned.filter((p) => !inserted.has(key(p)));
  if (!skipped.length) return;
  const found = new Map((await findRequestPayoutsByKeys(tx, skipped)).map((row) => [key(row), row]));
  for (const p of skipped) {
    const row = found.get(key(p));
    const where = `request ${p.request_id}, contract ${p.contract_id}, service ${p.service_id}, ${p.currency}`;
    if (!row) throw new Error(`the payout of ${where} was neither inserted nor found`);
    const diff = plannedPayoutDifferences(p, row);
    if (diff.length) throw new Error(`a payout of ${where} exists already and differs from the planned one in ${diff.join(', ')}`);
  }
}
