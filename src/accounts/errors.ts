// Every failure of a call to the accounts system, classified once, here, for the gates:
//
//   kind 'retry'      — try again later; nothing is known to be wrong with the request.
//                       reason 'timeout' | 'unreachable' (refused, reset, DNS) | 'server-error'
//                       (5xx, 408, 429) | 'bad-response' (a 2xx that is not the JSON expected)
//                       | 'lock-not-held' (a write/ping/remove whose lock expired, was removed or
//                       taken over: take a new lock, re-read, and try again).
//   kind 'permanent'  — the same request will fail again.
//                       reason 'rejected' (400 and other 4xx) | 'not-found' (404)
//                       | 'idempotency-conflict' (external_id already used for a different batch)
//                       | 'conflict' (a 409 without a code this client knows).
//   kind 'lock-busy'  — someone else holds an unexpired lock on the account (lock init, or a read
//                       that asked for a lock). Try again later.
//
// After a 'retry' of writeBatch (a timeout especially) the batch may or may not have landed:
// retrying with the same external_id is safe, the ledger answers a repeat with the first batch.

export type AccountsErrorKind = 'retry' | 'permanent' | 'lock-busy';
export type AccountsErrorReason =
  | 'timeout' | 'unreachable' | 'server-error' | 'bad-response' | 'lock-not-held'
  | 'rejected' | 'not-found' | 'idempotency-conflict' | 'conflict'
  | 'lock-busy';

export class AccountsError extends Error {
  override readonly name = 'AccountsError';
  constructor(
    readonly kind: AccountsErrorKind,
    readonly reason: AccountsErrorReason,
    message: string,
    /** HTTP status, when an answer came. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const KIND: Record<AccountsErrorReason, AccountsErrorKind> = {
  timeout: 'retry', unreachable: 'retry', 'server-error': 'retry', 'bad-response': 'retry', 'lock-not-held': 'retry',
  rejected: 'permanent', 'not-found': 'permanent', 'idempotency-conflict': 'permanent', conflict: 'permanent',
  'lock-busy': 'lock-busy',
};

export function accountsError(reason: AccountsErrorReason, message: string, status?: number, cause?: unknown): AccountsError {
  return new AccountsError(KIND[reason], reason, message, status, cause === undefined ? undefined : { cause });
}

/** The ledger names its 409s in `code`; anything else is told apart by status alone. */
const CONFLICT_REASON: Record<string, AccountsErrorReason> = {
  lock_busy: 'lock-busy',
  lock_not_held: 'lock-not-held',
  external_id_conflict: 'idempotency-conflict',
};

export function reasonForStatus(status: number, code: string | undefined, uncoded409: AccountsErrorReason = 'conflict'): AccountsErrorReason {
  if (status === 409) return (code && CONFLICT_REASON[code]) || uncoded409;
  if (status === 404) return 'not-found';
  if (status >= 500 || status === 408 || status === 429) return 'server-error';
  return 'rejected';
}

/** What the HTTP call threw: our own timeout, or the connection failing (refused, reset, unknown host). */
export function transportError(op: string, url: string, err: unknown): AccountsError {
  const e = err as { name?: string; code?: string; cause?: { code?: string; message?: string } };
  const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'UND_ERR_ABORTED' || /TIMEOUT/.test(e.code ?? '');
  if (timedOut) return accountsError('timeout', `accounts ${op}: no answer from ${url} in time`, undefined, err);
  const detail = e.code ?? e.cause?.code ?? e.cause?.message ?? String(err);
  return accountsError('unreachable', `accounts ${op}: cannot reach ${url} (${detail})`, undefined, err);
}

/**
 * What a gate does after a failed call, the one rule req-gate, the sender and the receiver share:
 *   'retry'   — leave the item as it is, try again later: a transient failure, a lock someone else
 *               holds, a lock that expired under us; and anything that is not an AccountsError
 *               (a bug or a database error says nothing about the item).
 *   'refused' — the accounts system will answer the same again: the item fails for good, with the
 *               message (request `error`, payout `rejected`, message to `oebs-errors`).
 * An idempotency conflict is 'refused' here; the sender first checks whether the key holds an
 * earlier attempt of its own (ledger.ts), and only a key held by something else reaches this.
 */
export function accountsVerdict(err: unknown): 'retry' | 'refused' {
  return err instanceof AccountsError && err.kind === 'permanent' ? 'refused' : 'retry';
}
