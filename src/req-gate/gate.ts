// req-gate: turns payout requests into payouts. One run claims a batch of `new` requests (row
// locks, SKIP LOCKED), asks the accounts system for each client's payout accounts, and commits
// the payouts together with the requests' new status in the same transaction: a request is never
// `done` without its payouts, and payouts never exist for a request still `new`.
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Config } from '../config.ts';
import type { Sql, Tx } from '../db/connect.ts';
import { planRequestPayouts, plannedPayoutDifferences, type PayoutAccount, type PlannedPayout } from '../domain/request-payouts.ts';
import { failpoint } from '../failpoints.ts';
import type { Logger } from '../log.ts';
import { findRequestPayoutsByKeys, insertRequestPayouts, type RequestPayoutKey } from '../store/payouts.ts';
import { claimNewRequests, markRequestError, markRequestsDone, type ClaimedRequest } from '../store/requests.ts';
import { mapLimit } from '../worker/concurrency.ts';
import type { RunResult } from '../worker/loop.ts';

/** What req-gate needs of the accounts system. */
export interface PayoutAccountsSource {
  /** The client's accounts of type `payout` in the namespace. Throws an error with
   *  `kind: 'retry'` for transient failures; any other `kind` is permanent for this request. */
  listPayoutAccounts(namespace: string, clientId: string): Promise<PayoutAccount[]>;
}

type Outcome =
  | { kind: 'payouts'; req: ClaimedRequest; payouts: PlannedPayout[] }
  | { kind: 'error'; req: ClaimedRequest; error: string }
  | { kind: 'retry'; req: ClaimedRequest; reason: string };

const isPermanent = (err: unknown) => {
  const kind = (err as { kind?: unknown })?.kind;
  return kind !== undefined && kind !== 'retry';
};

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
    const started = performance.now();
    const outcomes = await sql.begin(async (tx) => {
      const claimed = await claimNewRequests(tx, config.reqGate.limit);
      if (!claimed.length) return [];
      return this.store(tx, await mapLimit(claimed, 16, (req) => this.plan(req)));
    });
    if (!outcomes.length) return { count: 0, full: false };
    const counts = { done: 0, error: 0, retry: 0, payouts: 0 };
    for (const o of outcomes) {
      const outcome = o.kind === 'payouts' ? 'done' : o.kind;
      counts[outcome]++;
      this.processed.inc({ outcome });
      if (o.kind === 'payouts') counts.payouts += o.payouts.length;
    }
    const seconds = (performance.now() - started) / 1000;
    this.duration.observe(seconds);
    const retries = outcomes.filter((o) => o.kind === 'retry').slice(0, 3).map((o) => (o as { reason: string }).reason);
    log.info({ claimed: outcomes.length, ...counts, ms: Math.round(seconds * 1000), retries }, 'req-gate batch');
    return { count: outcomes.length, full: outcomes.length >= config.reqGate.limit && counts.retry < outcomes.length };
  }

  private async plan(req: ClaimedRequest): Promise<Outcome> {
    let accounts: PayoutAccount[];
    try {
      accounts = await this.deps.accounts.listPayoutAccounts(req.namespace, req.client_id);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (isPermanent(err)) return { kind: 'error', req, error: `accounts system refused the request: ${message}` };
      return { kind: 'retry', req, reason: message };
    }
    const approve = this.deps.config.approveRequired;
    const plan = planRequestPayouts(req, accounts, approve === 'global' || approve.includes(req.namespace));
    return plan.ok ? { kind: 'payouts', req, payouts: plan.payouts } : { kind: 'error', req, error: plan.error };
  }

  /** Everything in one statement per kind; if that fails, request by request so one bad request
   *  cannot hold back the rest of the batch. Requests to retry are left `new`. Returns the
   *  outcomes as stored (a request whose payouts could not be stored became an error). */
  private async store(tx: Tx, outcomes: Outcome[]): Promise<Outcome[]> {
    let stored = outcomes;
    try {
      await tx.savepoint(async (sp) => {
        await insertPlannedPayouts(sp, outcomes.flatMap((o) => (o.kind === 'payouts' ? o.payouts : [])));
        await markRequestsDone(sp, outcomes.filter((o) => o.kind === 'payouts').map((o) => o.req.id));
        for (const o of outcomes) if (o.kind === 'error') await markRequestError(sp, o.req.id, o.error);
      });
    } catch (err) {
      this.deps.log.warn({ err }, 'req-gate: batch write failed, storing request by request');
      stored = [];
      for (const o of outcomes) stored.push(await this.storeOne(tx, o));
    }
    failpoint('req-gate.after-insert-payouts');
    return stored;
  }

  private async storeOne(tx: Tx, o: Outcome): Promise<Outcome> {
    if (o.kind === 'retry') return o;
    try {
      await tx.savepoint(async (sp) => {
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
