// The ledger's refusals. `code` travels in the error body so a client can tell the 409s apart
// without reading prose: a busy lock, a lock that is no longer held, an external_id reused.
export type LedgerErrorCode = 'bad_request' | 'not_found' | 'lock_busy' | 'lock_not_held' | 'external_id_conflict';

const STATUS: Record<LedgerErrorCode, number> = {
  bad_request: 400,
  not_found: 404,
  lock_busy: 409,
  lock_not_held: 409,
  external_id_conflict: 409,
};

export class LedgerError extends Error {
  readonly statusCode: number;
  constructor(public readonly code: LedgerErrorCode, message: string) {
    super(message);
    this.statusCode = STATUS[code];
  }
}
