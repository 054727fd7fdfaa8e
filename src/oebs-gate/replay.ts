// `payout replay-errors` and POST /api/v1/oebs-errors/replay: the ARD/OEBS messages the receiver
// sent to an oebs-errors topic are applied again (an OEBS answer that gave up waiting for an ARD
// NEW that came later, a message about a payout of a database restored since, …).
//
// How: the errors topic is read back from payout's topic log (topic_message: both backends log
// every message payout publishes there, in the publishing transaction; nobody consumes errors
// topics) and each report's raw message is handed to the receiver's own apply, under its original
// topic and message id. Why not republish it to its status topic: a republished copy needs a
// message id; a fresh one per replay would put a new copy of a still-failing message on the topic
// (and a new report in oebs-errors) every time, and one fixed per report would make a second
// replay a no-op even once the message could apply. Applying directly needs no id at all: what
// applies now applies, exactly once (the receiver's guarded status updates, ledger external ids
// fixed by payout and payment, stored in the ledger outbox with the status change, notices keyed
// by the source message), and what still fails publishes nothing (its report is already there), so replays never add messages or loop, and
// the reports stay in oebs-errors as they were.
import { parseDuration, type Config } from '../config.ts';
import type { Sql } from '../db/connect.ts';
import { ardKey, oebsKey } from '../domain/status-messages.ts';
import type { Logger } from '../log.ts';
import { decodeBody } from '../topics/codec.ts';
import { createPublisher } from '../topics/index.ts';
import { readTopicLog } from '../topics/store.ts';
import { recordReplayed, settledByReplay } from '../store/error-replays.ts';
import { Receiver, receiverRoutes } from './receiver.ts';
import type { Route } from './receiver-apply.ts';

export interface ReplayCount {
  /** The oebs-errors topic. */
  topic: string;
  /** Source messages found in it (a message reported once per payout counts once). */
  replayed: number;
  /** Applied now: a payout moved, or a ledger event was decided (for the ledger outbox). */
  applied: number;
  /** Nothing to do: an earlier replay settled it, or the payouts have moved past it. */
  unchanged: number;
  /** Still cannot be applied: left in oebs-errors, nothing new published. */
  failing: number;
}

/** Every oebs-errors topic (real and dry) with the namespaces whose reports it carries (namespaces sharing a topic base share it). */
export function errorsTopics(config: Pick<Config, 'namespaces' | 'topics'>): Map<string, string[]> {
  const topics = new Map<string, Set<string>>();
  for (const route of receiverRoutes(config).values()) {
    const ns = topics.get(route.errors) ?? new Set<string>();
    for (const n of route.namespaces) ns.add(n);
    topics.set(route.errors, ns);
  }
  return new Map([...topics].sort(([a], [b]) => a.localeCompare(b)).map(([t, ns]) => [t, [...ns].sort()]));
}

export interface ReplayDeps {
  config: Readonly<Pick<Config, 'namespaces' | 'topics'>>;
  sql: Sql;
  receiver: Receiver;
  log: Logger;
}

const PAGE = 500;

interface Report {
  source_topic?: unknown;
  source_msg_id?: unknown;
  message?: unknown;
}

/**
 * Replays the reports of `topics` (errors topic → the namespaces whose payouts may be touched)
 * written at or after `since`, oldest first, one source message at a time.
 */
