// The ledger side of a payout's story: the batches payout wrote for it in the accounts system,
// found by the external ids they were written under (ledgerExternalId: reserve and cancel-reserve
// per payout; register, confirm and cancel-payout per OEBS payment). Read only, one getBatch per
// key, all at once. The accounts system being down is an answer ("unavailable"), not a failure:
// the rest of the story stands without it.
import { AccountsError, type AccountsClient, type Batch } from '../accounts/client.ts';
import { ledgerExternalId } from '../domain/oebs-messages.ts';

export type LedgerStep = 'reserve' | 'register' | 'confirm' | 'cancel-reserve' | 'cancel-payout';

export interface LedgerEntry {
  step: LedgerStep;
  payment_id: string | null;
  external_id: string;
  batch_id: string;
  event_type: string;
  dt: string;
  info: Record<string, unknown> | null;
  events: { loc: Record<string, unknown>; type: string; amount: string }[];
}

const STEP_ORDER: Record<LedgerStep, number> = { reserve: 0, 'cancel-reserve': 1, register: 2, confirm: 3, 'cancel-payout': 4 };

export type LedgerStory = { available: true; entries: LedgerEntry[] } | { available: false; message: string };

export interface LedgerKeys {
  id: string;
  deployment_id: string;
  /** Every payment the payout was sent under: the current one and those OEBS returned. */
  paymentIds: readonly string[];
}

export function ledgerKeysOf(p: LedgerKeys): { step: LedgerStep; payment_id: string | null; external_id: string }[] {
  const k = ledgerExternalId;
  return [
    { step: 'reserve', payment_id: null, external_id: k.reserve(p.deployment_id, p.id) },
    { step: 'cancel-reserve', payment_id: null, external_id: k.cancelReserve(p.deployment_id, p.id) },
    ...p.paymentIds.flatMap((pay) => [
      { step: 'register' as const, payment_id: pay, external_id: k.register(p.deployment_id, p.id, pay) },
      { step: 'confirm' as const, payment_id: pay, external_id: k.confirm(p.deployment_id, p.id, pay) },
      { step: 'cancel-payout' as const, payment_id: pay, external_id: k.cancelPayout(p.deployment_id, p.id, pay) },
    ]),
  ];
}

export async function ledgerStory(accounts: AccountsClient, p: LedgerKeys): Promise<LedgerStory> {
  const keys = ledgerKeysOf(p);
  let batches: (Batch | undefined)[];
  try {
    batches = await Promise.all(keys.map((k) => accounts.getBatch(k.external_id)));
  } catch (err) {
    if (err instanceof AccountsError) return { available: false, message: `the accounts system did not answer: ${err.message}` };
    throw err;
  }
  const entries: LedgerEntry[] = [];
  keys.forEach((k, i) => {
    const b = batches[i];
    if (!b) return;
    entries.push({
      step: k.step, payment_id: k.payment_id, external_id: b.external_id, batch_id: String(b.batch_id),
      event_type: b.event_type, dt: b.dt, info: b.info,
      events: b.events.map((e) => ({ loc: { ...e.loc }, type: e.type, amount: e.amount })),
    });
  });
  // In the order the ledger wrote them. Batches of one write call share their dt, and their ids
  // follow their external ids (confirm/… before register/…), so within one dt the steps' own order
  // decides (a payout is registered under a payment before it is confirmed under it).
  entries.sort((a, b) => (a.dt < b.dt ? -1 : a.dt > b.dt ? 1 : STEP_ORDER[a.step] - STEP_ORDER[b.step] || Number(a.batch_id) - Number(b.batch_id)));
  return { available: true, entries };
}
