// The exact JSON reader on hostile text that is almost JSON: it refuses it (a garbled ARD or OEBS
// answer is a parse error for oebs-errors, never a payment or a status change), and a huge
// unterminated string costs linear time. (These cases broke a JSON.parse-based fast path tried
// this session; the fast path was dropped, the cases stay.)
import { describe, expect, it } from 'vitest';
import { JsonSyntaxError, parseJsonExact, tryParseJsonExact } from '../src/domain/json.ts';
import { parseArd, parseOebs } from '../src/domain/status-messages.ts';

const refused = (text: string) => {
  try {
    parseJsonExact(text);
    return false;
  } catch (err) {
    return err instanceof JsonSyntaxError;
  }
};

describe('exact JSON reader on text that is not JSON', () => {
  it.each([
    ['["\\5]'],
    ['{"amount":100.50,"note":"\\7}'],
    ['{1:2}'],
    ['{"a":1,5:6}'],
    ['[01]'],
    ['[1.]'],
    ['[-]'],
  ])('refuses %s', (text) => {
    expect(refused(text)).toBe(true);
  });

  it('a garbled OEBS RECONCILED (cut after a backslash-digit) is a parse error, not a payment', () => {
    const body = '{"status_system":"oebs","status_type":"RECONCILED","payment_batch_id":[7],"payment_id":9,"payment_amount":100.50,"comment":"\\1}';
    expect(parseOebs(tryParseJsonExact(body))).toMatchObject({ ok: false, source: 'parse_error' });
  });

  it('a garbled ARD answer is a parse error, not a status change', () => {
    const body = '{"status_system":"oebs","status_type":"NEW","message_id":123,"status_info":"\\1}';
    expect(parseArd(tryParseJsonExact(body))).toMatchObject({ ok: false, source: 'parse_error' });
  });

  // A bound two orders of magnitude above the linear cost (milliseconds) and far below a
  // quadratic one (minutes for 1 MB): a status topic or an api body cannot stall the event loop.
  it('refuses a 1 MB unterminated string of escaped quotes within a second', () => {
    const text = '{"status_info":"' + '\\"'.repeat(500_000);
    const t0 = performance.now();
    expect(tryParseJsonExact(text)).toBeUndefined();
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
