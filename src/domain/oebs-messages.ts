// The messages payout sends to OEBS, built from committed payout data (pure). The format is the
// original system's, field by field (docs/wire-formats.md): ids are JSON integers and `amount` a
// JSON number with exactly two decimals, both written from their decimal strings (`JsonNumber`),
// never through a float.
import { JsonNumber } from './json.ts';
import { twoDecimals } from './money.ts';

export type NewPayoutMessage = {
  message_id: JsonNumber;
  /** `YYYY-MM-DD HH:MM:SS`, UTC. */
  message_dt: string;
  message_system: 'billingpay';
  billing_contract_id: JsonNumber;
  /** Always -1: OEBS finds the person by the contract. */
  billing_person_id: JsonNumber;
  transaction_type: 'PAYMENT';
  /** `YYYY-MM-DD`, UTC: the day the payout was created. */
  transaction_dt: string;
  service_id: JsonNumber;
  amount: JsonNumber;
  paysys_type_cc: 'payout';
  partner_currency: string;
  billing_client_id: JsonNumber;
  namespace: string;
};

/** `2024-03-01T10:02:03.456Z` → `2024-03-01 10:02:03` (UTC). */
export const messageDt = (d: Date): string => d.toISOString().slice(0, 19).replace('T', ' ');
/** `2024-03-01T10:02:03.456Z` → `2024-03-01` (UTC). */
export const transactionDt = (d: Date): string => d.toISOString().slice(0, 10);

/** `amountOebs`: whole kopecks as a decimal string ("100.5"); written as the literal `100.50`. */
export function newPayoutMessage(
  p: { id: string; namespace: string; client_id: string; contract_id: string; service_id: string; currency: string; created_at: Date },
  amountOebs: string,
  now: Date,
): NewPayoutMessage {
  // Field order is the original's: a consumer reading the text sees what it always saw.
  return {
    message_id: new JsonNumber(p.id),
    message_dt: messageDt(now),
    message_system: 'billingpay',
    billing_contract_id: new JsonNumber(p.contract_id),
    billing_person_id: new JsonNumber('-1'),
    transaction_type: 'PAYMENT',
    transaction_dt: transactionDt(p.created_at),
    service_id: new JsonNumber(p.service_id),
    amount: new JsonNumber(twoDecimals(amountOebs)),
    paysys_type_cc: 'payout',
    partner_currency: p.currency,
    billing_client_id: new JsonNumber(p.client_id),
    namespace: p.namespace,
  };
}

/**
 * Ledger idempotency keys: fixed by the payout's deployment and id, the same on every retry.
 * The deployment id (t_deployment) keeps them apart from another database's payout of the same
 * id against the same ledger: payout ids restart at 1 in a new database, these keys must not.
 */
export const ledgerExternalId = {
  reserve: (deploymentId: string, payoutId: string) => `${payoutKey(deploymentId, payoutId)}/reserve`,
  // One payout may be paid, returned and paid again under another OEBS payment: the events of a
  // payment carry its id, so the second payment's events are new, its repeats are not.
  register: (deploymentId: string, payoutId: string, paymentId: string) => `${payoutKey(deploymentId, payoutId)}/register/${paymentId}`,
  confirm: (deploymentId: string, payoutId: string, paymentId: string) => `${payoutKey(deploymentId, payoutId)}/confirm/${paymentId}`,
  cancelReserve: (deploymentId: string, payoutId: string) => `${payoutKey(deploymentId, payoutId)}/cancel-reserve`,
  cancelPayout: (deploymentId: string, payoutId: string, paymentId: string) => `${payoutKey(deploymentId, payoutId)}/cancel-payout/${paymentId}`,
};

/** `payout/<deployment>/<id>`; a payout created before deployment ids ('') keeps its old `payout/<id>`. */
const payoutKey = (deploymentId: string, payoutId: string) => (deploymentId ? `payout/${deploymentId}/${payoutId}` : `payout/${payoutId}`);

/** event_type of payout's own ledger batches. */
export const ledgerEventType = {
  reserve: 'payout-reserve',
  register: 'payout-register',
  confirm: 'payout-confirm',
  cancelReserve: 'payout-cancel-reserve',
  cancelPayout: 'payout-cancel-payout',
} as const;

export const OWN_EVENT_TYPES: ReadonlySet<string> = new Set(Object.values(ledgerEventType));
