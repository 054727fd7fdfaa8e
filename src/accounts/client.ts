// The typed client of the accounts system, used by req-gate and oebs-gate. Callers get typed
// results or an AccountsError (see errors.ts); nobody outside this folder sees HTTP.
//
// Calls go through undici's request() over a keep-alive pool of this client, so a gate does not
// pay a TCP handshake per call. Every call, body included, is bounded by timeoutMs.
import { Agent, request } from 'undici';
import { AccountsError, accountsError, type AccountsErrorReason, reasonForStatus, transportError } from './errors.ts';
import type { AccountBalance, Batch, Loc, ReadRequest, ReadResult, WriteBatchOutcome, WriteBatchRequest, WriteBatchResult } from './types.ts';

export { AccountsError } from './errors.ts';
export type { AccountsErrorKind, AccountsErrorReason } from './errors.ts';
export type * from './types.ts';

/** The most batches one `POST /v1/batches/write` call may carry (the ledger's limit). */
export const MAX_BATCHES = 1000;

export interface AccountsClient {
  /** Every location of the client with this type (req-gate asks for type `payout`). */
  listAccounts(q: { namespace: string; type: string; client_id: string }): Promise<AccountBalance[]>;
  /** Balances and detailed turnovers, optionally taking a lock first. */
  read(req: ReadRequest): Promise<ReadResult>;
  /** Events and lock operations, all or nothing; idempotent on external_id. */
  writeBatch(req: WriteBatchRequest): Promise<WriteBatchResult>;
  /**
   * Many batches in one call (at most 1000: nothing is chunked here); one outcome per batch, in
   * order. Each batch is all or nothing and idempotent on its own external_id, like writeBatch;
   * the call as a whole is not atomic. A failure of the whole call throws AccountsError.
   */
  writeBatches(reqs: WriteBatchRequest[]): Promise<WriteBatchOutcome[]>;
  /** Every location of these clients with this type. */
  listAccountsOf(q: { namespace: string; type: string; client_ids: string[] }): Promise<AccountBalance[]>;
  /** The batch written under external_id, or undefined when there is none. */
  getBatch(externalId: string): Promise<Batch | undefined>;
  lockInit(loc: Loc, timeoutS: number): Promise<{ uid: string }>;
  lockPing(loc: Loc, uid: string, timeoutS: number): Promise<void>;
  lockRemove(loc: Loc, uid: string): Promise<void>;
}

export interface AccountsClientOptions {
  url: string;
  timeoutMs: number;
}

interface CallOptions {
  accept?: number[];
  uncoded409?: AccountsErrorReason;
}

interface Answer {
  status: number;
  body: unknown;
}

