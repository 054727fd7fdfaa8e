// req-gate's decision, without I/O: which payouts a request turns into, given the client's
// payout accounts as the accounts system reports them.
import { isPositive, sub } from './money.ts';

export interface PayoutAccount {
  namespace: string;
  client_id: string;
  contract_id?: string;
  service_id?: string;
  currency?: string;
  debit: string;
  credit: string;
}

export interface RequestForPayouts {
  id: string;
  client_id: string;
  namespace: string;
  cpf_only: boolean;
}

export interface PlannedPayout {
  external_id: string;
  request_id: string;
  namespace: string;
  client_id: string;
  contract_id: string;
  service_id: string;
  currency: string;
  amount: string;
  cpf_only: boolean;
  approve_req: boolean;
}

export type RequestPlan = { ok: true; payouts: PlannedPayout[] } | { ok: false; error: string };

/**
 * The payout's external id names the request and the account. It is a label for people and OEBS,
 * not the key: a by-client payout is unique on (request, contract, service, currency) in a key
 * space of its own (migration 006), so a fixed payout whose caller picked this same text cannot
 * take it, and processing a request again (after a crash, or by another replica) finds the payout
 * it made before instead of making a second one for the same account.
 */
export const payoutExternalId = (requestId: string, a: { contract_id: string; currency: string }) =>
  `req-${requestId}/contract-${a.contract_id}/${a.currency}`;

/** A stored by-client payout as far as its identity goes. */
export type StoredRequestPayout = Pick<PlannedPayout,
  'external_id' | 'namespace' | 'client_id' | 'contract_id' | 'service_id' | 'currency' | 'cpf_only'> & {
  request_id: string | null;
  by_client: boolean;
};

const IDENTITY = ['request_id', 'external_id', 'namespace', 'client_id', 'contract_id', 'service_id', 'currency', 'cpf_only'] as const;

/**
 * The fields in which a stored payout differs from the one req-gate planned under the same key;
 * empty when it is the payout planned before (a request processed again). The amount is left out
 * on purpose: a by-client payout's planned amount is only a hint (the sender pays the balance it
 * finds), so a second look at the balance may plan another amount for the same payout.
 * approve_req is left out too: it follows configuration, which may have changed in between.
 */
export function plannedPayoutDifferences(planned: PlannedPayout, stored: StoredRequestPayout): string[] {
  const diff: string[] = IDENTITY.filter((k) => String(planned[k]) !== String(stored[k]));
  if (!stored.by_client) diff.push('by_client');
  return diff;
}

const isId = (v: string | undefined): v is string => v !== undefined && /^[1-9][0-9]{0,17}$/.test(v);

/** One payout per account of the request's namespace with a positive balance (credit − debit). */
export function planRequestPayouts(req: RequestForPayouts, accounts: readonly PayoutAccount[], approveReq: boolean): RequestPlan {
  const payouts: PlannedPayout[] = [];
  for (const a of accounts) {
    if (a.namespace !== req.namespace || a.client_id !== req.client_id) continue;
    const balance = sub(a.credit, a.debit);
    if (!isPositive(balance)) continue;
    if (!isId(a.contract_id) || !isId(a.service_id) || !a.currency || !/^[A-Z]{3}$/.test(a.currency)) {
      return {
        ok: false,
        error: `payout account of client ${req.client_id} has an unusable location (contract_id=${a.contract_id ?? 'none'}, service_id=${a.service_id ?? 'none'}, currency=${a.currency ?? 'none'}): a payout needs a numeric contract and service and a 3-letter currency`,
      };
    }
    const loc = { contract_id: a.contract_id, currency: a.currency };
    payouts.push({
      external_id: payoutExternalId(req.id, loc),
      request_id: req.id,
      namespace: req.namespace,
      client_id: req.client_id,
      contract_id: a.contract_id,
      service_id: a.service_id,
      currency: a.currency,
      amount: balance,
      cpf_only: req.cpf_only,
      approve_req: approveReq,
    });
  }
  return { ok: true, payouts };
}