export async function replayErrors(deps: ReplayDeps, topics: Map<string, readonly string[]>, since?: Date): Promise<ReplayCount[]> {
  const routes = receiverRoutes(deps.config);
  const counts: ReplayCount[] = [];
  for (const [topic, namespaces] of topics) {
    const count: ReplayCount = { topic, replayed: 0, applied: 0, unchanged: 0, failing: 0 };
    const seen = new Set<string>();
    for (let afterId = '0'; ;) {
      const page = await readTopicLog(deps.sql, topic, { afterId, since, limit: PAGE });
      const reports = page.map((row) => JSON.parse(row.body) as Report)
        .filter((r): r is Required<Report> & { source_topic: string; source_msg_id: string; message: string } =>
          typeof r.source_topic === 'string' && typeof r.source_msg_id === 'string' && typeof r.message === 'string');
      const settled = await settledByReplay(deps.sql, reports.map((r) => ({ topic: r.source_topic, msgId: r.source_msg_id })));
      for (const r of reports) {
        const full = routes.get(r.source_topic);
        // Reports of a message are one per payout at most: the message is applied once.
        const id = `${r.source_topic}#${r.source_msg_id}`;
        if (!full || full.errors !== topic || seen.has(id)) continue;
        seen.add(id);
        count.replayed++;
        if (settled.has(id)) {
          count.unchanged++;
          continue;
        }
        // A caller of some of the topic's namespaces touches only their payouts.
        const route: Route = { ...full, namespaces: full.namespaces.filter((n) => namespaces.includes(n)) };
        const { body, payload } = decodeBody(r.message);
        const res = await deps.receiver.replay(route, {
          topic: r.source_topic, msgId: r.source_msg_id, body, payload,
          key: route.kind === 'oebs' ? oebsKey(payload) : ardKey(payload),
        });
        count[res.outcome]++;
        if (res.outcome !== 'failing') await recordReplayed(deps.sql, { topic: r.source_topic, msgId: r.source_msg_id }, res.outcome);
        else deps.log.info({ topic: r.source_topic, msgId: r.source_msg_id, reason: res.reason }, 'replay: still cannot be applied');
      }
      if (page.length < PAGE) break;
      afterId = page[page.length - 1]!.id;
    }
    deps.log.info(count, 'replay: errors topic replayed');
    counts.push(count);
  }
  return counts;
}

/** Which errors topics a caller asked for and may replay: the answer, or why not (a 4xx). */
export type TopicChoice = { ok: true; topics: Map<string, string[]> } | { ok: false; status: 400 | 403; message: string };

/**
 * `granted`: the caller's namespaces (`*` = all). Without `topic`, every errors topic carrying one
 * of them; a topic is replayed for the granted namespaces only (a shared topic's other
 * namespaces' payouts are not touched).
 */
export function chooseTopics(config: Pick<Config, 'namespaces' | 'topics'>, granted: readonly string[], topic?: string): TopicChoice {
  const all = errorsTopics(config);
  const mine = (ns: readonly string[]) => (granted.includes('*') ? [...ns] : ns.filter((n) => granted.includes(n)));
  if (topic !== undefined) {
    const ns = all.get(topic);
    if (!ns) return { ok: false, status: 400, message: `topic: "${topic}" is not an oebs-errors topic; they are ${[...all.keys()].join(', ')}` };
    if (!mine(ns).length) return { ok: false, status: 403, message: `topic: "${topic}" carries namespaces ${ns.join(', ')}, none of which this caller may use` };
    return { ok: true, topics: new Map([[topic, mine(ns)]]) };
  }
  return { ok: true, topics: new Map([...all].map(([t, ns]) => [t, mine(ns)] as const).filter(([, ns]) => ns.length > 0)) };
}

/**
 * `since`: an ISO date-time, a `YYYY-MM-DD` UTC day (its start), or a duration back from `now`
 * (`24h`, `7d`). Undefined when it is none of them.
 */
export function parseSince(text: string, now = new Date()): Date | undefined {
  const t = text.trim();
  const ago = /^\d+(ms|s|m|h|d)$/.test(t) ? parseDuration(t) : undefined;
  if (ago !== undefined) return new Date(now.getTime() - ago);
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(t)) return undefined;
  const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(t) ? `${t}T00:00:00Z` : t);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/**
 * A replayer with an outbox publisher (for a process that does not run the receiver). What it
 * applies stores its ledger events in the ledger outbox: oebs-gate's ledger writer sends them.
 */
export function createReplayer(config: Readonly<Config>, sql: Sql, log: Logger) {
  const receiver = Receiver.forReplay({ config, sql, topics: createPublisher(config, sql), log });
  return (topics: Map<string, readonly string[]>, since?: Date) => replayErrors({ config, sql, receiver, log }, topics, since);
}
