// The OEBS/ARD stand-in: consumes the new-payout topics (real and -dry) of every namespace and
// answers on the matching status topics, so payouts reach `done` in a local run. It talks to
// payout only over the topics; its answers for one new-payout commit in one transaction with
// message ids fixed by the payout id, so a redelivered new-payout changes nothing.
import type { Config } from '../../config.ts';
import type { Sql } from '../../db/connect.ts';
import { failpoint } from '../../failpoints.ts';
import type { Logger } from '../../log.ts';
import { topicsFor } from '../../topics/paths.ts';
import type { Consumer, DeliveredMessage, OutgoingMessage, Topics, Worker } from '../../topics/types.ts';
import { answersFor, parseNewPayout, type StatusTopics } from './answers.ts';

export const OEBS_EMULATOR_GROUP = 'oebs-emulator';

export interface OebsEmulatorDeps {
  config: Readonly<Pick<Config, 'namespaces' | 'topics' | 'oebsEmulator'>>;
  sql: Sql;
  topics: Topics;
  log: Logger;
  /** Redelivery backoff after a failed answer (a database error); tests shorten it. */
  retry?: { baseMs: number; maxMs: number };
  /** Sleep of the `start()` loop when nothing came (default 200 ms: a local run should feel quick). */
  idleMs?: number;
}

/**
 * new-payout topic → where its answers go. Built from the configuration, so the answer goes to
 * the namespace (and dry-run twin) the payout was sent on; namespaces sharing a topic base share
 * the entry.
 */
export function routesOf(config: Pick<Config, 'namespaces' | 'topics'>): Map<string, StatusTopics> {
  const routes = new Map<string, StatusTopics>();
  for (const ns of config.namespaces) {
    for (const dry of [false, true]) {
      const t = topicsFor(config, ns, dry);
      routes.set(t.newPayout, { ard: t.statusArd, oebs: t.statusOebs });
    }
  }
  return routes;
}

export class OebsEmulator implements Worker {
  private constructor(
    private readonly deps: OebsEmulatorDeps,
    private readonly routes: Map<string, StatusTopics>,
    private readonly consumer: Consumer,
  ) {}

  /** Registers the `oebs-emulator` group on every new-payout topic (durably, from the start of each). */
  static async create(deps: OebsEmulatorDeps): Promise<OebsEmulator> {
    const routes = routesOf(deps.config);
    let self: OebsEmulator | undefined;
    const consumer = await deps.topics.subscribe({
      group: OEBS_EMULATOR_GROUP,
      topics: [...routes.keys()],
      handler: (m) => self!.handleRound([m]).then(() => undefined),
      handlerBatch: (ms) => self!.handleRound(ms),
      retry: deps.retry,
      idleMs: deps.idleMs ?? 200,
      // A round's answers are one statement in one transaction: OEBS is not the thing under
      // test, so it should not be what limits an end-to-end run.
      batchSize: 200,
    });
    self = new OebsEmulator(deps, routes, consumer);
    return self;
  }

  /** Handles one batch of new-payout messages; returns how many it took. */
  runOnce(): Promise<number> {
    return this.consumer.runOnce();
  }

  start(): void {
    this.consumer.start();
  }

  stop(): Promise<void> {
    return this.consumer.stop();
  }

  /**
   * Answers a round of new-payout messages: the answers of all of them in one transaction, in
   * one statement, so a crash leaves either every answer of the round or none (never, say, ARD
   * NEW without its OEBS statuses); a redelivered round publishes only repeats, which the topics
   * drop. Messages it cannot use are logged and acknowledged (retrying would never make them
   * valid). Throws only when publishing failed, so the topics redeliver the round.
   */
  async handleRound(ms: DeliveredMessage[]): Promise<undefined[]> {
    const { log, sql, topics, config } = this.deps;
    const answers: OutgoingMessage[] = [];
    const payouts: { id: string; client: string; behaviour: string; answers: number }[] = [];
    for (const m of ms) {
      const route = this.routes.get(m.topic);
      if (!route) {
        log.warn({ topic: m.topic, msgId: m.msgId }, 'oebs emulator: message on a topic it does not serve; dropped');
        continue;
      }
      const parsed = parseNewPayout(m.payload);
      if (!parsed.ok) {
        log.warn({ topic: m.topic, msgId: m.msgId, problem: parsed.problem }, 'oebs emulator: not a valid new-payout; dropped');
        continue;
      }
      const payout = parsed.msg;
      const behaviour = config.oebsEmulator.byClient.get(payout.billing_client_id) ?? 'accept';
      const mine = answersFor(payout, behaviour, route);
      answers.push(...mine);
      payouts.push({ id: payout.message_id, client: payout.billing_client_id, behaviour, answers: mine.length });
    }
    if (payouts.length) {
      const fresh = answers.length ? await sql.begin((tx) => topics.publishMany(tx, answers)) : 0;
      failpoint('oebs-emulator.after-answers');
      log.info(
        { payouts, answers: answers.length, repeats: answers.length - fresh, redelivered: ms.filter((m) => m.redelivered).length },
        'oebs emulator answered',
      );
    }
    return ms.map(() => undefined);
  }
}
