// oebs-gate's sender: reserves the money of new payouts in the ledger and publishes them to OEBS,
// batch-first. One round (src/worker/round.ts) claims up to PAYOUT_SENDER_LIMIT payouts (row
// locks, SKIP LOCKED) and, while holding them:
//
//   1. ledger, in waves: wave k takes the k-th payout of every account in the claim (payouts of one
//      account never race: the second reads what the first reserved). Per wave ONE locking read
//      (every account's lock, balance and history since its previous reservation) and ONE write
//      call with every reservation, each releasing its account's lock in the same batch;
//   2. decisions in between are pure (src/domain/sender-decision.ts); a payout whose earlier
//      attempt already reserved (a crash between reserve and commit) reuses that reservation;
//   3. store: CPFs, statuses and outbox messages of the whole round with one statement per kind,
//      committing together with nothing else or not at all.
//
// A failure of one account (its lock busy, its write refused) leaves that payout `new` or rejects
// it; the others go on. A transient failure of a whole call is tried again on halves of the wave
// (within a budget, src/worker/isolate.ts), so it is counted against the failing accounts'
// payouts only: each such payout counts a failed attempt and waits out its backoff; the last
// attempt allowed parks it (src/domain/retry.ts). The next attempt finds whatever did land, by
// the payouts' ledger keys.
//
// A parked payout holds nothing in payout's tables (never stored as reserved, never published).
// A reservation of one of its attempts may have landed unanswered (a timeout, a crash before the
// commit): it stays on payout_sent under the payout's key, integrity counts it as this payout's,
// and the payout reuses it when a person retries it.
import { Counter, Histogram, type Registry } from 'prom-client';
import { accountsVerdict } from '../accounts/errors.ts';
import { minorDecimalsOf, type Config } from '../config.ts';
import type { Sql, Tx } from '../db/connect.ts';
import { cmp, isPositive, isWholeMinor, toMinorText } from '../domain/money.ts';
import { newPayoutMessage } from '../domain/oebs-messages.ts';
import { afterFailure } from '../domain/retry.ts';
import { decidePayout } from '../domain/sender-decision.ts';
import { FailpointError, failpoint } from '../failpoints.ts';
import type { Logger } from '../log.ts';
import { insertCpfs } from '../store/cpf.ts';
import {
  claimSendablePayouts, deferPayouts, markPayoutsDoneEmpty, markPayoutsPending, markPayoutsRejected, parkPayouts, setHistoryActor, type SendablePayout,
} from '../store/payouts.ts';
import { MAX_SPLITS, SplitBudget, halves } from '../worker/isolate.ts';
import type { RunResult } from '../worker/loop.ts';
import { runRound } from '../worker/round.ts';
import type { AccountRef, AccountView, LedgerReservation, Publisher, Reservation, SenderLedger } from './ports.ts';

type Outcome =
  | { kind: 'reserved'; p: SendablePayout; r: LedgerReservation }
  | { kind: 'zero'; p: SendablePayout; dryRun: boolean }
  | { kind: 'reject'; p: SendablePayout; error: string }
  /** Not tried this round (its account's lock busy, an earlier payout of its account left for later): due again at once. */
  | { kind: 'retry'; p: SendablePayout; reason: string }
  /** Decided: an accounts call of this payout failed for a transient reason; store counts the attempt. */
  | { kind: 'failed'; p: SendablePayout; reason: string }
  /** Stored: the attempt counted; the payout waits `delayMs` for the next one. */
  | { kind: 'deferred'; p: SendablePayout; reason: string; attempts: number; delayMs: number }
  /** Stored: that was the last attempt allowed; the payout is `parked` until retried. */
  | { kind: 'parked'; p: SendablePayout; error: string; lastError: string; attempts: number };

export interface SenderDeps {
  config: Readonly<Config>;
  sql: Sql;
  ledger: SenderLedger;
  publisher: Publisher;
  /** Topic of the new-payout messages of a namespace (the -dry twin for dry-run payouts). */
  newPayoutTopic: (namespace: string, dryRun: boolean) => string;
  log: Logger;
  registry?: Registry;
}

