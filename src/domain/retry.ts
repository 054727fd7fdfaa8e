// Retries that end: what happens to a request or payout after a transient failure of its
// accounts call (accountsVerdict 'retry'), as a pure decision. Each failed attempt is counted;
// the next one waits base · 2^(n−1), at most cap; the attempt that reaches maxAttempts parks the
// row instead (request `error`, payout `parked`) until a person retries it.

export interface RetryPolicy {
  baseMs: number;
  capMs: number;
  maxAttempts: number;
}

export type AfterFailure =
  | { kind: 'defer'; attempts: number; delayMs: number }
  | { kind: 'park'; attempts: number; error: string };

/** The wait before attempt n + 1, after n failed attempts (n ≥ 1). */
export function backoffMs(failedAttempts: number, p: Pick<RetryPolicy, 'baseMs' | 'capMs'>): number {
  // 2^(n−1) overflows to Infinity long before n could; min() caps it either way.
  return Math.min(p.capMs, p.baseMs * 2 ** Math.max(0, failedAttempts - 1));
}

/** `attemptsBefore`: the failed attempts stored before this one. */
export function afterFailure(attemptsBefore: number, error: string, p: RetryPolicy): AfterFailure {
  const attempts = attemptsBefore + 1;
  if (attempts >= p.maxAttempts) return { kind: 'park', attempts, error: parkedError(attempts, error) };
  return { kind: 'defer', attempts, delayMs: backoffMs(attempts, p) };
}

/** The error a parked row carries: how many attempts, and the last one's failure. */
export const parkedError = (attempts: number, lastError: string) => `gave up after ${attempts} failed attempts; last: ${lastError}`;
