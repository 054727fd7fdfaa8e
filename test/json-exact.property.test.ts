// The exact JSON reader (src/domain/json.ts) takes the engine's JSON.parse as a fast path; on any
// text it must answer exactly as the plain, character-by-character reference does: the same value
// (numbers as their literal text), the same refusals, and what the writer wrote it reads back.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonNumber, JsonSyntaxError, parseJsonExact, parseJsonExactPlain, stringifyJson } from '../src/domain/json.ts';

/** A parse result with every JsonNumber as { n: text }, so toEqual compares literals. */
function plain(v: unknown): unknown {
  if (v instanceof JsonNumber) return { n: v.text };
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(o, k, { value: plain(x), enumerable: true });
    return o;
  }
  return v;
}

const outcome = (parse: (t: string) => unknown, text: string) => {
  try {
    return { ok: plain(parse(text)) };
  } catch (err) {
    return { refused: err instanceof JsonSyntaxError ? 'syntax' : String(err) };
  }
};

/** JSON literals of numbers as OEBS writes them: money with 2–6 decimals, int64 ids, exponents. */
const literal = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
  fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 18n }), fc.integer({ min: 1, max: 6 }), fc.boolean())
    .map(([i, d, neg]) => `${neg ? '-' : ''}${i / 10n ** BigInt(d)}.${String(i % 10n ** BigInt(d)).padStart(d, '0')}`),
  fc.constantFrom('0', '-0', '1e5', '1E-7', '2.50e+3', '100.00', '0.10'),
);

/** JSON text: a random JSON value with its numbers replaced by exact literals, in random layout. */
const jsonText = fc.tuple(fc.jsonValue(), fc.array(literal, { minLength: 1, maxLength: 20 }), fc.constantFrom('', ' ', '\n\t ')).map(([v, lits, ws]) => {
  let i = 0;
  return JSON.stringify(v, null, ws).replace(/-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?(?=[,\]}\s]|$)/g, (m, off: number, s: string) => {
    // only numbers outside strings: count the unescaped quotes before this match
    const before = s.slice(0, off).replace(/\\./g, '');
    return (before.split('"').length - 1) % 2 === 0 ? lits[i++ % lits.length]! : m;
  });
});

describe('exact JSON: the fast path answers as the reference', () => {
  it('reads every JSON text to the same value, numbers as their literal text', () => {
    fc.assert(fc.property(jsonText, (text) => {
      expect(outcome(parseJsonExact, text)).toEqual(outcome(parseJsonExactPlain, text));
    }), { numRuns: 2000 });
  });

  it('refuses, or reads, any text exactly as the reference does (broken JSON, strings with digits and quotes)', () => {
    const broken = fc.tuple(jsonText, fc.nat(), fc.constantFrom('', '"', '\\', '0', '01', '-', '.', '1.', 'e', '{', ']', ',', '\u0000', '\u2063'))
      .map(([t, at, ins]) => t.slice(0, at % (t.length + 1)) + ins + t.slice(at % (t.length + 1)));
    fc.assert(fc.property(fc.oneof(broken, fc.string(), fc.string({ unit: fc.constantFrom('"', '\\', '1', '-', '.', 'e', '{', '}', '[', ']', ':', ',', ' ', 'a') })), (text) => {
      expect(outcome(parseJsonExact, text)).toEqual(outcome(parseJsonExactPlain, text));
    }), { numRuns: 3000 });
  });

  it('reads back what the writer wrote: JsonNumbers as their literals, strings that look like tags as strings', () => {
    const value = fc.tuple(jsonText, fc.array(fc.string(), { maxLength: 5 })).map(([t, strings]) => ({
      parsed: parseJsonExactPlain(t), strings, tagLike: `\u2063${'0'.repeat(32)}:12`, nested: [new JsonNumber('9223372036854775807'), { a: new JsonNumber('0.10') }],
    }));
    fc.assert(fc.property(value, (v) => {
      const text = stringifyJson(v);
      expect(plain(parseJsonExact(text))).toEqual(plain(v));
    }), { numRuns: 1000 });
  });

  it('keeps "__proto__" a plain key and refuses nesting past the limit, as the reference does', () => {
    const o = parseJsonExact('{"__proto__":{"n":1.50}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(o)).toBe(Object.prototype);
    expect(plain(o)).toEqual(plain(parseJsonExactPlain('{"__proto__":{"n":1.50}}')));
    for (const depth of [255, 256, 257, 300]) {
      const text = '['.repeat(depth) + '1' + ']'.repeat(depth);
      expect(outcome(parseJsonExact, text)).toEqual(outcome(parseJsonExactPlain, text));
    }
  });
});
