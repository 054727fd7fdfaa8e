// The wire formats of OEBS and ARD, rule by rule, against fixtures of the original's messages
// (test/fixtures/oebs): what payout writes, what it reads, with both id encodings, and the exact
// JSON that carries money and int64 ids without a float.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JsonNumber, parseJsonExact, stringifyJson, tryParseJsonExact } from '../src/domain/json.ts';
import { twoDecimals } from '../src/domain/money.ts';
import { newPayoutMessage } from '../src/domain/oebs-messages.ts';
import { ardKey, oebsKey, parseArd, parseOebs, readAmount, readId } from '../src/domain/status-messages.ts';

const fixture = (name: string) => readFileSync(path.join(import.meta.dirname, 'fixtures/oebs', name), 'utf8').trim();

describe('exact JSON', () => {
  it('reads numbers as their text: no float in between', () => {
    const v = parseJsonExact('{"a":0.1,"b":100.50,"c":9223372036854775807,"d":-1e-7,"e":[1,2.0],"f":"x\\"y","g":null,"h":true}') as Record<string, unknown>;
    expect((v.a as JsonNumber).text).toBe('0.1');
    expect((v.b as JsonNumber).text).toBe('100.50');
    expect((v.c as JsonNumber).text).toBe('9223372036854775807');
    expect((v.d as JsonNumber).text).toBe('-1e-7');
    expect((v.e as JsonNumber[]).map((n) => n.text)).toEqual(['1', '2.0']);
    expect([v.f, v.g, v.h]).toEqual(['x"y', null, true]);
  });

  it('writes a JsonNumber as its literal, everything else as JSON.stringify does', () => {
    const value = { amount: new JsonNumber('100.50'), id: new JsonNumber('9223372036854775807'), s: 'é"', n: 3, skip: undefined, list: [new JsonNumber('0.10'), null] };
    expect(stringifyJson(value)).toBe('{"amount":100.50,"id":9223372036854775807,"s":"é\\"","n":3,"list":[0.10,null]}');
    const text = fixture('oebs-reconciled.json');
    expect(stringifyJson(parseJsonExact(text))).toBe(text); // a round trip keeps the text
  });

  it('refuses what is not JSON, and keeps "__proto__" a plain key', () => {
    for (const bad of ['', '{', '{"a":01}', '{"a":1,}', '[1 2]', '{"a":.5}', 'NaN', '{"a":1}x', "{'a':1}", '"unterminated']) {
      expect(tryParseJsonExact(bad), bad).toBeUndefined();
    }
    const o = parseJsonExact('{"__proto__":{"polluted":1}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(o)).toBe(Object.prototype);
    expect(Object.keys(o)).toEqual(['__proto__']);
    expect(() => new JsonNumber('1.')).toThrow();
  });
});

describe('new-payout, as the original wrote it', () => {
  it('is field for field the original message: int ids, dates in UTC, amount a number with two decimals', () => {
    const msg = newPayoutMessage(
      { id: '1234', namespace: 'taxi', client_id: '42', contract_id: '7', service_id: '124', currency: 'RUB', created_at: new Date('2025-02-28T23:59:59.999Z') },
      '100.5', new Date('2025-03-01T10:00:05.999Z'),
    );
    expect(stringifyJson(msg)).toBe(fixture('new-payout.json'));
  });

  it('writes the amount from its decimal string, exactly', () => {
    expect(['100.5', '0.55', '100', '0.1', '12345678901234567.89'].map(twoDecimals)).toEqual(['100.50', '0.55', '100.00', '0.10', '12345678901234567.89']);
    expect(() => twoDecimals('1.005')).toThrow(/whole minor units/);
  });
});

describe('ARD answers', () => {
  it('reads the original ARD NEW, ids as JSON integers or as digit strings alike (int64 exact)', () => {
    const want = { ok: true, msg: { payoutId: '1234', statusType: 'NEW', statusInfo: '', batchId: '9223372036854775807', checkId: '77001' } };
    expect(parseArd(parseJsonExact(fixture('ard-new.json')))).toEqual(want);
    expect(parseArd(parseJsonExact(fixture('ard-new-string-ids.json')))).toEqual(want);
    expect(ardKey(parseJsonExact(fixture('ard-new.json')))).toBe('1234');
  });

  it('reads an ARD error without batch and check', () => {
    expect(parseArd(parseJsonExact(fixture('ard-error.json')))).toEqual({
      ok: true, msg: { payoutId: '1235', statusType: 'ERROR', statusInfo: 'Счёт получателя закрыт', batchId: '', checkId: '' },
    });
  });

  const base = () => parseJsonExact(fixture('ard-new.json')) as Record<string, unknown>;
  it.each([
    ['not an object', () => [base()], 'parse_error', 'JSON object'],
    ['not JSON at all', () => undefined, 'parse_error', 'no JSON'],
    ['another system', () => ({ ...base(), status_system: 'ard' }), 'unknown_system', 'status_system'],
    ['no status_system', () => ({ ...base(), status_system: undefined }), 'unknown_system', 'status_system'],
    ['no status_type', () => ({ ...base(), status_type: '' }), 'parse_error', 'status_type'],
    ['id beyond int64', () => ({ ...base(), message_id: new JsonNumber('9223372036854775808') }), 'parse_error', 'message_id'],
    ['fractional id', () => ({ ...base(), message_id: new JsonNumber('12.0') }), 'parse_error', 'message_id'],
    ['id with an exponent', () => ({ ...base(), message_id: new JsonNumber('1e3') }), 'parse_error', 'message_id'],
    ['id as a word', () => ({ ...base(), message_id: 'P12' }), 'parse_error', 'message_id'],
    ['NEW without a check id', () => ({ ...base(), payment_check_id: null }), 'parse_error', 'payment_check_id'],
    ['status_info not a string', () => ({ ...base(), status_info: new JsonNumber('5') }), 'parse_error', 'status_info'],
  ])('rejects %s', (_name, make, source, problem) => {
    const r = parseArd(make());
    expect(r).toEqual({ ok: false, source, problem: expect.stringContaining(problem) });
  });
});

describe('OEBS answers', () => {
  it('reads the original OEBS answer, amount as a number or a string, ids as integers or digit strings', () => {
    const want = (statusType: string) => ({ ok: true, msg: { statusType, batchIds: ['9223372036854775807', '555'], paymentId: '880001', paymentAmount: '100.5' } });
    expect(parseOebs(parseJsonExact(fixture('oebs-reconciled.json')))).toEqual(want('RECONCILED'));
    expect(parseOebs(parseJsonExact(fixture('oebs-returned-string-amount.json')))).toEqual(want('RETURNED'));
    expect(oebsKey(parseJsonExact(fixture('oebs-reconciled.json')))).toBe('880001/RECONCILED');
  });

  const base = () => parseJsonExact(fixture('oebs-reconciled.json')) as Record<string, unknown>;
  it.each([
    ['another system', () => ({ ...base(), status_system: 'OEBS-2' }), 'unknown_system', 'status_system'],
    ['batch ids not a list', () => ({ ...base(), payment_batch_id: new JsonNumber('555') }), 'parse_error', 'payment_batch_id'],
    ['an empty batch list', () => ({ ...base(), payment_batch_id: [] }), 'parse_error', 'payment_batch_id'],
    ['a batch id beyond int64', () => ({ ...base(), payment_batch_id: [new JsonNumber('99999999999999999999')] }), 'parse_error', 'payment_batch_id'],
    ['no payment id', () => ({ ...base(), payment_id: undefined }), 'parse_error', 'payment_id'],
    ['a negative amount', () => ({ ...base(), payment_amount: new JsonNumber('-1.00') }), 'parse_error', 'payment_amount'],
    ['an amount as a word', () => ({ ...base(), payment_amount: 'ten' }), 'parse_error', 'payment_amount'],
    ['an amount with 7 decimals', () => ({ ...base(), payment_amount: new JsonNumber('1.0000001') }), 'parse_error', 'payment_amount'],
  ])('rejects %s', (_name, make, source, problem) => {
    expect(parseOebs(make())).toEqual({ ok: false, source, problem: expect.stringContaining(problem) });
  });

  it('reads amounts exactly, exponents included, and ids only as int64 integers', () => {
    expect(['0.1', '100.50', '1e2', '12345678901234567.890001'].map((t) => readAmount(new JsonNumber(t)))).toEqual(['0.1', '100.5', '100', '12345678901234567.890001']);
    expect([readId(new JsonNumber('-9223372036854775808')), readId('007'), readId(new JsonNumber('1.5')), readId(true), readId('9223372036854775808')])
      .toEqual(['-9223372036854775808', '7', undefined, undefined, undefined]);
  });
});
