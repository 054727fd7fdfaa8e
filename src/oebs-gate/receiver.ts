// oebs-gate's receiver: follows ARD and OEBS answers (payout-status-ard / payout-status-oebs and
// their -dry twins, every namespace; consumer group `oebs-gate`) and moves payouts through
// confirmed, done and rejected, deciding the matching ledger events (receiver-apply.ts). Those
// are stored in the ledger outbox with the status changes, in one transaction, and sent to the
// ledger after the commit by the ledger writer (ledger-writer.ts), which `onCommitted` wakes.
//
// Every message ends in one of three ways:
//   - applied or skipped (a duplicate or late answer changes nothing) → acknowledged;
//   - cannot be applied (unparsable, unknown system, status or payout, impossible transition)
//     → a report to the route's `oebs-errors` topic with the raw message and its
//     `source`, acknowledged: it never blocks its key and is never retried forever;
//   - transient (database down) or "not yet" (OEBS before ARD NEW) → thrown, so the
//     topics redeliver it with backoff. "Not yet" is bounded by PAYOUT_RECEIVER_MAX_WAIT, counted
//     from when the payouts it waits for were sent (so a backlog of old answers delivered after an
//     outage still applies to recent payouts); when payout cannot name them (no batch of the
//     payment known yet), from the message's publish time, else from when this process first saw
//     it. Past the bound it goes to the errors topic instead (`payout replay-errors` re-feeds it).
import { Counter, type Registry } from 'prom-client';
import type { Config } from '../config.ts';
import type { Sql, Tx } from '../db/connect.ts';
import { JsonNumber } from '../domain/json.ts';
import { ardKey, oebsKey, parseArd, parseOebs, type ArdAnswer, type ErrorSource, type OebsAnswer } from '../domain/status-messages.ts';
import type { Logger } from '../log.ts';
import type { PayoutStatus, ReceiverPayout } from '../store/payouts.ts';
import { noticesTopic, topicsFor } from '../topics/paths.ts';
import type { Consumer, DeliveredMessage, Topics, Worker } from '../topics/types.ts';
import { FailpointError, failpoint } from '../failpoints.ts';
import { mapLimit } from '../worker/concurrency.ts';
import { outboxLedger, type OutboxLedger } from './receiver-ledger.ts';
import { ReceiverRows } from './receiver-rows.ts';
import { applyArd, applyOebs, NotYet, Unappliable, type ApplyContext, type Route } from './receiver-apply.ts';

export const RECEIVER_GROUP = 'oebs-gate';

export interface ReceiverDeps {
  config: Readonly<Pick<Config, 'env' | 'namespaces' | 'topics' | 'receiver'>>;
  sql: Sql;
  /**
   * Called after a commit that stored ledger events (the ledger writer's wake-up); awaited, and
   * what it throws is logged, not the message's: the events wait in the outbox for the next round.
   */
  onCommitted?: () => unknown;
  /** Where errors and notices go (outbox, in the applying transaction). */
  topics: Pick<Topics, 'publish'>;
  log: Logger;
  registry?: Registry;
  now?: () => Date;
  /** Redelivery backoff of failed and waiting messages (default: the topics' 1 s … 5 min). */
  retry?: { baseMs: number; maxMs: number };
  idleMs?: number;
  /** Messages (of different keys) handled at once; each takes a connection of `sql`. */
  concurrency?: number;
  /** A round's messages are applied as one batch, in one transaction (handleBatch); false: one by one. */
  batches?: boolean;
  /** Messages claimed per round (default 50). */
  batchSize?: number;
}

type Outcome = 'applied' | 'skipped' | 'error' | 'wait' | 'retry';

/** A status message read: an ARD answer (about one payout) or an OEBS one (about the payouts of its batches). */
type Answer = { kind: 'ard'; ard: ArdAnswer } | { kind: 'oebs'; oebs: OebsAnswer };

