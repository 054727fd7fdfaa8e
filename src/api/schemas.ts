// Request and response schemas: the same objects validate input, shape output and generate the
// OpenAPI document at /docs.
import { Type } from 'typebox';
import { AMOUNT_PATTERN } from '../domain/money.ts';
import { PAYOUT_STATUSES } from '../store/payouts.ts';
import { REQUEST_STATUSES } from '../store/requests.ts';

const MAX_ID = Number.MAX_SAFE_INTEGER;
export const ExternalId = Type.String({ minLength: 1, maxLength: 128, description: "the caller's idempotency key (unique per namespace)" });
export const EntityId = Type.Integer({ minimum: 1, maximum: MAX_ID });
export const Amount = Type.String({ pattern: AMOUNT_PATTERN, maxLength: 25, description: 'decimal string, up to 18 integer digits and 6 decimals', examples: ['100.50'] });
export const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code', examples: ['RUB'] });
export const Namespace = (namespaces: string[]) => Type.String({ enum: namespaces });
export const IdParam = Type.Object({ id: Type.String({ pattern: '^[1-9][0-9]{0,15}$', description: 'numeric id' }) });
export const ErrorBody = Type.Object({ error: Type.String(), message: Type.String() });
/**
 * An error answer as the document describes it: the error body and what the status means here.
 * `retryAfter`: the answer carries a Retry-After header (seconds).
 */
export const ErrorResponse = (description: string, opts: { retryAfter?: boolean } = {}) =>
  Type.Object(
    { error: Type.String({ description: 'the HTTP status text' }), message: Type.String({ description: 'what is wrong, for a person' }) },
    {
      description,
      ...(opts.retryAfter ? { headers: { 'Retry-After': Type.Integer({ minimum: 1, description: 'seconds to wait before retrying' }) } } : {}),
    },
  );
/** An error answer with what it means for this call (the OpenAPI document shows it). */
export const ErrorAnswer = (description: string) => ErrorResponse(description);

/** Retries of the gates (migration 010): failed attempts, the last one's error, when the next is due. */
const attemptFields = () => ({
  attempts: Type.Integer({ minimum: 0, description: 'failed attempts since created or retried (transient accounts failures)' }),
  last_error: Type.Union([Type.String(), Type.Null()], { description: 'the error of the last failed attempt' }),
  next_attempt_at: Type.String({ format: 'date-time', description: 'not claimed before this (backoff after a failed attempt)' }),
});
/** An error answer with what it means for this call (the OpenAPI response's description). */
export const Problem = (description: string) => Type.Object({ error: Type.String(), message: Type.String() }, { description });
/** The errors every /api/v1 call can answer, described. */
export const commonErrors = {
  400: Problem('bad input: the message names the field and what is wrong; nothing was changed'),
  401: Problem('missing or unknown bearer token'),
};

export const PayoutByClientBody = (namespaces: string[]) =>
  Type.Object(
    { external_id: ExternalId, client_id: EntityId, namespace: Namespace(namespaces), cpf_only: Type.Optional(Type.Boolean()) },
    { additionalProperties: false },
  );

export const FixedPayoutBody = (namespaces: string[]) =>
  Type.Object(
    {
      external_id: ExternalId,
      service_id: EntityId,
      contract_id: EntityId,
      client_id: EntityId,
      amount: Amount,
      currency: Currency,
      namespace: Namespace(namespaces),
    },
    { additionalProperties: false },
  );

export const Created = Type.Object({ id: EntityId });

