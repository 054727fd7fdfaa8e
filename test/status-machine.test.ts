import { describe, expect, it } from 'vitest';
import { decideArd, decideOebs } from '../src/domain/status-machine.ts';
import type { PayoutStatus } from '../src/store/payouts.ts';

const kinds = (decide: (s: PayoutStatus, t: string) => { kind: string }, t: string) =>
  Object.fromEntries((['new', 'pending', 'confirmed', 'done', 'rejected'] as const).map((s) => [s, decide(s, t).kind]));

describe('ARD answers', () => {
  it('NEW confirms a pending payout only; never revives a rejected one', () => {
    expect(kinds(decideArd, 'NEW')).toEqual({ new: 'impossible', pending: 'confirm', confirmed: 'skip', done: 'skip', rejected: 'impossible' });
  });
  it('an error status rejects a pending payout once', () => {
    expect(kinds(decideArd, 'ERROR')).toEqual({ new: 'impossible', pending: 'reject', confirmed: 'impossible', done: 'impossible', rejected: 'skip' });
  });
  it('PROCESSED records; an unknown status is impossible', () => {
    expect(kinds(decideArd, 'PROCESSED')).toEqual({ new: 'impossible', pending: 'record', confirmed: 'record', done: 'record', rejected: 'skip' });
    expect(decideArd('pending', 'BANANA')).toEqual({ kind: 'impossible', reason: 'unknown ARD status "BANANA"' });
  });
});

describe('OEBS answers', () => {
  it('RECONCILED pays a confirmed payout once; a pending one waits for ARD NEW', () => {
    expect(kinds(decideOebs, 'RECONCILED')).toEqual({ new: 'impossible', pending: 'wait', confirmed: 'pay', done: 'skip', rejected: 'impossible' });
  });
  it('RETURNED returns a done payout and remembers the payment of one not (yet) paid by it', () => {
    expect(kinds(decideOebs, 'RETURNED')).toEqual({ new: 'impossible', pending: 'wait', confirmed: 'returnUnpaid', done: 'return', rejected: 'impossible' });
    expect(decideOebs('done', 'RETURNED', { paymentId: 'A', paidBy: 'B', returned: [] }).kind).toBe('returnUnpaid');
  });
  it('RECONCILED of another payment while paid by one not returned waits for its RETURNED', () => {
    expect(decideOebs('done', 'RECONCILED', { paymentId: 'B', paidBy: 'A', returned: [] }).kind).toBe('wait');
    expect(decideOebs('done', 'RECONCILED', { paymentId: 'A', paidBy: 'A', returned: [] }).kind).toBe('skip');
  });
  it('a returned payment never pays again; RETURNED of an older payment does not return a newer one', () => {
    const returnedA = { paymentId: 'A', paidBy: 'A', returned: ['A'] };
    expect(decideOebs('confirmed', 'RECONCILED', returnedA).kind).toBe('skip');
    expect(decideOebs('confirmed', 'RETURNED', returnedA).kind).toBe('skip');
    expect(decideOebs('confirmed', 'RECONCILED', { paymentId: 'B', paidBy: 'B', returned: ['A'] }).kind).toBe('pay');
    expect(decideOebs('done', 'RETURNED', { paymentId: 'A', paidBy: 'B', returned: ['A'] }).kind).toBe('skip'); // A returned already
    expect(decideOebs('done', 'RETURNED', { paymentId: 'B', paidBy: 'B', returned: ['A'] }).kind).toBe('return');
    expect(decideOebs('done', 'CREATED', { paymentId: 'A', paidBy: 'B', returned: [] }).kind).toBe('skip');
    expect(decideOebs('done', 'CREATED', { paymentId: 'A', paidBy: 'A', returned: [] }).kind).toBe('register');
    expect(decideOebs('confirmed', 'CREATED', returnedA).kind).toBe('skip');
  });
  it('CREATED registers, TRANSMITTED records, unknown is impossible', () => {
    expect(decideOebs('confirmed', 'CREATED').kind).toBe('register');
    expect(decideOebs('done', 'TRANSMITTED').kind).toBe('record');
    expect(decideOebs('confirmed', 'LOST').kind).toBe('impossible');
    expect(decideOebs('pending', 'LOST').kind).toBe('impossible');
    expect(decideOebs('pending', 'CREATED').kind).toBe('wait');
  });
});
