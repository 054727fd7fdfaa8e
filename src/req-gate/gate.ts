// req-gate: turns payout requests into payouts. One run claims a batch of `new` requests (row
// locks, SKIP LOCKED), asks the accounts system for each client's payout accounts, and commits
// the payouts together with the requests' new status in the same transaction: a request is never
// `done` without its payouts, and payouts never exist for a request still `new`.
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Config } from '../config.ts';
import type { Sql, Tx } from '../db/connect.ts';
import { planRequestPayouts, type PayoutAccount, type PlannedPayout } from '../domain/request-payouts.ts';
import { failpoint } from '../failpoints.ts';
import type { Logger } from '../log.ts';
import { insertRequestPayouts } from '../store/payouts.ts';
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
      const outcomes = await mapLimit(claimed, 16, (req) => this.plan(req));
      await this.store(tx, outcomes);
      return outcomes;
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

  /** Everything in one statement per kind; if that fails, request by request so one bad row
   *  cannot hold back the rest of the batch. Requests to retry are left `new`. */
  private async store(tx: Tx, outcomes: Outcome[]) {
    try {
      await tx.savepoint(async (sp) => {
        await insertRequestPayouts(sp, outcomes.flatMap((o) => (o.kind === 'payouts' ? o.payouts : [])));
        await markRequestsDone(sp, outcomes.filter((o) => o.kind === 'payouts').map((o) => o.req.id));
        for (const o of outcomes) if (o.kind === 'error') await markRequestError(sp, o.req.id, o.error);
      });
    } catch (err) {
      this.deps.log.warn({ err }, 'req-gate: batch write failed, storing request by request');
      for (const o of outcomes) await this.storeOne(tx, o);
    }
    failpoint('req-gate.after-insert-payouts');
  }

  private async storeOne(tx: Tx, o: Outcome) {
    if (o.kind === 'retry') return;
    try {
      await tx.savepoint(async (sp) => {
        if (o.kind === 'error') return markRequestError(sp, o.req.id, o.error);
        await insertRequestPayouts(sp, o.payouts);
        await markRequestsDone(sp, [o.req.id]);
      });
    } catch (err) {
      const outcome: Outcome = { kind: 'error', req: o.req, error: `could not store the payouts: ${err instanceof Error ? err.message : String(err)}` };
      Object.assign(o, outcome);
      await markRequestError(tx, o.req.id, outcome.error);
    }
  }
}