/** Reads a message of `route`'s kind; throws Unappliable when it is not one. */
function readAnswer(route: Route, msg: DeliveredMessage): Answer {
  if (route.kind === 'ard') {
    const parsed = parseArd(msg.payload);
    if (!parsed.ok) throw new Unappliable(parsed.source, parsed.problem);
    return { kind: 'ard', ard: parsed.msg };
  }
  const parsed = parseOebs(msg.payload);
  if (!parsed.ok) throw new Unappliable(parsed.source, parsed.problem);
  return { kind: 'oebs', oebs: parsed.msg };
}

/** The payouts these answers may touch: those ARD names, and those in the batches OEBS names. */
function touched(answers: readonly Answer[]): { payoutIds: string[]; batchIds: string[] } {
  return {
    payoutIds: answers.flatMap((a) => (a.kind === 'ard' ? [a.ard.payoutId] : [])),
    batchIds: answers.flatMap((a) => (a.kind === 'oebs' ? a.oebs.batchIds : [])),
  };
}

/** Status topic → its route. Namespaces sharing a topic base share the route. */
export function receiverRoutes(config: Pick<Config, 'namespaces' | 'topics'>): Map<string, Route> {
  const routes = new Map<string, Route>();
  for (const ns of config.namespaces) {
    for (const dryRun of [false, true]) {
      const t = topicsFor(config, ns, dryRun);
      for (const [topic, kind] of [[t.statusArd, 'ard'], [t.statusOebs, 'oebs']] as const) {
        const r = routes.get(topic) ?? { kind, namespaces: [], dryRun, errors: t.errors };
        r.namespaces.push(ns);
        routes.set(topic, r);
      }
    }
  }
  return routes;
}

export class Receiver implements Worker {
  private consumer: Consumer | undefined;
  private readonly routes: Map<string, Route>;
  private readonly messages: Counter<'topic' | 'outcome'>;
  private readonly changes: Counter<'from' | 'to'>;
  /** First sight of waiting messages whose publish time the topics do not tell. */
  private readonly firstSeen = new Map<string, number>();

  private constructor(private readonly deps: ReceiverDeps) {
    this.routes = receiverRoutes(deps.config);
    const registers = deps.registry ? [deps.registry] : [];
    this.messages = new Counter({ name: 'payout_receiver_messages_total', help: 'status messages handled by the receiver, by topic and outcome', labelNames: ['topic', 'outcome'], registers });
    this.changes = new Counter({ name: 'payout_receiver_status_changes_total', help: 'payout status changes made by the receiver', labelNames: ['from', 'to'], registers });
  }

  /** Subscribes the `oebs-gate` group to every status topic (durably, from the start of each). */
  static async create(deps: ReceiverDeps & { topics: Pick<Topics, 'publish' | 'subscribe'> }): Promise<Receiver> {
    const self = new Receiver(deps);
    self.consumer = await deps.topics.subscribe({
      group: RECEIVER_GROUP, topics: self.topics(), handler: (m) => self.handle(m), retry: deps.retry, idleMs: deps.idleMs,
      ...(deps.batches !== false ? { handlerBatch: (ms: DeliveredMessage[]) => self.handleBatch(ms) } : {}), batchSize: deps.batchSize,
      // Answers of different payouts/batches are independent; each handler locks its payout rows.
      concurrency: deps.concurrency ?? 8,
      // ARD's and OEBS's own messages carry no payout headers: key them by payout and by payment.
      keyOf: (topic, payload) => (self.routes.get(topic)?.kind === 'oebs' ? oebsKey(payload) : ardKey(payload)),
    });
    return self;
  }

  /** The ARD and OEBS status topics, real and dry (not the errors topics: the receiver writes those). */
  topics(): string[] {
    return [...this.routes.keys()].sort();
  }

  runOnce(): Promise<number> {
    return this.consumer!.runOnce();
  }

  start(): void {
    this.consumer!.start();
  }