const accountOf = (p: SendablePayout): AccountRef => ({
  namespace: p.namespace, client_id: p.client_id, contract_id: p.contract_id, service_id: p.service_id, currency: p.currency,
});
const accountKey = (p: SendablePayout) => JSON.stringify(accountOf(p));
const keyOf = (p: SendablePayout) => ({ deploymentId: p.deployment_id, payoutId: p.id, createdAt: p.created_at });
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));
const retry = (p: SendablePayout, reason: string): Outcome => ({ kind: 'retry', p, reason });
const failed = (p: SendablePayout, reason: string): Outcome => ({ kind: 'failed', p, reason });
const leftForLater = (o: Outcome) => o.kind === 'retry' || o.kind === 'failed';
/** Who parks payouts, in their history. */
const ACTOR = 'oebs-gate';

export class Sender {
  private readonly handled: Counter<'outcome'>;
  private readonly duration: Histogram;

  constructor(private readonly deps: SenderDeps) {
    const registers = deps.registry ? [deps.registry] : [];
    this.handled = new Counter({ name: 'payout_sender_payouts_total', help: 'payouts handled by the sender, by outcome', labelNames: ['outcome'], registers });
    this.duration = new Histogram({ name: 'payout_sender_batch_seconds', help: 'sender batch duration', registers });
  }

  async runOnce(): Promise<RunResult> {
    const { config, sql, log } = this.deps;
    const round = await runRound(sql, {
      claim: (tx) => claimSendablePayouts(tx, config.oebsGate.limit),
      decide: (payouts) => this.decide(payouts),
      store: async (tx, outcomes) => {
        const stored = await this.store(tx, outcomes);
        failpoint('sender.before-commit');
        return stored;
      },
      isRetry: (o) => o.kind === 'retry' || o.kind === 'deferred',
    }, {
      limit: config.oebsGate.limit,
      // A wave is two accounts calls, each bounded by the accounts timeout; the claim must
      // outlive them (and no more: a stalled process lets its rows go).
      idleMs: 2 * config.accounts.timeoutMs + 5_000,
      statementMs: 60_000,
    });
    if (!round.outcomes.length) return { count: 0, full: false };
    failpoint('sender.after-commit'); // committed; the relay has not moved the messages yet
    for (const o of round.outcomes) this.handled.inc({ outcome: o.kind });
    this.duration.observe(round.ms / 1000);
    const retries = round.outcomes.flatMap((o) => (o.kind === 'retry' || o.kind === 'deferred' ? [`${o.p.id}: ${o.reason}`] : [])).slice(0, 3);
    for (const o of round.outcomes) if (o.kind === 'parked') log.error({ payout: o.p.id, error: o.error }, 'sender: payout parked after its last attempt');
    log.info({ claimed: round.outcomes.length, ...round.counts, ms: Math.round(round.ms), retries }, 'sender batch');
    return { count: round.outcomes.length, full: round.full };
  }

  /** The ledger part: waves of at most one payout per account, no database writes. */
  private async decide(payouts: SendablePayout[]): Promise<Outcome[]> {
    const queues = new Map<string, SendablePayout[]>();
    for (const p of payouts) queues.set(accountKey(p), [...(queues.get(accountKey(p)) ?? []), p]);
    // Where each account's history starts: its latest reservation, ours of this round included.
    const position = new Map([...queues].map(([k, ps]) => [k, ps[0]!.previous_reserve_batch_id]));
    const outcomes = new Map<string, Outcome>();
    const budget = new SplitBudget(MAX_SPLITS, this.deps.config.accounts.timeoutMs);
    while (queues.size) {
      const wave = [...queues.values()].map((q) => q.shift()!);
      for (const o of await this.wave(wave, position, budget)) {
        const k = accountKey(o.p);
        outcomes.set(o.p.id, o);
        if (o.kind === 'reserved') position.set(k, o.r.batchId);
        // A payout left for later holds back the rest of its account: they pay what it leaves.
        if (leftForLater(o)) for (const later of queues.get(k) ?? []) outcomes.set(later.id, retry(later, `waits for payout ${o.p.id} of its account`));
        if (leftForLater(o) || !queues.get(k)?.length) queues.delete(k);
      }
    }
    return payouts.map((p) => outcomes.get(p.id)!);
  }

