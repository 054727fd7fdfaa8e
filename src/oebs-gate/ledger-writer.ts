// The ledger writer: sends the ledger outbox (the receiver's committed ledger events) to the
// accounts system and removes what the ledger holds.
//
// One writer at a time (a transaction advisory lock; a replica that finds it taken waits for the
// other's round to end), oldest first: a payout's events are stored in the order of the commits
// that made them (its row lock orders those commits), so they reach the ledger in that order. Each request
// carries the external id fixed when it was decided, so a crash after the ledger call, before the
// rows are removed, only sends them again, and the ledger answers with the batches it holds.
//
// A request the ledger refuses for good (a conflict, a rejection, a call refused as a whole as
// wrong, down to the one request it refuses) stays, marked refused, with the ledger's message; if
// it moves money, the payout's later requests wait behind it (they must not reach the ledger
// without it), everyone else's go on. A request the ledger keeps failing on (5xx, a timeout) is
// found the same way, within a budget, and waits, told in the log each round, while the others
// go. The ledger down: the round fails, nothing is removed, the loop retries with backoff; the
// payouts' statuses already say what happened.
import { Counter, type Registry } from 'prom-client';
import { AccountsError, MAX_BATCHES, type AccountsClient, type WriteBatchRequest } from '../accounts/client.ts';
import { accountsError } from '../accounts/errors.ts';
import type { Sql, Tx } from '../db/connect.ts';
import { failpoint } from '../failpoints.ts';
import type { Logger } from '../log.ts';
import { deleteLedgerRequests, movesMoney, nextLedgerRequests, refuseLedgerRequest, type LedgerOutboxRow } from '../store/ledger-outbox.ts';
import { MAX_SPLITS, SplitBudget, halves } from '../worker/isolate.ts';
import type { RunResult } from '../worker/loop.ts';
import { moneyInOrder } from './receiver-ledger.ts';

/** The advisory lock of the one writer (payout's migrations use 7_260_001). */
const WRITER_LOCK = 7_260_016;

export interface LedgerWriterDeps {
  sql: Sql;
  client: Pick<AccountsClient, 'writeBatches'>;
  log: Logger;
  registry?: Registry;
  /** Requests a round takes (default and most: what one batches/write call carries). */
  limit?: number;
  /**
   * The longest one ledger call may take (the client's timeout; default 30 s). The round's
   * transaction may sit idle twice that between statements (a stalled writer's is ended, its turn
   * and rows released), and a round splits failing calls for up to 4 of them: enough to set a
   * request that always times out apart from the rest, which then go.
   */
  callTimeoutMs?: number;
}

export class LedgerWriter {
  private readonly requests: Counter<'outcome'>;

  constructor(private readonly deps: LedgerWriterDeps) {
    const registers = deps.registry ? [deps.registry] : [];
    this.requests = new Counter({
      name: 'payout_ledger_outbox_requests_total', help: 'ledger outbox requests sent, by outcome (written: the ledger holds them; refused: parked for a person)',
      labelNames: ['outcome'], registers,
    });
  }

