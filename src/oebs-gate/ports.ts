// What oebs-gate needs of the outside world, as small interfaces: the ledger (accounts system)
// and the topics. Adapters over the real clients live beside; tests may swap in a failing edge.
import type { Tx } from '../db/connect.ts';
import type { Cpf, LedgerEvent } from '../domain/sender-decision.ts';

export interface AccountRef {
  namespace: string;
  client_id: string;
  contract_id: string;
  service_id: string;
  currency: string;
}

export interface Reservation {
  amount: string;
  dryRun: boolean;
  cpfs: Cpf[];
}

/** A reservation the ledger holds: where it is in the account's history, and whose it says it is. */
export interface LedgerReservation extends Reservation {
  batchId: string;
  /** The creation time of the payout that wrote it (its info), when it recorded one. */
  payoutCreatedAt: string | undefined;
}

/** The payout a reservation is for: the key's parts, and its creation time to tell it from a namesake. */
export interface ReservationKey {
  deploymentId: string;
  payoutId: string;
  createdAt: Date;
}

/** What one locking read showed of an account: the lock refused, or the account under our lock. */
export type AccountView =
  | { locked: false; reason: string }
  | {
    locked: true; lockUid: string; debit: string; credit: string;
    /** The account's events from `fromBatchId` on, in ledger order. */
    history: LedgerEvent[];
    /** This payout's own reservation, if an earlier attempt wrote one. */
    earlier: LedgerReservation | undefined;
  };

export type ReserveResult =
  | { kind: 'held'; r: LedgerReservation }
  | { kind: 'retry'; reason: string }
  | { kind: 'refused'; reason: string };

export interface SenderLedger {
  /**
   * Locks the payout accounts (each lock granted or refused on its own) and reads their balances
   * and their histories from `fromBatchId` (the previous payout's reservation; the whole history
   * when there was none) — and, found among the same events, each payout's own reservation if an
   * earlier attempt wrote one. One call for all: a crash between reserve and commit costs nothing
   * extra on the normal path. One view per item, in order.
   */
  lockAndRead(items: { account: AccountRef; key: ReservationKey; fromBatchId: string | null }[]): Promise<AccountView[]>;
  /**
   * payout → payout_sent for each item, idempotent by the payout's key, each releasing its lock in
   * the same write; one call for all. `held` is the reservation the ledger holds under the key:
   * this one, or an earlier attempt's on this account; a key held by anything else is `refused`.
   */
  reserve(items: { key: ReservationKey; account: AccountRef; lockUid: string; r: Reservation }[]): Promise<ReserveResult[]>;
  /**
   * For each payout, the reservation the ledger holds under its key on its account, wherever it
   * sits in the history (an earlier attempt the history did not show), or undefined.
   */
  ownReservations(items: { key: ReservationKey; account: AccountRef }[]): Promise<(LedgerReservation | undefined)[]>;
  /** Best effort: an unreleased lock expires by itself. */
  unlock(items: { account: AccountRef; lockUid: string }[]): Promise<void>;
}

export interface TopicMessage {
  topic: string;
  key: string;
  msgId: string;
  payload: Record<string, unknown>;
}

export interface Publisher {
  /** Writes the message in the caller's transaction (outbox): it exists iff the transaction commits. */
  publish(tx: Tx, msg: TopicMessage): Promise<unknown>;
  /** Many at once, in order, in the caller's transaction (one statement). */
  publishMany(tx: Tx, msgs: readonly TopicMessage[]): Promise<unknown>;
}

/** A payout as the receiver's ledger events need it: the exact reserved amount and its accounts. */
export interface LedgerPayout {
  id: string;
  /** The deployment the payout was created in: part of its ledger keys. */
  deploymentId: string;
  /** What the sender reserved and OEBS was told to pay (amount = amount_oebs, whole kopecks). */
  amount: string;
  dryRun: boolean;
  account: AccountRef;
}

/**
 * The receiver's ledger events. Each is one batch, idempotent by an external id fixed by the
 * payout (and payment) id: a repeat after a crash is answered with the first batch, no money moves.
 */
export interface ReceiverLedger {
  /**
   * ARD refused: payout_sent → payout (the reservation comes back), with the dry-run flag and the
   * CPFs it was reserved with, so the next payout of the account pays it as what it was.
   */
  cancelReserve(p: LedgerPayout, cpfs: Cpf[]): Promise<void>;
  /** OEBS created a payment: a zero event, a trace of the payment in the ledger. */
  register(p: LedgerPayout, paymentId: string): Promise<void>;
  /** OEBS paid: debit payout_sent; the money leaves the ledger. */
  confirm(p: LedgerPayout, paymentId: string): Promise<void>;
  /** OEBS returned a paid payment: credit payout_sent; the money is back, awaiting the next payment. */
  cancelPayout(p: LedgerPayout, paymentId: string): Promise<void>;
}
