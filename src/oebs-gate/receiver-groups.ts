// Which messages of a receiver batch may touch the same payout (src/oebs-gate/receiver.ts,
// handleBatch): those are applied one after another in delivery order, the rest side by side.
import type { Tx } from '../db/connect.ts';
import { parseArd, parseOebs } from '../domain/status-messages.ts';
import { payoutBatchLinks } from '../store/payouts.ts';
import type { DeliveredMessage } from '../topics/types.ts';
import type { Route } from './receiver-apply.ts';

/** Groups of a batch applied side by side in its transaction. */
export const BATCH_LANES = 16;

/**
 * The messages of a batch (indexes, delivery order kept within each group) in groups that cannot
 * touch the same payout: an ARD answer names its payout (and, with NEW, the batch it puts it in),
 * an OEBS answer its batches, and the payouts already in those batches link them further (one
 * read, no lock). Should a payout change batch between that read and the apply (another replica),
 * two groups may meet on it: each message still locks and re-reads it and every change is guarded
 * by the status it expects, so the worst case is a guard that misses and a batch handled again
 * message by message.
 */
export async function independentGroups(tx: Tx, msgs: DeliveredMessage[], routes: Map<string, Route>): Promise<number[][]> {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== undefined && parent.get(r) !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  const union = (a: string, b: string) => {
    const [ra, rb] = [find(a), find(b)];
    if (ra !== rb) parent.set(ra, rb);
  };
  const nodes: string[][] = msgs.map((m, i) => {
    const kind = routes.get(m.topic)?.kind;
    if (kind === 'ard') {
      const a = parseArd(m.payload);
      if (a.ok) return [`p:${a.msg.payoutId}`, ...(a.msg.batchId ? [`b:${a.msg.batchId}`] : [])];
    } else if (kind === 'oebs') {
      const o = parseOebs(m.payload);
      if (o.ok) return o.msg.batchIds.map((b) => `b:${b}`);
    }
    return [`m:${i}`]; // unparsable or unrouted: touches no payout
  });
  for (const n of nodes) for (const x of n.slice(1)) union(n[0]!, x);
  const payoutIds = nodes.flat().filter((n) => n.startsWith('p:')).map((n) => n.slice(2));
  const batchIds = nodes.flat().filter((n) => n.startsWith('b:')).map((n) => n.slice(2));
  for (const l of await payoutBatchLinks(tx, payoutIds, batchIds)) union(`p:${l.id}`, `b:${l.batch}`);
  const groups = new Map<string, number[]>();
  nodes.forEach((n, i) => {
    const root = find(n[0]!);
    groups.set(root, [...(groups.get(root) ?? []), i]);
  });
  return [...groups.values()];
}
