// oebs-gate's sender: reserves the money of new payouts in the ledger and publishes them to OEBS.
//
// One run claims a batch of payouts (row locks, SKIP LOCKED) and keeps that transaction open
// while it talks to the ledger, so no other replica can touch them. Per payout:
//   1. lock the account and read balance, accruals, and this payout's own reservation if an
//      earlier attempt made one: that one is reused as it is — after a crash between reserve and
//      commit the account is already empty, and deciding again would say "nothing to pay";
//   2. otherwise decide (pure) and reserve, with the lock released in the same ledger write (a
//      write from a process whose lock has expired fails, so two writers cannot both reserve);
//   3. then, in the claim transaction: CPFs, status `pending`, and the message (outbox), which
//      commit together or not at all.
// Ledger failures leave the payout `new` for the next round; the other payouts go on.
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Config } from '../config.ts';
import type { Sql, Tx } from '../db/connect.ts';
import { cmp, isPositive, isWholeMinor, toMinorText } from '../domain/money.ts';
import { minorDecimalsOf } from '../config.ts';
import { newPayoutMessage } from '../domain/oebs-messages.ts';
import { decidePayout } from '../domain/sender-decision.ts';
import { failpoint } from '../failpoints.ts';
import type { Logger } from '../log.ts';
import { insertCpfs } from '../store/cpf.ts';
import { claimSendablePayouts, markPayoutDoneEmpty, markPayoutPending, markPayoutRejected, type SendablePayout } from '../store/payouts.ts';
import { mapLimit } from '../worker/concurrency.ts';
import type { RunResult } from '../worker/loop.ts';
import { errorKind, type AccountRef, type LedgerReservation, type Publisher, type SenderLedger } from './ports.ts';

type Outcome =
  | { kind: 'reserved'; p: SendablePayout; r: LedgerReservation }
  | { kind: 'zero'; p: SendablePayout; dryRun: boolean }
  | { kind: 'reject'; p: SendablePayout; error: string }
  | { kind: 'retry'; p: SendablePayout; reason: string };

export interface SenderDeps {
  config: Readonly<Config>;
  sql: Sql;
  ledger: SenderLedger;
  publisher: Publisher;
  /** Topic of the new-payout messages of a namespace (the -dry twin for dry-run payouts). */
  newPayoutTopic: (namespace: string, dryRun: boolean) => string;
  log: Logger;
  registry?: Registry;
  concurrency?: number;
}

