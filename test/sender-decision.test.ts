import { describe, expect, it } from 'vitest';
import { decidePayout, type LedgerEvent } from '../src/domain/sender-decision.ts';
import { roundOebs } from '../src/domain/money.ts';

const byClient = { by_client: true, amount: '0', namespace: 'taxi', client_id: '42' };
const fixed = (amount: string) => ({ by_client: false, amount, namespace: 'taxi', client_id: '42' });
const credit = (amount: string, info: unknown = {}): LedgerEvent => ({ type: 'credit', amount, info });
const none = new Map<string, Set<string>>();

describe('decidePayout', () => {
  it('pays a by-client payout the balance found now', () => {
    const d = decidePayout(byClient, { debit: '10', credit: '110.555', events: [credit('110.555')] }, none);
    expect(d).toEqual({ kind: 'send', amount: '100.555', amountOebs: '100.56', dryRun: false, cpfs: [] });
  });

  it('pays a fixed amount the balance covers and rejects one it does not', () => {
    expect(decidePayout(fixed('50'), { debit: '0', credit: '50', events: [] }, none)).toMatchObject({ kind: 'send', amount: '50' });
    expect(decidePayout(fixed('50.01'), { debit: '0', credit: '50', events: [] }, none))
      .toEqual({ kind: 'reject', error: 'balance 50 does not cover the payout amount 50.01' });
  });

  it('rejects a negative balance', () => {
    expect(decidePayout(byClient, { debit: '5', credit: '1', events: [] }, none)).toMatchObject({ kind: 'reject', error: expect.stringContaining('negative balance -4') });
  });

  it('finishes a zero balance without sending', () => {
    expect(decidePayout(byClient, { debit: '7', credit: '7', events: [] }, none)).toEqual({ kind: 'zero', dryRun: false });
  });

  it('routes all-dry-run accruals as dry-run and rejects a mix', () => {
    expect(decidePayout(byClient, { debit: '0', credit: '3', events: [credit('1', { dry_run: true }), credit('2', { dry_run: true })] }, none))
      .toMatchObject({ kind: 'send', dryRun: true });
    expect(decidePayout(byClient, { debit: '0', credit: '3', events: [credit('1', { dry_run: true }), credit('2')] }, none))
      .toMatchObject({ kind: 'reject', error: expect.stringContaining('dry_run') });
  });

  it('allows real payouts only to the listed clients of a restricted namespace, dry-run to anyone', () => {
    const allowed = new Map([['taxi', new Set(['1'])]]);
    expect(decidePayout(byClient, { debit: '0', credit: '3', events: [credit('3')] }, allowed))
      .toMatchObject({ kind: 'reject', error: expect.stringContaining('not allowed') });
    expect(decidePayout(byClient, { debit: '0', credit: '3', events: [credit('3', { dry_run: true })] }, allowed)).toMatchObject({ kind: 'send' });
    expect(decidePayout({ ...byClient, client_id: '1' }, { debit: '0', credit: '3', events: [credit('3')] }, allowed)).toMatchObject({ kind: 'send' });
  });

  it('collects the cash-payment facts of the accruals', () => {
    const cpf = [{ external_id: 'R-1', amount: '2.5', operation_type: 'INSERT_NETTING' }];
    const d = decidePayout(byClient, { debit: '0', credit: '2.5', events: [credit('2.5', { cpf }), { type: 'debit', amount: '0', info: { cpf: [{}] } }] }, none);
    expect(d).toMatchObject({ kind: 'send', cpfs: cpf });
  });
});

describe('roundOebs', () => {
  it.each([['0.005', '0.01'], ['0.004999', '0.00'], ['1.125', '1.13'], ['2', '2.00'], ['123456789012345678.999999', '123456789012345679.00']])('%s → %s', (a, b) => {
    expect(roundOebs(a)).toBe(b);
  });
});
