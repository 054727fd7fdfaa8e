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

/** Ledger idempotency keys: fixed by the payout id, the same on every retry. */
export const ledgerExternalId = {
  reserve: (payoutId: string) => `payout/${payoutId}/reserve`,
  // One payout may be paid, returned and paid again under another OEBS payment: the events of a
  // payment carry its id, so the second payment's events are new, its repeats are not.
  register: (payoutId: string, paymentId: string) => `payout/${payoutId}/register/${paymentId}`,
  confirm: (payoutId: string, paymentId: string) => `payout/${payoutId}/confirm/${paymentId}`,
  cancelReserve: (payoutId: string) => `payout/${payoutId}/cancel-reserve`,
  cancelPayout: (payoutId: string, paymentId: string) => `payout/${payoutId}/cancel-payout/${paymentId}`,
};

/** event_type of payout's own ledger batches. */
export const ledgerEventType = {
  reserve: 'payout-reserve',
  register: 'payout-register',
  confirm: 'payout-confirm',
  cancelReserve: 'payout-cancel-reserve',
  cancelPayout: 'payout-cancel-payout',
} as const;

export const OWN_EVENT_TYPES: ReadonlySet<string> = new Set(Object.values(ledgerEventType));
