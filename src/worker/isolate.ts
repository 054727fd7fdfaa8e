// One accounts call serves many items (a claim's clients, a wave's accounts). When it fails for a
// transient reason, the failure may be one item's: an account the accounts system cannot serve.
// Counting it as a failed attempt of every item would park the healthy ones with the bad one, so
// the gates try the call again on halves, down to the failing items — within a budget per round:
// at most `maxSplits` splits (two calls each) and none after `withinMs` (a call that timed out has
// used that time already: a slow accounts system is not bisected into more timeouts). Items the
// budget does not reach fail together, and are tried again after their backoff.
export class SplitBudget {
  private left: number;
  private readonly deadline: number;

  constructor(maxSplits: number, withinMs: number) {
    this.left = maxSplits;
    this.deadline = performance.now() + withinMs;
  }

  /** True when one more split is allowed (and counts it). */
  take(): boolean {
    if (this.left <= 0 || performance.now() > this.deadline) return false;
    this.left--;
    return true;
  }
}

/** Splits per round: enough to find a few failing accounts among a claim of hundreds (2·log2 n each). */
export const MAX_SPLITS = 32;

export function halves<T>(xs: readonly T[]): [T[], T[]] {
  const mid = Math.ceil(xs.length / 2);
  return [xs.slice(0, mid), xs.slice(mid)];
}