export const RequestView = Type.Object({
  id: EntityId,
  external_id: Type.String(),
  client_id: EntityId,
  namespace: Type.String(),
  cpf_only: Type.Boolean(),
  status: Type.String({ enum: [...REQUEST_STATUSES], description: '`error` also when req-gate gave up after PAYOUT_MAX_ATTEMPTS (POST /request/{id}/retry puts it back)' }),
  error: Type.Union([Type.String(), Type.Null()]),
  ...attemptFields(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
export const PayoutView = Type.Object({
  id: EntityId,
  external_id: Type.String(),
  request_id: Type.Union([EntityId, Type.Null()]),
  namespace: Type.String(),
  client_id: EntityId,
  contract_id: EntityId,
  service_id: EntityId,
  currency: Type.String(),
  amount: Type.String(),
  amount_oebs: Nullable(Type.String()),
  status: Type.String({ enum: [...PAYOUT_STATUSES], description: '`parked`: the sender gave up after PAYOUT_MAX_ATTEMPTS (POST /payout/{id}/retry puts it back)' }),
  error: Nullable(Type.String()),
  ...attemptFields(),
  dry_run: Type.Union([Type.Boolean(), Type.Null()]),
  approve_req: Type.Boolean(),
  oebs_batch_id: Nullable(Type.String()),
  oebs_check_id: Nullable(Type.String()),
  oebs_payment_id: Nullable(Type.String()),
  oebs_status: Nullable(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

/** The original's `YYYY-MM-DD` (a UTC day) or an ISO date-time. */
const DayOrTime = (description: string) =>
  Type.String({ anyOf: [{ format: 'date' }, { format: 'date-time' }], description, examples: ['2026-01-31', '2026-01-31T12:00:00Z'] });

const OebsRef = (description: string) => Type.Optional(Type.String({ minLength: 1, maxLength: 128, description }));
const NumericId = (description: string) => Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,15}$', description }));
const Cursor = Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'next_cursor of the previous page, as it was given' }));

export const PayoutListQuery = (namespaces: string[]) => Type.Object(
  {
    client_id: NumericId('payouts of this client'),
    request_id: NumericId('payouts made from this request'),
    external_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "the caller's external_id of the payout (POST /payout) or of the request it came from (POST /payout-by-client)" })),
    oebs_batch_id: OebsRef('OEBS batch id (payment_batch_id of ARD NEW)'),
    oebs_check_id: OebsRef('OEBS check id (payment_check_id of ARD NEW)'),
    oebs_payment_id: OebsRef('OEBS payment id: the payouts it paid, or the batches it covered'),
    namespace: Type.Optional(Type.String({ enum: namespaces, description: 'one namespace (of the token\'s)' })),
    approve_req: Type.Optional(Type.String({ enum: ['true', 'false'], description: 'true: payouts that need a manual approval (the queue: with status=new)' })),
    status: Type.Optional(Type.String({ enum: [...PAYOUT_STATUSES], description: 'one status (or use statuses)' })),
    from: Type.Optional(DayOrTime('created from this moment (a date: from the start of that UTC day)')),
    to: Type.Optional(DayOrTime('created before this moment (a date: to the end of that UTC day)')),
    statuses: Type.Optional(Type.String({ pattern: `^(${PAYOUT_STATUSES.join('|')})(,(${PAYOUT_STATUSES.join('|')}))*$`, description: 'comma-separated statuses' })),
    order: Type.Optional(Type.String({ enum: ['desc', 'asc'], description: 'desc: newest first (the default); asc: oldest first (the default of approve_req=true)' })),
    cursor: Cursor,
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
  },
  { additionalProperties: false },
);

export const PayoutPage = Type.Object({
  payouts: Type.Array(PayoutView),
  next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'pass as cursor for the next page; null: this is the last' }),
}, { description: 'a page of payouts' });

export const RequestListQuery = (namespaces: string[]) => Type.Object(
  {
    status: Type.Optional(Type.String({ enum: [...REQUEST_STATUSES], description: 'one status (`error` and the like are the ones that want a person)' })),
    namespace: Type.Optional(Type.String({ enum: namespaces, description: 'one namespace (of the token\'s)' })),
    cursor: Cursor,
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);

export const RequestPage = Type.Object({
  requests: Type.Array(RequestView),
  next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'pass as cursor for the next page; null: this is the last' }),
}, { description: 'a page of requests' });

/**
 * OEBS check ids are int64 integers (ARD's payment_check_id). The body is read exactly
 * (src/api/exact-json.ts): the schema checks the JSON type, the route checks the exact literal
 * against 0 … 2^63 − 1, and the answer writes it back exactly (a bigint).
 */
const checkIdDoc = { minimum: 0, format: 'int64', description: 'OEBS check id (payment_check_id of ARD NEW): an integer from 0 to 9223372036854775807' };
export const CheckBody = Type.Object(
  { checks: Type.Array(Type.Integer(checkIdDoc), { minItems: 1, maxItems: 1000 }) },
  { additionalProperties: false },
);
export const CheckResult = Type.Object({
  checks: Type.Array(Type.Object({ check_id: Type.Unsafe<bigint>(Type.Integer(checkIdDoc)), amount: Type.String(), count: Type.Integer() })),
});

export const DeclineBody = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 1000, pattern: '\\S', description: 'why the payout is declined (kept in its history and error)' }) },
  { additionalProperties: false },
);
