// The messages payout sends to OEBS, built from committed payout data (pure).

export type NewPayoutMessage = {
  message_id: string;
  message_dt: string;
  message_system: 'billing-payout';
  billing_contract_id: string;
  billing_client_id: string;
  service_id: string;
  transaction_type: 'PAYMENT';
  transaction_dt: string;
  amount: string;
  partner_currency: string;
  paysys_type_cc: 'payout';
  namespace: string;
};

export function newPayoutMessage(
  p: { id: string; namespace: string; client_id: string; contract_id: string; service_id: string; currency: string; created_at: Date },
  amountOebs: string,
  now: Date,
): NewPayoutMessage {
  return {
    message_id: p.id,
    message_dt: now.toISOString(),
    message_system: 'billing-payout',
    billing_contract_id: p.contract_id,
    billing_client_id: p.client_id,
    service_id: p.service_id,
    transaction_type: 'PAYMENT',
    transaction_dt: p.created_at.toISOString(),
    amount: amountOebs,
    partner_currency: p.currency,
    paysys_type_cc: 'payout',
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