  stop(): Promise<void> {
    return this.consumer!.stop();
  }

  /** A receiver that only applies what it is given (`payout replay-errors`): it subscribes to nothing. */
  static forReplay(deps: ReceiverDeps): Receiver {
    return new Receiver(deps);
  }

  /**
   * Applies again a message that went to oebs-errors, in `route` (possibly narrowed to a caller's
   * namespaces): what applies now applies, exactly as a redelivery would (guarded status changes,
   * ledger events keyed by payout and payment, notices keyed by the source message). What still
   * cannot be applied reports nothing: its report is already in the errors topic, so replaying
   * it again adds nothing there.
   */
  async replay(route: Route, msg: DeliveredMessage): Promise<{ outcome: 'applied' | 'unchanged' } | { outcome: 'failing'; reason: string }> {
    try {
      return { outcome: (await this.apply(route, msg)) === 'applied' ? 'applied' : 'unchanged' };
    } catch (err) {
      if (err instanceof Unappliable || err instanceof NotYet) return { outcome: 'failing', reason: err.message };
      throw err;
    }
  }

  /** The handler of one delivered message (the topics acknowledge it when this resolves). */
  async handle(msg: DeliveredMessage): Promise<void> {
    const route = this.routes.get(msg.topic);
    if (!route) {
      this.deps.log.warn({ topic: msg.topic, msgId: msg.msgId }, 'receiver: message on a topic it does not serve; dropped');
      return;
    }
    let outcome: Outcome = 'error';
    try {
      outcome = await this.apply(route, msg);
      this.firstSeen.delete(this.seenKey(msg));
    } catch (err) {
      if (err instanceof Unappliable) await this.report(route, msg, err.source, err.message);
      else if (err instanceof NotYet && this.waitedTooLong(msg, err.sentAt)) await this.report(route, msg, 'wrong_payout_status', `${err.message}; gave up waiting`);
      else {
        outcome = err instanceof NotYet ? 'wait' : 'retry';
        if (outcome === 'retry') this.deps.log.warn({ err, topic: msg.topic, msgId: msg.msgId }, 'receiver: will retry');
        throw err;
      }
    } finally {
      this.messages.inc({ topic: msg.topic, outcome });
    }
  }

  private async apply(route: Route, msg: DeliveredMessage): Promise<Outcome> {
    const changes: [PayoutStatus, PayoutStatus][] = [];
    const ledger = outboxLedger();
    const { kinds, events } = await this.deps.sql.begin(async (tx) => {
      const answer = readAnswer(route, msg);
      const rows = await ReceiverRows.lock(tx, touched([answer]));
      const applied = await this.applyIn(tx, route, msg, answer, rows, ledger, changes);
      await rows.flush(tx);
      return { kinds: applied, events: await this.store(tx, ledger) };
    });
    await this.committed(events);
    return this.applied(msg, kinds, changes);
  }

  /** Stores the transaction's ledger events in the outbox; a crash before the commit loses them with the decisions. */
  private async store(tx: Tx, ledger: OutboxLedger): Promise<number> {
    const events = await ledger.store(tx);
    failpoint('receiver.before-commit');
    return events;
  }

  /** After a commit: wakes the ledger writer when there is something for it. */
  private async committed(events: number): Promise<void> {
    if (!events || !this.deps.onCommitted) return;
    try {
      await this.deps.onCommitted();
    } catch (err) {
      if (err instanceof FailpointError) throw err;
      this.deps.log.warn({ err }, 'receiver: the ledger writer failed after a commit; its events wait in the outbox');
    }
  }

