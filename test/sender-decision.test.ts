import { describe, expect, it } from 'vitest';
import { decidePayout, type DecisionRules, type LedgerEvent } from '../src/domain/sender-decision.ts';
import { floorToMinor, isWholeMinor } from '../src/domain/money.ts';

const byClient = { by_client: true, amount: '0', namespace: 'taxi', client_id: '42', currency: 'RUB' };
const fixed = (amount: string) => ({ by_client: false, amount, namespace: 'taxi', client_id: '42', currency: 'RUB' });
const credit = (amount: string, info: unknown = {}): LedgerEvent => ({ event_type: 'accrual', type: 'credit', amount, info });
const reservation = (amount: string, info: unknown = {}): LedgerEvent => ({ event_type: 'payout-reserve', type: 'debit', amount, info });
const cancelled = (amount: string, info: unknown = {}): LedgerEvent => ({ event_type: 'payout-cancel-reserve', type: 'credit', amount, info });
const rules: DecisionRules = { decimals: 2, processDryRun: true, allowedNs: new Map() };
const acc = (debit: string, credit: string, history: LedgerEvent[]) => ({ debit, credit, history });

describe('decidePayout: whole minor units', () => {
  it('pays a by-client payout the balance rounded DOWN to kopecks; the rest stays', () => {
    expect(decidePayout(byClient, acc('10', '110.555', [credit('110.555')]), rules)).toEqual({ kind: 'send', amount: '100.55', dryRun: false, cpfs: [] });
    expect(decidePayout(byClient, acc('0', '0.019999', [credit('0.019999')]), rules)).toMatchObject({ kind: 'send', amount: '0.01' });
  });

  it('finishes a balance below one kopeck as zero: nothing reserved, nothing published', () => {
    expect(decidePayout(byClient, acc('0', '0.005', [credit('0.005')]), rules)).toEqual({ kind: 'zero', dryRun: false });
    expect(decidePayout(byClient, acc('7', '7', []), rules)).toEqual({ kind: 'zero', dryRun: false });
  });

  it('uses the currency minor unit it is given', () => {
    expect(decidePayout({ ...byClient, currency: 'JPY' }, acc('0', '100.99', [credit('100.99')]), { ...rules, decimals: 0 }))
      .toMatchObject({ kind: 'send', amount: '100' });
  });

  it('pays a fixed amount the balance covers, rejects one it does not and one with fractions of a kopeck', () => {
    expect(decidePayout(fixed('50'), acc('0', '50', [credit('50')]), rules)).toMatchObject({ kind: 'send', amount: '50' });
    expect(decidePayout(fixed('50.01'), acc('0', '50', [credit('50')]), rules))
      .toEqual({ kind: 'reject', error: 'balance 50 does not cover the payout amount 50.01' });
    expect(decidePayout(fixed('0.005'), acc('0', '0.05', [credit('0.05')]), rules))
      .toMatchObject({ kind: 'reject', error: expect.stringContaining('not a whole number of RUB minor units') });
  });

  it('rejects a negative balance', () => {
    expect(decidePayout(byClient, acc('5', '1', []), rules)).toMatchObject({ kind: 'reject', error: expect.stringContaining('negative balance -4') });
  });
});