const accountOf = (p: SendablePayout): AccountRef => ({
  namespace: p.namespace, client_id: p.client_id, contract_id: p.contract_id, service_id: p.service_id, currency: p.currency,
});
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

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
    const started = performance.now();
    const outcomes = await sql.begin(async (tx) => {
      const payouts = await claimSendablePayouts(tx, config.oebsGate.limit);
      // Payouts of one account take turns (they need the same ledger lock); accounts go in parallel.
      const byAccount = new Map<string, SendablePayout[]>();
      for (const p of payouts) {
        const key = JSON.stringify(accountOf(p));
        byAccount.set(key, [...(byAccount.get(key) ?? []), p]);
      }
      const outcomes = (await mapLimit([...byAccount.values()], this.deps.concurrency ?? 16, async (group) => {
        const done: Outcome[] = [];
        for (const p of group) done.push(await this.reserveOne(p));
        return done;
      })).flat();
      for (const o of outcomes) await this.store(tx, o);
      failpoint('sender.before-commit');
      return outcomes;
    });
    if (!outcomes.length) return { count: 0, full: false };
    failpoint('sender.after-commit'); // committed; the relay has not moved the messages yet
    const counts: Record<Outcome['kind'], number> = { reserved: 0, zero: 0, reject: 0, retry: 0 };
    for (const o of outcomes) {
      counts[o.kind]++;
      this.handled.inc({ outcome: o.kind });
    }
    const seconds = (performance.now() - started) / 1000;
    this.duration.observe(seconds);
    const retries = outcomes.flatMap((o) => (o.kind === 'retry' ? [`${o.p.id}: ${o.reason}`] : [])).slice(0, 3);
    log.info({ claimed: outcomes.length, ...counts, ms: Math.round(seconds * 1000), retries }, 'sender batch');
    return { count: outcomes.length, full: outcomes.length >= config.oebsGate.limit && counts.retry < outcomes.length };
  }

  /** The ledger part of one payout: no database writes here, only decisions and ledger calls. */
  private async reserveOne(p: SendablePayout): Promise<Outcome> {
    const { ledger, config } = this.deps;
    const account = accountOf(p);
    const key = { deploymentId: p.deployment_id, payoutId: p.id, createdAt: p.created_at };
    try {
      const read = await ledger.lockAndRead(account, { ...key, fromBatchId: p.previous_reserve_batch_id });
      try {
        failpoint('sender.after-lock');
        if (read.earlier) {
          await ledger.unlock(account, read.lockUid).catch(() => {});
          return this.reuse(p, read.earlier);
        }
        const decision = decidePayout(p, { debit: read.debit, credit: read.credit, history: read.history }, {
          decimals: minorDecimalsOf(config, p.currency), processDryRun: config.money.processDryRun, allowedNs: config.allowedNs,
        });
        if (decision.kind !== 'send') {
          // Before finishing a payout without money, make sure no earlier attempt of it holds
          // some: its reservation may sit before the position the history was read from.
          const own = await ledger.ownReservation(key, account);
          await ledger.unlock(account, read.lockUid).catch(() => {});
          if (own) return this.reuse(p, own);
          return decision.kind === 'zero' ? { kind: 'zero', p, dryRun: decision.dryRun } : { kind: 'reject', p, error: decision.error };
        }
        const held = await ledger.reserve(key, account, read.lockUid, { amount: decision.amount, dryRun: decision.dryRun, cpfs: decision.cpfs });
        failpoint('sender.after-reserve');
        return held.amount === decision.amount ? { kind: 'reserved', p, r: held } : this.reuse(p, held);
      } catch (err) {
        // Release the account for the next round; if the reservation did land (a timeout), the
        // lock went with it and this fails harmlessly — the next round finds the reservation.
        await ledger.unlock(account, read.lockUid).catch(() => {});
        throw err;
      }
    } catch (err) {
      if (errorKind(err) === 'permanent') {
        this.deps.log.error({ err, payout: p.id }, 'sender: the accounts system refused the payout for good');
        return { kind: 'reject', p, error: `accounts system refused: ${messageOf(err)}` };
      }
      return { kind: 'retry', p, reason: messageOf(err) };
    }
  }

  /**
   * A reservation the ledger already holds under this payout's key (an earlier attempt's) is the
   * payout's money only if it says it is this payout's (the creation time it recorded) and is what
   * this payout could have reserved: its fixed amount, or a positive whole number of minor units.
   * Anything else belongs to a namesake (a database restored under the same deployment id, whose
   * payout ids restarted below ones the ledger has seen): refused loudly, never published.
   */
  private reuse(p: SendablePayout, r: LedgerReservation): Outcome {
    const mine = r.payoutCreatedAt === undefined || r.payoutCreatedAt === p.created_at.toISOString();
    const fits = mine && (p.by_client
      ? isPositive(r.amount) && isWholeMinor(r.amount, minorDecimalsOf(this.deps.config, p.currency))
      : cmp(r.amount, p.amount) === 0);
    if (fits) return { kind: 'reserved', p, r };
    const error = `the ledger holds a reservation of ${r.amount} under this payout's key (batch ${r.batchId}) that this payout did not make; not reused (is this a restored database that needs its deployment id reset?)`;
    this.deps.log.error({ payout: p.id, reservation: r }, `sender: ${error}`);
    return { kind: 'reject', p, error };
  }

  /**
   * The database part, in a savepoint: one payout's failure leaves it `new`, the rest go on.
   * The three writes are independent, so they are issued together (postgres.js pipelines them on
   * the claim's connection, which runs them in order); the first failure aborts the savepoint and
   * the ones after it fail with it.
   */
  private async store(tx: Tx, o: Outcome) {
    if (o.kind === 'retry') return;
    try {
      await tx.savepoint(async (sp) => {
        if (o.kind === 'reject') return markPayoutRejected(sp, o.p.id, o.error);
        if (o.kind === 'zero') return markPayoutDoneEmpty(sp, o.p.id, o.dryRun);
        await Promise.all([
          insertCpfs(sp, o.p.id, o.r.cpfs, o.r.dryRun),
          markPayoutPending(sp, o.p.id, { amount: o.r.amount, dryRun: o.r.dryRun, reserveBatchId: o.r.batchId }),
          this.deps.publisher.publish(sp as unknown as Tx, {
            topic: this.deps.newPayoutTopic(o.p.namespace, o.r.dryRun),
            key: o.p.id,
            msgId: o.p.id,
            payload: newPayoutMessage(o.p, toMinorText(o.r.amount, minorDecimalsOf(this.deps.config, o.p.currency)), new Date()),
          }),
        ]);
      });
    } catch (err) {
      this.deps.log.error({ err, payout: o.p.id }, 'sender: storing the outcome failed; the payout stays new');
      Object.assign(o, { kind: 'retry', reason: messageOf(err) });
    }
  }
}