export function createAccountsClient(opts: AccountsClientOptions): AccountsClient {
  const base = opts.url.replace(/\/+$/, '');
  // undici's request() over a keep-alive pool: measured here at half the CPU of fetch() per call,
  // and the gates make two calls per payout.
  const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 30_000 });

  /**
   * accept: non-2xx statuses that are answers, not failures (404 for getBatch).
   * uncoded409: what a 409 without a known `code` means here (taking a lock: someone holds it).
   */
  async function call(op: string, method: 'GET' | 'POST', path: string, payload?: unknown, o: CallOptions = {}): Promise<Answer> {
    const url = `${base}${path}`;
    let res: { status: number; statusText: string };
    let text: string;
    try {
      const answer = await request(url, {
        method,
        dispatcher,
        headers: payload === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
        body: payload === undefined ? undefined : JSON.stringify(payload),
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
      text = await answer.body.text();
      res = { status: answer.statusCode, statusText: String(answer.statusCode) };
    } catch (err) {
      throw transportError(op, url, err);
    }
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if ((res.status >= 200 && res.status < 300) || o.accept?.includes(res.status)) {
      if (body === undefined && res.status < 300) throw accountsError('bad-response', `accounts ${op}: ${res.status} without a JSON body`, res.status);
      return { status: res.status, body };
    }
    const err = (body ?? {}) as { code?: unknown; message?: unknown };
    const reason = reasonForStatus(res.status, typeof err.code === 'string' ? err.code : undefined, o.uncoded409);
    const said = typeof err.message === 'string' ? err.message : text.slice(0, 200) || res.statusText;
    throw accountsError(reason, `accounts ${op}: ${res.status} ${said}`, res.status);
  }

  const expectObject = (op: string, a: Answer): Record<string, unknown> => {
    if (typeof a.body !== 'object' || a.body === null) throw accountsError('bad-response', `accounts ${op}: unexpected answer`, a.status);
    return a.body as Record<string, unknown>;
  };

  return {
    async listAccounts(q) {
      const a = await call('listAccounts', 'GET', `/v1/accounts?${new URLSearchParams(q)}`);
      if (!Array.isArray(a.body)) throw accountsError('bad-response', 'accounts listAccounts: expected a list', a.status);
      return a.body as AccountBalance[];
    },
    async read(req) {
      const body = expectObject('read', await call('read', 'POST', '/v1/batch/read', req, { uncoded409: req.lock ? 'lock-busy' : 'conflict' }));
      return { balances: [], detailed_turnovers: [], history: [], locks: [], ...body } as ReadResult;
    },
    async writeBatch(req) {
      const a = await call('writeBatch', 'POST', '/v1/batch/write', req);
      const body = expectObject('writeBatch', a);
      if (typeof body.batch_id !== 'string' && typeof body.batch_id !== 'number') throw accountsError('bad-response', 'accounts writeBatch: no batch_id', a.status);
      return { batch_id: String(body.batch_id), created: a.status === 201 };
    },
    async writeBatches(reqs) {
      const a = await call('writeBatches', 'POST', '/v1/batches/write', { batches: reqs });
      const results = expectObject('writeBatches', a).results;
      if (!Array.isArray(results) || results.length !== reqs.length) {
        throw accountsError('bad-response', `accounts writeBatches: expected ${reqs.length} results`, a.status);
      }
      return results.map((r: unknown, i) => outcomeOf(r, i, a.status));
    },
    async listAccountsOf(q) {
      const a = await call('listAccountsOf', 'POST', '/v1/accounts/list', q);
      if (!Array.isArray(a.body)) throw accountsError('bad-response', 'accounts listAccountsOf: expected a list', a.status);
      return a.body as AccountBalance[];
    },
    async getBatch(externalId) {
      const a = await call('getBatch', 'GET', `/v1/batch?${new URLSearchParams({ external_id: externalId })}`, undefined, { accept: [404] });
      return a.status === 404 ? undefined : (expectObject('getBatch', a) as unknown as Batch);
    },
    async lockInit(loc, timeoutS) {
      const body = expectObject('lockInit', await call('lockInit', 'POST', '/v1/locks/init', { loc, timeout_s: timeoutS }, { uncoded409: 'lock-busy' }));
      if (typeof body.uid !== 'string') throw accountsError('bad-response', 'accounts lockInit: no uid');
      return { uid: body.uid };
    },
    async lockPing(loc, uid, timeoutS) {
      await call('lockPing', 'POST', '/v1/locks/ping', { loc, uid, timeout_s: timeoutS });
    },
    async lockRemove(loc, uid) {
      await call('lockRemove', 'POST', '/v1/locks/remove', { loc, uid });
    },
  };
}

const FAILED_KIND: Record<string, 'conflict' | 'lock-invalid' | 'rejected'> = { conflict: 'conflict', lock_invalid: 'lock-invalid', rejected: 'rejected' };

/** One entry of /v1/batches/write's results as a typed outcome; anything unexpected is a bad response. */
function outcomeOf(r: unknown, i: number, status: number): WriteBatchOutcome {
  const o = (typeof r === 'object' && r !== null ? r : {}) as { status?: unknown; batch_id?: unknown; message?: unknown };
  if ((o.status === 'created' || o.status === 'existing') && (typeof o.batch_id === 'string' || typeof o.batch_id === 'number')) {
    return { kind: o.status, batch_id: String(o.batch_id) };
  }
  const kind = typeof o.status === 'string' ? FAILED_KIND[o.status] : undefined;
  if (kind) return { kind, message: typeof o.message === 'string' ? o.message : String(o.status) };
  throw accountsError('bad-response', `accounts writeBatches: results.${i} is not an outcome`, status);
}

export const isAccountsError = (e: unknown): e is AccountsError => e instanceof AccountsError;
