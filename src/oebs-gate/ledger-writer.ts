// The ledger writer: sends the ledger outbox (the receiver's committed ledger events) to the
// accounts system and removes what the ledger holds.
//
// One writer at a time (a transaction advisory lock; a replica that finds it taken waits for the
// other's round to end), oldest first: a payout's events are stored in the order of the commits that made
// them (its row lock orders those commits), so they reach the ledger in that order. Each request
// carries the external id fixed when it was decided, so a crash after the ledger call, before the
// rows are removed, only sends them again, and the ledger answers with the batches it holds.
//
// A request the ledger refuses for good (a conflict, a rejection, a call refused as a whole as
// wrong, down to the one request it refuses) stays, marked refused, with the ledger's message; if
// it moves money, the payout's later requests wait behind it (they must not reach the ledger
// without it), everyone else's go on. The ledger down: the round fails, nothing is removed, the
// loop retries with backoff; the payouts' statuses already say what happened.
import { Counter, type Registry } from 'prom-client';
import { AccountsError, MAX_BATCHES, type AccountsClient, type WriteBatchRequest } from '../accounts/client.ts';
import { accountsError } from '../accounts/errors.ts';
import type { Sql } from '../db/connect.ts';
import { failpoint } from '../failpoints.ts';
import type { Logger } from '../log.ts';
import { deleteLedgerRequests, movesMoney, nextLedgerRequests, refuseLedgerRequest, type LedgerOutboxRow } from '../store/ledger-outbox.ts';
import { halves } from '../worker/isolate.ts';
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
   * The longest the round's transaction may sit idle between statements (its ledger calls): a
   * stalled writer's transaction is ended, its turn and rows released. Default 65 s.
   */
  idleMs?: number;
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
      await tx`select set_config('idle_in_transaction_session_timeout', ${String(this.deps.idleMs ?? 65_000)}, true)`;
      // Another replica's writer at it: wait for its round to end, then take what is left.
      await tx`select pg_advisory_xact_lock(${WRITER_LOCK})`;
      const rows = await nextLedgerRequests(tx, limit);
      const written: string[] = [];
      const refused = new Set<string>(); // payouts whose money event was refused this round: their later ones wait
      let calls = 0;
      let refusedNow = 0;
      const refuse = async (row: LedgerOutboxRow, kind: string, message: string) => {
        if (movesMoney(row.request)) refused.add(row.payoutId);
        refusedNow++;
        await refuseLedgerRequest(tx, row.id, `${kind}: ${message}`);
        this.deps.log.error({ payoutId: row.payoutId, externalId: row.request.external_id, outcome: kind, message },
          'ledger writer: the ledger refused a receiver event; it (and, if it moves money, the payout\'s later events) waits for a person');
      };
      // At most one call's worth of rows: one call, unless a payout moves money twice among them.
      for (const step of moneyInOrder(rows, (r) => r.request)) {
        // One batch per external id in a call (the ledger refuses a call that repeats one): the
        // same event decided twice (a register by CREATED and by TRANSMITTED) rides on the first.
        const sends = new Map<string, { request: WriteBatchRequest; rows: LedgerOutboxRow[] }>();
        for (const row of step) {
          if (refused.has(row.payoutId)) continue;
          const same = sends.get(row.request.external_id);
          if (!same) sends.set(row.request.external_id, { request: row.request, rows: [row] });
          else if (JSON.stringify(same.request) === JSON.stringify(row.request)) same.rows.push(row);
          else await refuse(row, 'conflict', 'another request of this round has this external id with other content');
        }
        const call = [...sends.values()];
        if (!call.length) continue;
        // A crash between two calls: the first's batches are in the ledger, all rows still here.
        if (calls++ > 0) failpoint('ledger-writer.between-calls');
        await this.send(call, async (sent, o) => {
          for (const row of sent.rows) {
            if (o.ok) written.push(row.id);
            else await refuse(row, o.kind, o.message);
          }
        });
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
   * One batches/write call for `call`, each outcome handed to `settle`. A call the ledger refuses
   * as a whole as wrong (400, 422: some request in it it will never take) is sent again in halves,
   * down to the requests it refuses alone, so one bad request never holds back the others; any
   * other failure (down, 5xx, a timeout, 404, 401, 403) fails the round, to be tried again.
   */
  private async send<T extends { request: WriteBatchRequest }>(
    call: T[], settle: (item: T, o: { ok: true } | { ok: false; kind: string; message: string }) => Promise<void>,
  ): Promise<void> {
    let outcomes;
    try {
      outcomes = await this.deps.client.writeBatches(call.map((c) => c.request));
    } catch (err) {
      // Only "this request is wrong" (400, 422) is a refusal of something in it; a 404, 401 or
      // 403 is a route or a credential gone wrong (an outage), as 5xx and timeouts are: retried.
      if (!(err instanceof AccountsError) || err.reason !== 'rejected' || (err.status !== 400 && err.status !== 422)) throw err;
      if (call.length === 1) return settle(call[0]!, { ok: false, kind: err.reason, message: err.message });
      for (const half of halves(call)) await this.send(half, settle);
      return;
    }
    if (outcomes.length !== call.length) throw accountsError('bad-response', `accounts batches/write: ${call.length} batches, ${outcomes.length} results`);
    for (const [j, o] of outcomes.entries()) await settle(call[j]!, 'message' in o ? { ok: false, kind: o.kind, message: o.message } : { ok: true });
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