  /** One wave: a payout per account, one locking read and one write for all of them. */
  private async wave(ps: SendablePayout[], position: ReadonlyMap<string, string | null>, budget: SplitBudget): Promise<Outcome[]> {
    const { ledger, config } = this.deps;
    let views: AccountView[];
    try {
      views = await ledger.lockAndRead(ps.map((p) => ({ account: accountOf(p), key: keyOf(p), fromBatchId: position.get(accountKey(p)) ?? null })));
    } catch (err) {
      return this.callFailed(ps, err, 'the locking read', position, budget);
    }
    failpoint('sender.after-lock');
    const outcomes: (Outcome | undefined)[] = [];
    const toReserve: { i: number; lockUid: string; r: Reservation }[] = [];
    const unsent: number[] = []; // decided not to send: checked for an earlier reservation first
    ps.forEach((p, i) => {
      const v = views[i]!;
      if (!v.locked) return void (outcomes[i] = retry(p, v.reason));
      if (v.earlier) return void (outcomes[i] = this.reuse(p, v.earlier));
      const d = decidePayout(p, v, { decimals: minorDecimalsOf(config, p.currency), processDryRun: config.money.processDryRun, allowedNs: config.allowedNs });
      if (d.kind === 'send') return void toReserve.push({ i, lockUid: v.lockUid, r: { amount: d.amount, dryRun: d.dryRun, cpfs: d.cpfs } });
      outcomes[i] = d.kind === 'zero' ? { kind: 'zero', p, dryRun: d.dryRun } : { kind: 'reject', p, error: d.error };
      unsent.push(i);
    });
    const [own] = await Promise.all([
      // Before finishing a payout without money, make sure no earlier attempt of it holds some:
      // its reservation may sit before the position its history was read from.
      ledger.ownReservations(unsent.map((i) => ({ key: keyOf(ps[i]!), account: accountOf(ps[i]!) }))).catch((err: unknown) => err),
      ledger.unlock(ps.flatMap((p, i) => {
        const v = views[i]!;
        return v.locked && !toReserve.some((x) => x.i === i) ? [{ account: accountOf(p), lockUid: v.lockUid }] : [];
      })),
    ]);
    unsent.forEach((i, j) => {
      if (!Array.isArray(own)) outcomes[i] = failed(ps[i]!, `could not check for an earlier reservation: ${messageOf(own)}`);
      else if (own[j]) outcomes[i] = this.reuse(ps[i]!, own[j]!);
    });
    if (toReserve.length) {
      const items = toReserve.map((x) => ({ key: keyOf(ps[x.i]!), account: accountOf(ps[x.i]!), lockUid: x.lockUid, r: x.r }));
      try {
        const results = await ledger.reserve(items);
        failpoint('sender.after-reserve');
        results.forEach((res, j) => {
          const p = ps[toReserve[j]!.i]!;
          outcomes[toReserve[j]!.i] = res.kind === 'held' ? this.reuse(p, res.r)
            : res.kind === 'retry' ? failed(p, res.reason) : this.refused(p, res.reason);
        });
      } catch (err) {
        if (err instanceof FailpointError) throw err; // a test's crash: the round dies, as a killed process would
        // The write may or may not have landed: the next round finds what did, by its keys.
        await ledger.unlock(items);
        const again = await this.callFailed(toReserve.map((x) => ps[x.i]!), err, 'the reservation write', position, budget);
        again.forEach((o, j) => (outcomes[toReserve[j]!.i] = o));
      }
    }
    return outcomes.map((o) => o!);
  }

  /**
   * A whole call failed; the answer names no payout. Transient: the wave is tried again in halves
   * while the round's budget allows, so the failure is counted against the failing accounts'
   * payouts only; beyond the budget every payout of the call counts a failed attempt. Refused:
   * each is tried again on its own (a refusal of one payout's read or write then rejects that
   * payout only).
   */
  private async callFailed(
    ps: SendablePayout[], err: unknown, what: string, position: ReadonlyMap<string, string | null>, budget: SplitBudget,
  ): Promise<Outcome[]> {
    if (accountsVerdict(err) === 'retry') {
      if (ps.length === 1 || !budget.take()) return ps.map((p) => failed(p, `${what}: ${messageOf(err)}`));
      const [a, b] = halves(ps);
      return [...(await this.wave(a, position, budget)), ...(await this.wave(b, position, budget))];
    }
    if (ps.length === 1) return [this.refused(ps[0]!, `accounts system refused ${what}: ${messageOf(err)}`)];
    const one: Outcome[] = [];
    for (const p of ps) one.push(...(await this.wave([p], position, budget)));
    return one;
  }

  /** A failed attempt becomes deferred, or parked when it was the last one allowed. */
  private counted(o: Outcome): Outcome {
    if (o.kind !== 'failed') return o;
    const next = afterFailure(o.p.attempts, o.reason, this.deps.config.retry);
    return next.kind === 'park'
      ? { kind: 'parked', p: o.p, error: next.error, lastError: o.reason, attempts: next.attempts }
      : { kind: 'deferred', p: o.p, reason: o.reason, attempts: next.attempts, delayMs: next.delayMs };
  }