  /** Applies one answer to the locked `rows`; throws Unappliable or NotYet before it changed anything. */
  private async applyIn(
    tx: Tx, route: Route, msg: DeliveredMessage, answer: Answer, rows: ReceiverRows, ledger: OutboxLedger,
    changes: [PayoutStatus, PayoutStatus][],
  ): Promise<string[]> {
    const ctx: ApplyContext = {
      ledger: ledger.ledger, rows,
      notice: (t, p, reason) => this.publishNotice(t, route, msg, p, reason),
      changed: (from, to) => void changes.push([from, to]),
    };
    if (answer.kind === 'ard') return [await applyArd(tx, ctx, route, answer.ard)];
    return applyOebs(tx, ctx, route, answer.oebs);
  }

  /** After the commit: metrics and the log line of an applied message. */
  private applied(msg: DeliveredMessage, kinds: string[], changes: [PayoutStatus, PayoutStatus][]): Outcome {
    for (const [from, to] of changes) this.changes.inc({ from, to });
    this.deps.log.info({ topic: msg.topic, msgId: msg.msgId, actions: kinds, changes }, 'receiver applied');
    return kinds.every((k) => k === 'skip') ? 'skipped' : 'applied';
  }

  /**
   * A round's messages as one batch (issue 14): one transaction locks every payout they may touch
   * (one statement), applies them one after another in delivery order to those rows in memory (so
   * an ARD NEW and the OEBS answers of its payout in the same round apply in their order, the
   * later seeing the earlier's change), writes the changes back in a few bulk statements and
   * stores the round's ledger events in the outbox (one statement), and commits. A crash anywhere
   * before the commit rolls everything back, and the redelivered messages decide it all again.
   *
   * Per message as `handle`: Unappliable → its report (in the batch's transaction), acknowledged;
   * NotYet → redelivered (or, past the bound, reported); neither changed anything before it threw.
   * Anything else (a guard that missed, the database): the batch's transaction is rolled back and
   * its messages are handled one by one, each in its own transaction.
   */
  async handleBatch(msgs: DeliveredMessage[]): Promise<unknown[]> {
    if (this.deps.batches === false) return mapLimit(msgs, this.deps.concurrency ?? 8, (m) => this.handle(m).then(() => undefined, (err: unknown) => err ?? new Error('failed')));
    const results: unknown[] = msgs.map(() => undefined);
    const outcomes: Outcome[] = msgs.map(() => 'error');
    const done: { msg: DeliveredMessage; kinds: string[]; changes: [PayoutStatus, PayoutStatus][]; i: number }[] = [];
    const ledger = outboxLedger();
    let events = 0;
    try {
      events = await this.deps.sql.begin(async (tx) => {
        const read = msgs.map((msg) => {
          const route = this.routes.get(msg.topic);
          if (!route) return undefined;
          try {
            return { ok: true as const, route, answer: readAnswer(route, msg) };
          } catch (err) {
            return { ok: false as const, route, err };
          }
        });
        const rows = await ReceiverRows.lock(tx, touched(read.flatMap((r) => (r?.ok ? [r.answer] : []))));
        for (const [i, msg] of msgs.entries()) {
          const r = read[i];
          if (!r) {
            this.deps.log.warn({ topic: msg.topic, msgId: msg.msgId }, 'receiver: message on a topic it does not serve; dropped');
            continue;
          }
          const changes: [PayoutStatus, PayoutStatus][] = [];
          try {
            if (!r.ok) throw r.err;
            done.push({ msg, kinds: await this.applyIn(tx, r.route, msg, r.answer, rows, ledger, changes), changes, i });
          } catch (err) {
            if (err instanceof Unappliable) await this.reportIn(tx, r.route, msg, err.source, err.message);
            else if (err instanceof NotYet && this.waitedTooLong(msg, err.sentAt)) await this.reportIn(tx, r.route, msg, 'wrong_payout_status', `${err.message}; gave up waiting`);
            else if (err instanceof NotYet) {
              results[i] = err;
              outcomes[i] = 'wait';
            } else throw err;
          }
        }
        await rows.flush(tx);
        return this.store(tx, ledger);
      });
    } catch (err) {
      if (err instanceof FailpointError) throw err;
      this.deps.log.warn({ err, messages: msgs.length }, 'receiver: batch failed; handling its messages one by one');
      return mapLimit(msgs, this.deps.concurrency ?? 8, (m) => this.handle(m).then(() => undefined, (e: unknown) => e ?? new Error('failed')));
    }
    await this.committed(events);
    for (const d of done) {
      outcomes[d.i] = this.applied(d.msg, d.kinds, d.changes);
      this.firstSeen.delete(this.seenKey(d.msg));
    }
    for (const [i, msg] of msgs.entries()) this.messages.inc({ topic: msg.topic, outcome: outcomes[i]! });
    return results;
  }

