// The api's hot path. Concurrent POST /payout-by-client calls are gathered into one multi-row
// INSERT per event-loop turn: one round trip and one (durable) commit for many requests, which is
// what lets a 2-core machine accept many times more requests than one INSERT per call. A reply is
// sent only after the statement that stored it has committed.
import type { Sql } from '../db/connect.ts';
import { failpoint } from '../failpoints.ts';
import { findRequestsByExternalIds, insertRequests, type NewRequest, type RequestRow } from '../store/requests.ts';

export type SubmitResult =
  | { kind: 'created'; id: string }
  | { kind: 'existing'; id: string } // same external_id, same body: idempotent repeat
  | { kind: 'conflict'; id: string }; // same external_id, different body

interface Waiter {
  req: NewRequest;
  resolve: (r: SubmitResult) => void;
  reject: (e: unknown) => void;
}

const sameBody = (a: NewRequest, b: NewRequest) =>
  a.client_id === b.client_id && a.namespace === b.namespace && a.cpf_only === b.cpf_only;

export class RequestWriter {
  private pending: Waiter[] = [];
  private scheduled = false;
  private inflight = 0;

  constructor(
    private readonly sql: Sql,
    private readonly opts: { maxBatch: number; maxInflight: number } = { maxBatch: 1000, maxInflight: 4 },
  ) {}

  submit(req: NewRequest): Promise<SubmitResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ req, resolve, reject });
      this.schedule();
    });
  }

  private schedule() {
    if (this.scheduled || this.pending.length === 0 || this.inflight >= this.opts.maxInflight) return;
    this.scheduled = true;
    // setImmediate: let every request parsed in this turn join the batch.
    setImmediate(() => {
      this.scheduled = false;
      const batch = this.pending.splice(0, this.opts.maxBatch);
      this.inflight++;
      this.write(batch)
        .catch((e) => batch.forEach((w) => w.reject(e)))
        .finally(() => {
          this.inflight--;
          this.schedule();
        });
      this.schedule();
    });
  }

  private async write(batch: Waiter[]) {
    const firstByExt = new Map<string, NewRequest>();
    for (const w of batch) if (!firstByExt.has(w.req.external_id)) firstByExt.set(w.req.external_id, w.req);
    const created = new Map((await insertRequests(this.sql, [...firstByExt.values()])).map((r) => [r.external_id, r.id]));
    failpoint('api.after-insert');
    const others = [...firstByExt.keys()].filter((ext) => !created.has(ext));
    const existing = new Map<string, RequestRow>();
    if (others.length) for (const row of await findRequestsByExternalIds(this.sql, others)) existing.set(row.external_id, row);

    for (const w of batch) {
      const ext = w.req.external_id;
      const newId = created.get(ext);
      if (newId !== undefined) {
        const mine = firstByExt.get(ext) === w.req;
        w.resolve(mine ? { kind: 'created', id: newId } : { kind: sameBody(w.req, firstByExt.get(ext)!) ? 'existing' : 'conflict', id: newId });
        continue;
      }
      const row = existing.get(ext);
      if (!row) {
        w.reject(new Error(`request ${ext} neither inserted nor found`));
        continue;
      }
      w.resolve({ kind: sameBody(w.req, row) ? 'existing' : 'conflict', id: row.id });
    }
  }
}
