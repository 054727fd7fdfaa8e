import { describe, expect, it } from 'vitest';
import { planRequestPayouts, plannedPayoutDifferences, type PayoutAccount, type PlannedPayout } from '../src/domain/request-payouts.ts';

const req = { id: '10', client_id: '42', namespace: 'taxi', cpf_only: false };
const acc = (over: Partial<PayoutAccount>): PayoutAccount => ({
  namespace: 'taxi', client_id: '42', contract_id: '7', service_id: '124', currency: 'RUB', debit: '0', credit: '0', ...over,
});

describe('planRequestPayouts', () => {
  it('makes one payout per account with a positive balance, amount = credit − debit', () => {
    const plan = planRequestPayouts(req, [
      acc({ contract_id: '7', credit: '100.50', debit: '0.25' }),
      acc({ contract_id: '8', credit: '5', debit: '5' }), // zero
      acc({ contract_id: '9', credit: '1', debit: '3' }), // negative
      acc({ contract_id: '11', currency: 'USD', credit: '0.000001' }),
    ], false);
    expect(plan).toEqual({
      ok: true,
      payouts: [
        expect.objectContaining({ contract_id: '7', amount: '100.25', external_id: 'req-10/contract-7/RUB', request_id: '10', service_id: '124' }),
        expect.objectContaining({ contract_id: '11', currency: 'USD', amount: '0.000001' }),
      ],
    });
  });

  it('ignores accounts of other namespaces and clients, and makes no payouts from nothing', () => {
    expect(planRequestPayouts(req, [acc({ namespace: 'bnpl', credit: '9' }), acc({ client_id: '43', credit: '9' })], false))
      .toEqual({ ok: true, payouts: [] });
    expect(planRequestPayouts(req, [], false)).toEqual({ ok: true, payouts: [] });
  });

  it('carries cpf_only and approve_req', () => {
    const plan = planRequestPayouts({ ...req, cpf_only: true }, [acc({ credit: '1' })], true);
    expect(plan.ok && plan.payouts[0]).toMatchObject({ cpf_only: true, approve_req: true });
  });

  it('fails the request when a funded account cannot be paid out (no contract, bad currency)', () => {
    const plan = planRequestPayouts(req, [acc({ contract_id: undefined, credit: '1' })], false);
    expect(plan).toMatchObject({ ok: false, error: expect.stringContaining('contract_id=none') });
    expect(planRequestPayouts(req, [acc({ currency: 'rub', credit: '1' })], false).ok).toBe(false);
  });

  it('derives the same external id on every run, different per account', () => {
    const a = planRequestPayouts(req, [acc({ credit: '1' }), acc({ contract_id: '8', credit: '1' })], false);
    const b = planRequestPayouts(req, [acc({ credit: '2' }), acc({ contract_id: '8', credit: '1' })], false);
    expect(a.ok && a.payouts.map((p) => p.external_id)).toEqual(b.ok && b.payouts.map((p) => p.external_id));
    expect(new Set(a.ok ? a.payouts.map((p) => p.external_id) : []).size).toBe(2);
  });
});

describe('plannedPayoutDifferences', () => {
  const plan = planRequestPayouts(req, [acc({ credit: '5' })], false);
  const planned = (plan.ok && plan.payouts[0]) as PlannedPayout;
  const stored = { ...planned, by_client: true };

  it('finds none for the payout planned before, whatever its amount and approval', () => {
    expect(plannedPayoutDifferences(planned, { ...stored, amount: '7.25', approve_req: true } as typeof stored)).toEqual([]);
  });

  it('names every identity field that differs, and a fixed payout under the key', () => {
    expect(plannedPayoutDifferences(planned, { ...stored, client_id: '43', namespace: 'bnpl' })).toEqual(['namespace', 'client_id']);
    expect(plannedPayoutDifferences(planned, { ...stored, external_id: 'req-10/contract-7/RUB ', cpf_only: true })).toEqual(['external_id', 'cpf_only']);
    expect(plannedPayoutDifferences(planned, { ...stored, request_id: null, by_client: false })).toEqual(['request_id', 'by_client']);
  });
});