describe('decidePayout: the accruals behind the balance', () => {
  it('routes all-dry-run accruals as dry-run and rejects a mix', () => {
    expect(decidePayout(byClient, acc('0', '3', [credit('1', { dry_run: true }), credit('2', { dry_run: true })]), rules))
      .toMatchObject({ kind: 'send', dryRun: true });
    expect(decidePayout(byClient, acc('0', '3', [credit('1', { dry_run: true }), credit('2')]), rules))
      .toMatchObject({ kind: 'reject', error: expect.stringContaining('dry_run') });
  });

  it('counts only what came after the last reservation, and its remainder with that reservation\'s flag', () => {
    // 100.555 real, reserved 100.55 (0.005 stays), then 5 more real: pays 5.00, the cpfs of the new accrual only.
    const cpfOld = [{ external_id: 'R-1', amount: '100.555', operation_type: 'INSERT_NETTING' }];
    const cpfNew = [{ external_id: 'R-2', amount: '5', operation_type: 'INSERT_NETTING' }];
    const history = [reservation('100.55', { dry_run: false, cpf: cpfOld }), credit('5', { cpf: cpfNew })];
    expect(decidePayout(byClient, acc('100.55', '105.555', [credit('100.555', { cpf: cpfOld }), ...history]), rules))
      .toEqual({ kind: 'send', amount: '5', dryRun: false, cpfs: cpfNew });
    // A dry-run remainder under new real money cannot be paid either way.
    const dryLeft = [reservation('10', { dry_run: true }), credit('5')];
    expect(decidePayout(byClient, acc('10', '25', dryLeft), rules)).toMatchObject({ kind: 'reject', error: expect.stringContaining('dry_run') });
  });

  it('a dry-run remainder below a kopeck does not veto real money that follows (the account is never blocked by dust)', () => {
    const history = [reservation('10', { dry_run: true }), credit('100')];
    expect(decidePayout(byClient, acc('10', '110.004', history), rules)).toEqual({ kind: 'send', amount: '100', dryRun: false, cpfs: [] });
  });

  it('pays what a fixed payout left behind as what it was, with no accrual after it', () => {
    expect(decidePayout(byClient, acc('50', '100', [reservation('50', { dry_run: true })]), rules)).toMatchObject({ kind: 'send', amount: '50', dryRun: true });
  });

  it('a cancelled dry-run reservation comes back dry-run with its CPFs', () => {
    const cpf = [{ external_id: 'R-9', amount: '3', operation_type: 'INSERT_NETTING' }];
    const history = [reservation('3', { dry_run: true, cpf }), cancelled('3', { dry_run: true, cpf })];
    expect(decidePayout(byClient, acc('6', '9', [credit('3', { dry_run: true, cpf }), ...history]), rules))
      .toEqual({ kind: 'send', amount: '3', dryRun: true, cpfs: cpf });
  });

  it('rejects money no accrual explains; with PAYOUT_PROCESS_DRY_RUN off pays it as real', () => {
    expect(decidePayout(byClient, acc('0', '3', []), rules)).toMatchObject({ kind: 'reject', error: expect.stringContaining('not explained by any accrual') });
    expect(decidePayout(byClient, acc('0', '3', []), { ...rules, processDryRun: false })).toMatchObject({ kind: 'send', amount: '3', dryRun: false });
  });

  it('allows real payouts only to the listed clients of a restricted namespace, dry-run to anyone', () => {
    const allowedNs = new Map([['taxi', new Set(['1'])]]);
    expect(decidePayout(byClient, acc('0', '3', [credit('3')]), { ...rules, allowedNs }))
      .toMatchObject({ kind: 'reject', error: expect.stringContaining('not allowed') });
    expect(decidePayout(byClient, acc('0', '3', [credit('3', { dry_run: true })]), { ...rules, allowedNs })).toMatchObject({ kind: 'send' });
    expect(decidePayout({ ...byClient, client_id: '1' }, acc('0', '3', [credit('3')]), { ...rules, allowedNs })).toMatchObject({ kind: 'send' });
  });

  it('collects the cash-payment facts of the accruals', () => {
    const cpf = [{ external_id: 'R-1', amount: '2.5', operation_type: 'INSERT_NETTING' }];
    const d = decidePayout(byClient, acc('0', '2.5', [credit('2.5', { cpf }), { type: 'debit', amount: '0', info: { cpf: [{}] } }]), rules);
    expect(d).toMatchObject({ kind: 'send', cpfs: cpf });
  });
});

describe('floorToMinor / isWholeMinor', () => {
  it.each([['0.005', '0'], ['0.019999', '0.01'], ['1.125', '1.12'], ['2', '2'], ['123456789012345678.999999', '123456789012345678.99']])('%s → %s', (a, b) => {
    expect(floorToMinor(a, 2)).toBe(b);
  });
  it('tells whole kopecks', () => {
    expect(isWholeMinor('100.50', 2)).toBe(true);
    expect(isWholeMinor('0.005', 2)).toBe(false);
    expect(isWholeMinor('7', 0)).toBe(true);
    expect(isWholeMinor('7.1', 0)).toBe(false);
  });
});
