// The exact JSON reader's fast path (JSON.parse on number-tagged text) must answer exactly as the
// hand parser (parseJsonExactPlain) on hostile text too. Found by a review of the fast path, each
// failed before its fix: an unterminated string whose last escape is a backslash before a digit
// (`"\5`) had the digit tagged as a number, and the inserted quote turned `\5` into the valid
// escape `\"`, so broken text became valid JSON (a garbled RECONCILED paid); a number where an
// object key belongs (`{1:2}`) was read; the tag reached problem texts sent to oebs-errors; and an
// unterminated string of escaped quotes cost quadratic time.
import { describe, expect, it } from 'vitest';
import { JsonNumber, JsonSyntaxError, NUMBER_TAG_FOR_TESTS, parseJsonExact, parseJsonExactPlain, tryParseJsonExact } from '../src/domain/json.ts';
import { parseArd, parseOebs } from '../src/domain/status-messages.ts';

const outcome = (parse: (t: string) => unknown, text: string) => {
  try {
    return { ok: JSON.stringify(parse(text)) };
  } catch (err) {
    return { refused: err instanceof JsonSyntaxError ? 'syntax' : String(err) };
  }
};

describe('exact JSON fast path vs the hand parser on text that is not JSON', () => {
  it.each([
    ['["\\5]'],
    ['{"amount":100.50,"note":"\\7}'],
    ['{1:2}'],
    ['{"a":1,5:6}'],
  ])('refuses %s as the hand parser does', (text) => {
    expect(outcome(parseJsonExactPlain, text)).toEqual({ refused: 'syntax' });
    expect(outcome(parseJsonExact, text)).toEqual({ refused: 'syntax' });
  });

  it('a garbled OEBS RECONCILED (trailing field cut after a backslash-digit) is a parse error, not a payment', () => {
    const body = '{"status_system":"oebs","status_type":"RECONCILED","payment_batch_id":[7],"payment_id":9,"payment_amount":100.50,"comment":"\\1}';
    // what the reference makes of it: no JSON → parse_error to oebs-errors
    expect(tryParseJsonExactPlain(body)).toBeUndefined();
    expect(parseOebs(undefined).ok).toBe(false);
    // what the receiver makes of it
    expect(parseOebs(tryParseJsonExact(body))).toMatchObject({ ok: false, source: 'parse_error' });
  });

  it('a garbled ARD answer is a parse error, not a status change', () => {
    const body = '{"status_system":"oebs","status_type":"DONE","message_id":123,"status_info":"\\1}';
    expect(tryParseJsonExactPlain(body)).toBeUndefined();
    expect(parseArd(tryParseJsonExact(body))).toMatchObject({ ok: false, source: 'parse_error' });
  });

  const leakTag = (): string => {
    // message_id cut after a backslash-digit: the fast path reads it as the string `"<tag>1`.
    const parsed = parseArd(tryParseJsonExact('{"status_system":"oebs","status_type":"DONE","message_id":"\\1}'));
    const problem = parsed.ok ? '' : parsed.problem;
    const m = /(\u2063[0-9a-f]{32}:)/.exec(problem);
    return m ? m[1]! : '';
  };

  it('the per-process tag never reaches a problem text the receiver sends to oebs-errors', () => {
    expect(leakTag()).toBe('');
  });

  it('a JSON string holding the tag, raw or escaped, is read as the string it is, never as a number', () => {
    const tag = NUMBER_TAG_FOR_TESTS;
    const escaped = tag.replace('\u2063', '\\u2063');
    for (const text of [
      JSON.stringify({ status_info: `${tag}5`, payment_id: `${tag}12` }),
      `{"status_info":"${escaped}5","payment_id":"${escaped}12","n":1}`,
      `{"a":1,"a":2,"b":"${escaped}5"}`, // a duplicate key would hide one tagged number
    ]) {
      const read = (v: unknown) => (v instanceof JsonNumber ? `JsonNumber(${v.text})` : v);
      const fast = parseJsonExact(text) as Record<string, unknown>;
      const plain = parseJsonExactPlain(text) as Record<string, unknown>;
      for (const k of Object.keys(plain)) expect(read(fast[k])).toEqual(read(plain[k]));
      expect(typeof (fast.status_info ?? fast.b)).toBe('string');
    }
  });
});

describe('exact JSON fast path: linear on unterminated strings', () => {
  // Before its fix the tagging regex retried its string alternative from every quote of an
  // unterminated string, each try scanning to the end: 60 kB took ~1.8 s, so a body near the 1 MB
  // limit would have held the event loop for minutes. Linear, 1 MB takes milliseconds: the bound
  // is two orders of magnitude above that, and three below the quadratic cost.
  it('refuses a 1 MB unterminated string of escaped quotes within a second', () => {
    const text = '{"status_info":"' + '\\"'.repeat(500_000);
    expect(tryParseJsonExactPlain(text)).toBeUndefined();
    const t0 = performance.now();
    expect(tryParseJsonExact(text)).toBeUndefined();
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

function tryParseJsonExactPlain(text: string): unknown {
  try {
    return parseJsonExactPlain(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) return undefined;
    throw err;
  }
}
