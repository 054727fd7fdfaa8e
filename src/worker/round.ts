// One round of a gate: claim → decide → store, the skeleton req-gate and the sender share.
//
//   claim   locks the items for this round's transaction (FOR UPDATE SKIP LOCKED), so replicas
//           never take the same item;
//   decide  does everything outside the database (other systems, pure decisions) and returns one
//           typed outcome per item — no writes to the transaction;
//   store   writes the outcomes in the same transaction and returns them as stored (an outcome it
//           could not store comes back as another outcome, never mutated in place).
//
// The transaction holds the claimed rows while decide talks to other systems, so it is bounded:
// idle_in_transaction_session_timeout ends it (and releases the rows) if the process stalls
// between statements longer than `idleMs` — a hung accounts call, a paused process — and
// statement_timeout bounds each statement. Everything decide did outside is idempotent by keys
// fixed before the first try, so the next round finds it and nothing is done twice.
import type { Sql, Tx } from '../db/connect.ts';

export interface RoundSpec<Item, Outcome extends { kind: string }> {
  claim(tx: Tx): Promise<Item[]>;
  decide(items: Item[]): Promise<Outcome[]>;
  store(tx: Tx, outcomes: Outcome[]): Promise<Outcome[]>;
  /** Outcomes that leave their item as it was, to be claimed again. */
  isRetry(o: Outcome): boolean;
}

export interface RoundBounds {
  /** The longest the transaction may sit idle between statements (the longest call of decide). */
  idleMs: number;
  statementMs: number;
  /** Items per claim: a full round means more may be waiting. */
  limit: number;
}

export interface RoundResult<Outcome extends { kind: string }> {
  outcomes: Outcome[];
  counts: Record<string, number>;
  /** The claim was full and not everything was retried: go again at once. */
  full: boolean;
  ms: number;
}

export async function runRound<Item, Outcome extends { kind: string }>(
  sql: Sql, spec: RoundSpec<Item, Outcome>, bounds: RoundBounds,
): Promise<RoundResult<Outcome>> {
  const started = performance.now();
  const outcomes = (await sql.begin(async (tx): Promise<Outcome[]> => {
    await tx`select set_config('idle_in_transaction_session_timeout', ${String(bounds.idleMs)}, true),
                    set_config('statement_timeout', ${String(bounds.statementMs)}, true)`;
    const items = await spec.claim(tx);
    if (!items.length) return [];
    return spec.store(tx, await spec.decide(items));
  })) as Outcome[];
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o.kind] = (counts[o.kind] ?? 0) + 1;
  const retried = outcomes.filter((o) => spec.isRetry(o)).length;
  return { outcomes, counts, full: outcomes.length >= bounds.limit && retried < outcomes.length, ms: performance.now() - started };
}