  /** One round: the oldest waiting requests, sent and removed (or marked refused). */
  async runOnce(): Promise<RunResult> {
    const limit = Math.min(this.deps.limit ?? MAX_BATCHES, MAX_BATCHES);
    return this.deps.sql.begin(async (tx) => {
      const callMs = this.deps.callTimeoutMs ?? 30_000;
      await tx`select set_config('idle_in_transaction_session_timeout', ${String(2 * callMs)}, true)`;
      // Another replica's writer at it: wait for its round to end, then take what is left.
      await tx`select pg_advisory_xact_lock(${WRITER_LOCK})`;
      const rows = await nextLedgerRequests(tx, limit);
      const written: string[] = [];
      const held = new Set<string>(); // payouts with a money event refused or not sent this round: their later ones wait
      const unsent: LedgerOutboxRow[] = [];
      let failure: unknown;
      let calls = 0;
      let refusedNow = 0;
      const refuse = async (row: LedgerOutboxRow, kind: string, message: string) => {
        if (movesMoney(row.request)) held.add(row.payoutId);
        refusedNow++;
        await refuseLedgerRequest(tx, row.id, `${kind}: ${message}`);
        this.deps.log.error({ payoutId: row.payoutId, externalId: row.request.external_id, outcome: kind, message },
          'ledger writer: the ledger refused a receiver event; it (and, if it moves money, the payout\'s later events) waits for a person');
      };
      const budget = new SplitBudget(MAX_SPLITS, 4 * callMs);
      // At most one call's worth of rows: one call, unless a payout moves money twice among them.
      for (const step of moneyInOrder(rows, (r) => r.request)) {
        // One batch per external id in a call (the ledger refuses a call that repeats one): the
        // same event decided twice (a register by CREATED and by TRANSMITTED) rides on the first.
        const sends = new Map<string, { request: WriteBatchRequest; rows: LedgerOutboxRow[] }>();
        for (const row of step) {
          if (held.has(row.payoutId)) continue;
          const same = sends.get(row.request.external_id);
          if (!same) sends.set(row.request.external_id, { request: row.request, rows: [row] });
          else if (JSON.stringify(same.request) === JSON.stringify(row.request)) same.rows.push(row);
          else await refuse(row, 'conflict', 'another request of this round has this external id with other content');
        }
        const call = [...sends.values()];
        if (!call.length) continue;
        // A crash between two calls: the first's batches are in the ledger, all rows still here.
        if (calls++ > 0) failpoint('ledger-writer.between-calls');
        const left = await this.send(tx, call, budget, async (sent, o) => {
          for (const row of sent.rows) {
            if (o.ok) written.push(row.id);
            else await refuse(row, o.kind, o.message);
          }
        });
        failure ??= left.failure;
        for (const row of left.unsent.flatMap((c) => c.rows)) {
          unsent.push(row);
          if (movesMoney(row.request)) held.add(row.payoutId);
        }
      }
      // Nothing went through and nothing was refused: the ledger is down (or the one request the
      // round had fails). The round fails, the loop backs off.
      if (failure !== undefined && !written.length && !refusedNow) throw failure;
      if (unsent.length) {
        this.deps.log.warn({ err: failure, unsent: unsent.length, first: unsent.slice(0, 10).map((r) => ({ payoutId: r.payoutId, externalId: r.request.external_id })) },
          'ledger writer: some events failed to send this round and wait in the outbox; the others were sent');
      }
      // The ledger holds these batches; a crash here sends them again next round (repeats).
      if (written.length) failpoint('ledger-writer.after-write');
      await deleteLedgerRequests(tx, written);
      this.requests.inc({ outcome: 'written' }, written.length);
      this.requests.inc({ outcome: 'refused' }, refusedNow);
      return { count: rows.length, full: rows.length === limit };
    });
  }

  /**
   * One batches/write call for `call`, each answer handed to `settle`; what a failure left unsent
   * is returned, with the failure. A call the ledger refuses as a whole as wrong (400, 422: some
   * request in it it will never take) is sent again in halves, down to the requests it refuses
   * alone; a call that fails otherwise (5xx, a timeout, down, 404, 401, 403) is tried again in
   * halves within the round's budget, so one request the ledger keeps failing on holds back only
   * itself (and its payout's later events), not everyone's.
   */
  private async send<T extends { request: WriteBatchRequest }>(
    tx: Tx, call: T[], budget: SplitBudget, settle: (item: T, o: { ok: true } | { ok: false; kind: string; message: string }) => Promise<void>,
  ): Promise<{ unsent: T[]; failure?: unknown }> {
    let outcomes;
    try {
      // A statement before every call: the transaction is never idle longer than one call, so
      // its idle timeout (the bound on a stalled writer) never ends a round that is working.
      await tx`select 1`;
      outcomes = await this.deps.client.writeBatches(call.map((c) => c.request));
    } catch (err) {
      if (!(err instanceof AccountsError)) throw err;
      // Only "this request is wrong" (400, 422) is a refusal of something in it; a 404, 401 or
      // 403 is a route or a credential gone wrong (an outage), as 5xx and timeouts are.
      const refusal = err.reason === 'rejected' && (err.status === 400 || err.status === 422);
      if (refusal && call.length === 1) {
        await settle(call[0]!, { ok: false, kind: err.reason, message: err.message });
        return { unsent: [] };
      }
      if (!refusal && (call.length === 1 || !budget.take())) return { unsent: call, failure: err };
      const [a, b] = halves(call);
      const [ra, rb] = [await this.send(tx, a, budget, settle), await this.send(tx, b, budget, settle)];
      return { unsent: [...ra.unsent, ...rb.unsent], failure: ra.failure ?? rb.failure };
    }
    if (outcomes.length !== call.length) throw accountsError('bad-response', `accounts batches/write: ${call.length} batches, ${outcomes.length} results`);
    for (const [j, o] of outcomes.entries()) await settle(call[j]!, 'message' in o ? { ok: false, kind: o.kind, message: o.message } : { ok: true });
    return { unsent: [] };
  }

  /** Rounds until the outbox has nothing this writer can send; how many requests it sent. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const { count, full } = await this.runOnce();
      total += count;
      if (!full) return total;
    }
  }
}
