// Many single-batch writes, one call: writes asked for in the same turn of the event loop (the
// receiver's concurrent handlers) go to the accounts system together as one batches/write call,
// and each caller gets its own batch's result as if it had called writeBatch alone — the same
// results and the same AccountsErrors. Each batch stays atomic and idempotent on its own; only
// the HTTP round trips are shared. A failure of the whole call fails every write in it (each
// caller retries as it would have).
import type { AccountsClient, WriteBatchRequest, WriteBatchResult } from './client.ts';
import { accountsError } from './errors.ts';

interface Pending {
  req: WriteBatchRequest;
  resolve: (r: WriteBatchResult) => void;
  reject: (e: unknown) => void;
}

/** The most batches one `POST /v1/batches/write` call may carry. */
export const MAX_BATCHES = 1000;

export function coalescingWriter(client: Pick<AccountsClient, 'writeBatches'>): (req: WriteBatchRequest) => Promise<WriteBatchResult> {
  let queue: Pending[] = [];
  let scheduled = false;

  async function flush() {
    scheduled = false;
    // One external_id at most once per call (the ledger refuses a call that repeats one); a
    // repeat waits for the next call, where it is answered as the repeat it is.
    const seen = new Set<string>();
    const now: Pending[] = [];
    const later: Pending[] = [];
    for (const p of queue) {
      if (now.length < MAX_BATCHES && !seen.has(p.req.external_id)) {
        seen.add(p.req.external_id);
        now.push(p);
      } else later.push(p);
    }
    queue = later;
    if (queue.length) schedule();
    try {
      const outcomes = await client.writeBatches(now.map((p) => p.req));
      outcomes.forEach((o, i) => {
        const p = now[i]!;
        if ('batch_id' in o) return p.resolve({ batch_id: o.batch_id, created: o.kind === 'created' });
        const said = `accounts writeBatch: ${o.message}`;
        if (o.kind === 'conflict') p.reject(accountsError('idempotency-conflict', said, 409));
        else if (o.kind === 'lock-invalid') p.reject(accountsError('lock-not-held', said, 409));
        else p.reject(accountsError('rejected', said, 400));
      });
    } catch (err) {
      for (const p of now) p.reject(err);
    }
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => void flush());
  }

  return (req) => new Promise<WriteBatchResult>((resolve, reject) => {
    queue.push({ req, resolve, reject });
    schedule();
  });
}
