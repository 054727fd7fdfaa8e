// Request schemas of the stand-in's HTTP API, validated strictly (no coercion: an amount sent as a
// JSON number is a 400, not silently turned into a string that may already have lost precision).
import { Type, type Static } from 'typebox';
import { AMOUNT_PATTERN } from '../../domain/money.ts';

const Text = Type.String({ minLength: 1, maxLength: 256 });
const Amount = Type.String({ pattern: AMOUNT_PATTERN, maxLength: 25 });
// RFC 3339 with a time zone: a time without one would be read in the server's zone.
const Dt = Type.String({ format: 'date-time' });
const TimeoutS = Type.Number({ exclusiveMinimum: 0, maximum: 86_400, description: 'lease length in seconds' });
const Uid = Type.String({ format: 'uuid' });

export const LocSchema = Type.Object(
  {
    namespace: Text,
    type: Text,
    client_id: Text,
    contract_id: Type.Optional(Text),
    service_id: Type.Optional(Text),
    currency: Type.Optional(Text),
  },
  { additionalProperties: false },
);

export const WriteBody = Type.Object(
  {
    event_type: Text,
    external_id: Text,
    dt: Type.Optional(Dt),
    info: Type.Optional(Type.Object({}, { additionalProperties: true })),
    events: Type.Array(
      Type.Object({ loc: LocSchema, type: Type.Enum(['debit', 'credit']), amount: Amount }, { additionalProperties: false }),
      { minItems: 1, maxItems: 10_000 },
    ),
    locks: Type.Optional(
      Type.Array(Type.Object({ loc: LocSchema, uid: Uid, mode: Type.Enum(['validate', 'remove']) }, { additionalProperties: false }), { maxItems: 1000 }),
    ),
  },
  { additionalProperties: false },
);
export type WriteBody = Static<typeof WriteBody>;

export const BatchesWriteBody = Type.Object(
  { batches: Type.Array(WriteBody, { minItems: 1, maxItems: 1000 }) },
  { additionalProperties: false },
);
export type BatchesWriteBody = Static<typeof BatchesWriteBody>;

export const ReadBody = Type.Object(
  {
    balances: Type.Optional(
      Type.Array(Type.Object({ loc: LocSchema, dt: Type.Optional(Dt) }, { additionalProperties: false }), { maxItems: 10_000 }),
    ),
    detailed_turnovers: Type.Optional(
      Type.Array(Type.Object({ loc: LocSchema, dt_from: Dt, dt_to: Dt }, { additionalProperties: false }), { maxItems: 1000 }),
    ),
    // An account's events from a ledger position (a batch with an event on it) on, in ledger order:
    // what a reader that remembers where it stopped last time needs, with no clock involved.
    history: Type.Optional(
      Type.Array(Type.Object({ loc: LocSchema, from_batch_id: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,18}$' })) }, { additionalProperties: false }), { maxItems: 1000 }),
    ),
    lock: Type.Optional(Type.Object({ loc: LocSchema, timeout_s: TimeoutS }, { additionalProperties: false })),
    // Many leases, each granted or refused on its own (a busy one does not refuse the read).
    locks: Type.Optional(Type.Array(Type.Object({ loc: LocSchema, timeout_s: TimeoutS }, { additionalProperties: false }), { maxItems: 1000 })),
  },
  { additionalProperties: false },
);
export type ReadBody = Static<typeof ReadBody>;

export const AccountsQuery = Type.Object(
  { namespace: Text, type: Text, client_id: Text },
  { additionalProperties: false },
);

export const AccountsListBody = Type.Object(
  { namespace: Text, type: Text, client_ids: Type.Array(Text, { minItems: 1, maxItems: 10_000 }) },
  { additionalProperties: false },
);

export const BatchQuery = Type.Object({ external_id: Text }, { additionalProperties: false });

export const LockInitBody = Type.Object({ loc: LocSchema, timeout_s: TimeoutS }, { additionalProperties: false });
export const LockPingBody = Type.Object({ loc: LocSchema, uid: Uid, timeout_s: TimeoutS }, { additionalProperties: false });
export const LockRemoveBody = Type.Object({ loc: LocSchema, uid: Uid }, { additionalProperties: false });