  private refused(p: SendablePayout, error: string): Outcome {
    this.deps.log.error({ payout: p.id, error }, 'sender: the accounts system refused the payout for good');
    return { kind: 'reject', p, error };
  }

  /**
   * A reservation the ledger holds under this payout's key is the payout's money only if it says
   * it is this payout's (the creation time it recorded) and is what this payout could have
   * reserved: its fixed amount, or a positive whole number of minor units. Anything else belongs
   * to a namesake (a database restored under the same deployment id, whose payout ids restarted
   * below ones the ledger has seen): refused loudly, never published.
   */
  private reuse(p: SendablePayout, r: LedgerReservation): Outcome {
    const mine = r.payoutCreatedAt === undefined || r.payoutCreatedAt === p.created_at.toISOString();
    const fits = mine && (p.by_client
      ? isPositive(r.amount) && isWholeMinor(r.amount, minorDecimalsOf(this.deps.config, p.currency))
      : cmp(r.amount, p.amount) === 0);
    if (fits) return { kind: 'reserved', p, r };
    return this.refused(p, `the ledger holds a reservation of ${r.amount} under this payout's key (batch ${r.batchId}) that this payout did not make; not reused (is this a restored database that needs its deployment id reset?)`);
  }

  /**
   * The database part: one statement per kind for the whole round. If that fails, payout by payout
   * in savepoints, so one bad row leaves only itself `new`.
   */
  private async store(tx: Tx, decided: Outcome[]): Promise<Outcome[]> {
    const outcomes = decided.map((o) => this.counted(o));
    try {
      await tx.savepoint((sp) => this.write(sp, outcomes));
      return outcomes;
    } catch (err) {
      this.deps.log.warn({ err }, 'sender: storing the round failed, storing payout by payout');
    }
    const stored: Outcome[] = [];
    for (const o of outcomes) {
      try {
        await tx.savepoint((sp) => this.write(sp, [o]));
        stored.push(o);
      } catch (err) {
        this.deps.log.error({ err, payout: o.p.id }, 'sender: storing the outcome failed; the payout stays new');
        stored.push(retry(o.p, messageOf(err)));
      }
    }
    return stored;
  }

  private async write(sp: Tx, outcomes: Outcome[]) {
    const reserved = outcomes.flatMap((o) => (o.kind === 'reserved' ? [o] : []));
    // Issued together: postgres.js pipelines them on the claim's connection, which runs them in order.
    await Promise.all([
      markPayoutsRejected(sp, outcomes.flatMap((o) => (o.kind === 'reject' ? [{ id: o.p.id, error: o.error }] : []))),
      markPayoutsDoneEmpty(sp, outcomes.flatMap((o) => (o.kind === 'zero' ? [{ id: o.p.id, dryRun: o.dryRun }] : []))),
      insertCpfs(sp, reserved.map((o) => ({ payoutId: o.p.id, cpfs: o.r.cpfs, dryRun: o.r.dryRun }))),
      markPayoutsPending(sp, reserved.map((o) => ({ id: o.p.id, amount: o.r.amount, dryRun: o.r.dryRun, reserveBatchId: o.r.batchId }))),
      this.deps.publisher.publishMany(sp, reserved.map((o) => ({
        topic: this.deps.newPayoutTopic(o.p.namespace, o.r.dryRun),
        key: o.p.id,
        msgId: o.p.id,
        payload: newPayoutMessage(o.p, toMinorText(o.r.amount, minorDecimalsOf(this.deps.config, o.p.currency)), new Date()),
      }))),
      deferPayouts(sp, outcomes.flatMap((o) => (o.kind === 'deferred' ? [{ id: o.p.id, attempts: o.attempts, error: o.reason, delayMs: o.delayMs }] : []))),
    ]);
    const parked = outcomes.flatMap((o) => (o.kind === 'parked' ? [{ id: o.p.id, attempts: o.attempts, lastError: o.lastError, error: o.error }] : []));
    if (parked.length) {
      // The history trigger records who parked them and why; set for these rows only.
      await setHistoryActor(sp, { actor: ACTOR, action: 'park', reason: `${this.deps.config.retry.maxAttempts} failed attempts` });
      await parkPayouts(sp, parked);
      await setHistoryActor(sp, { actor: '', action: '', reason: '' });
    }
  }
}