  /** `sentAt`: when the payouts the message waits for were sent, if known (it wins over the message's age). */
  private waitedTooLong(msg: DeliveredMessage, sentAt: Date | undefined): boolean {
    const now = (this.deps.now ?? (() => new Date()))().getTime();
    let since = sentAt?.getTime() ?? msg.publishedAt?.getTime();
    if (since === undefined) {
      since = this.firstSeen.get(this.seenKey(msg)) ?? now;
      this.firstSeen.set(this.seenKey(msg), since);
    }
    const expired = now - since > this.deps.config.receiver.maxWaitMs;
    if (expired) this.firstSeen.delete(this.seenKey(msg));
    return expired;
  }

  private seenKey = (msg: DeliveredMessage) => `${msg.topic}#${msg.msgId}`;

  /** A message that cannot be applied: to the errors topic with the raw message, then acknowledged. */
  private async report(route: Route, msg: DeliveredMessage, source: ErrorSource, reason: string): Promise<void> {
    await this.deps.sql.begin((tx) => this.reportIn(tx, route, msg, source, reason));
  }

  private async reportIn(tx: Tx, route: Route, msg: DeliveredMessage, source: ErrorSource, reason: string): Promise<void> {
    this.deps.log.warn({ topic: msg.topic, msgId: msg.msgId, source, reason }, 'receiver: message cannot be applied; sent to the errors topic');
    this.firstSeen.delete(this.seenKey(msg));
    await this.publishError(tx, route, msg, source, reason);
  }

  /**
   * An `oebs-errors` message (docs/wire-formats.md): the raw message as it came, why (`source`,
   * `reason`), and where (`module`, `dry_run`); `payout_id` when one payout of a payment failed.
   * Its id is fixed by the source message, so a redelivery reports once.
   */
  private async publishError(tx: Tx, route: Route, msg: DeliveredMessage, source: ErrorSource, reason: string, p?: ReceiverPayout): Promise<void> {
    await this.deps.topics.publish(tx, {
      topic: route.errors, key: p?.id ?? msg.key, msgId: `receiver/${msg.topic}/${msg.msgId}${p ? `/${p.id}` : ''}`,
      payload: {
        system: 'billing', module: route.kind, source, dry_run: route.dryRun, kind: 'error', reason,
        ...(p ? { payout_id: new JsonNumber(p.id) } : {}),
        message: msg.body, source_topic: msg.topic, source_msg_id: msg.msgId,
      },
    });
  }

  /** A business notice to the payout's namespace: `/billing-payout/<env>/notices/errors-<namespace>`. */
  private async publishNotice(tx: Tx, route: Route, msg: DeliveredMessage, p: ReceiverPayout, reason: string): Promise<void> {
    await this.deps.topics.publish(tx, {
      topic: noticesTopic(this.deps.config, p.namespace, route.dryRun), key: p.id, msgId: `receiver/${msg.topic}/${msg.msgId}/${p.id}`,
      payload: {
        system: 'billing', module: route.kind, kind: 'notice', namespace: p.namespace, dry_run: route.dryRun,
        payout_id: new JsonNumber(p.id), client_id: new JsonNumber(p.client_id), reason,
        message: msg.body, source_topic: msg.topic, source_msg_id: msg.msgId,
      },
    });
  }
}
