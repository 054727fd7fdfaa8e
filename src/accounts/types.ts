// The accounts system's wire types, as payout sees them. Amounts are decimal strings in and out
// (never JS numbers); times are RFC 3339 strings; ids of batches are strings (bigint on the wire).

/**
 * One account's address. Every attribute is part of the identity, including its absence: a loc
 * without contract_id names another account than any loc with one (no wildcards).
 */
export interface Loc {
  namespace: string;
  type: string;
  client_id: string;
  contract_id?: string;
  service_id?: string;
  currency?: string;
}

export type EventSide = 'debit' | 'credit';

/** A location of the client with its totals; balance = credit − debit. */
export interface AccountBalance {
  loc: Loc;
  debit: string;
  credit: string;
  balance: string;
}

export interface WriteEvent {
  loc: Loc;
  type: EventSide;
  /** Non-negative decimal string, up to 18 integer digits and 6 decimals. */
  amount: string;
}

/** `validate`: the write happens only while this lock is held; `remove`: and it is released with it. */
export interface LockOp {
  loc: Loc;
  uid: string;
  mode: 'validate' | 'remove';
}

export interface WriteBatchRequest {
  event_type: string;
  /** Idempotency key: fix it before the first attempt and reuse it on every retry. */
  external_id: string;
  /** When the events happened; default: when the ledger writes them. */
  dt?: string;
  info?: Record<string, unknown>;
  events: WriteEvent[];
  locks?: LockOp[];
}

export interface WriteBatchResult {
  batch_id: string;
  /** False when the external_id was written before with the same content: nothing new was written. */
  created: boolean;
}

/**
 * What became of one batch of writeBatches: written now, or written before with the same
 * content (nothing new written), or refused on its own — the other batches of the call are not
 * affected. `conflict`: the external_id was used for a different batch (permanent);
 * `lock-invalid`: a lock it validates or removes is not held (take a new lock, re-read, retry);
 * `rejected`: the ledger cannot take this batch as it is (permanent).
 */
export type WriteBatchOutcome =
  | { kind: 'created' | 'existing'; batch_id: string }
  | { kind: 'conflict' | 'lock-invalid' | 'rejected'; message: string };

export interface ReadRequest {
  /** Latest balances, or "as of" dt (the events strictly before dt). */
  balances?: { loc: Loc; dt?: string }[];
  /** Events with dt_from ≤ dt < dt_to, and the totals before dt_from. */
  detailed_turnovers?: { loc: Loc; dt_from: string; dt_to: string }[];
  /**
   * The account's events from the first event of batch `from_batch_id` on it (inclusive) on, in
   * ledger order; the whole history without from_batch_id. A batch with no event on the account
   * is a 404 (not-found).
   */
  history?: { loc: Loc; from_batch_id?: string }[];
  /** Take this lock first; the rest of the read is consistent with it. Busy: the read fails (lock-busy). */
  lock?: { loc: Loc; timeout_s: number };
  /**
   * Take these locks first (up to 1000), each granted or refused on its own: a busy one does not
   * fail the read. The rest of the read is consistent with every lock granted.
   */
  locks?: { loc: Loc; timeout_s: number }[];
}

/** The answer to one of ReadRequest.locks: its uid, or refused because someone else holds it. */
export type LockOutcome = { uid: string } | { error: 'lock_busy'; message: string };

export interface Balance {
  loc: Loc;
  debit: string;
  credit: string;
}

export interface TurnoverEvent {
  batch_id: string;
  external_id: string;
  event_type: string;
  dt: string;
  type: EventSide;
  amount: string;
  /** The batch's info (e.g. `dry_run`, `cpf`), or null when it had none. */
  info: Record<string, unknown> | null;
}

export interface DetailedTurnover {
  loc: Loc;
  dt_from: string;
  dt_to: string;
  debit_init: string;
  credit_init: string;
  debit_turnover: string;
  credit_turnover: string;
  events: TurnoverEvent[];
}

export interface ReadResult {
  balances: Balance[];
  detailed_turnovers: DetailedTurnover[];
  /** One per `history` item asked for, in order. */
  history: { loc: Loc; from_batch_id?: string; events: TurnoverEvent[] }[];
  /** Present when the read took a lock. */
  lock?: { uid: string };
  /** One per ReadRequest.locks item, in order (empty when none were asked for). */
  locks: LockOutcome[];
}

export interface Batch {
  batch_id: string;
  external_id: string;
  event_type: string;
  dt: string;
  info: Record<string, unknown> | null;
  events: WriteEvent[];
}
