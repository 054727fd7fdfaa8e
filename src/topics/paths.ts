// Topic paths: `<base>/<name>`, one base per namespace (see config `topics.bases`). Dry-run
// payouts travel on `-dry` twins so a test payout can never reach the real OEBS queue. Pure.
import type { Config } from '../config.ts';

type TopicConfig = Pick<Config, 'namespaces' | 'topics'>;

export const TOPIC_NAMES = {
  newPayout: 'new-payout',
  statusArd: 'payout-status-ard',
  statusOebs: 'payout-status-oebs',
  errors: 'oebs-errors',
} as const;

export type TopicSet = Record<keyof typeof TOPIC_NAMES, string>;

export function topicBase(config: TopicConfig, namespace: string): string {
  const base = config.topics.bases.get(namespace);
  if (base === undefined) throw new Error(`unknown namespace ${namespace}`);
  return base;
}

/** The four topic paths of one namespace, for real or dry-run payouts. */
export function topicsFor(config: TopicConfig, namespace: string, dryRun: boolean): TopicSet {
  const base = topicBase(config, namespace);
  const suffix = dryRun ? '-dry' : '';
  const paths = {} as TopicSet;
  for (const [field, name] of Object.entries(TOPIC_NAMES) as [keyof TopicSet, string][]) {
    paths[field] = `${base}/${name}${suffix}`;
  }
  return paths;
}

/**
 * Every topic the receiver listens to: ARD and OEBS statuses and OEBS errors, real and dry, of
 * every namespace. Namespaces sharing a base share topics, so the list is de-duplicated.
 */
export function allStatusTopics(config: TopicConfig): string[] {
  const all = new Set<string>();
  for (const ns of config.namespaces) {
    for (const dry of [false, true]) {
      const t = topicsFor(config, ns, dry);
      all.add(t.statusArd).add(t.statusOebs).add(t.errors);
    }
  }
  return [...all].sort();
}

/**
 * Business notices of a namespace (an ARD refusal, an OEBS return), for the services that asked
 * for the payouts: `/billing-payout/<env>/notices/errors-<namespace>`, `-dry` for dry-run payouts.
 */
export function noticesTopic(config: Pick<Config, 'env'>, namespace: string, dryRun: boolean): string {
  return `/billing-payout/${config.env}/notices/errors-${namespace}${dryRun ? '-dry' : ''}`;
}
