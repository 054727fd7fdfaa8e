// The exact JSON reader against JSON.parse, on generated text: it accepts exactly what JSON.parse
// accepts and reads the same value, except that each number is its literal text. Valid documents
// (any strings, escapes, nesting, keys like "__proto__") and the same documents with one character
// changed, dropped or added (what a cut or garbled message looks like).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonNumber, JsonSyntaxError, parseJsonExact } from '../src/domain/json.ts';

/** parseJsonExact's value with each JsonNumber read as JSON.parse reads it, or 'refused'. */
function exact(text: string): unknown {
  const asFloats = (v: unknown): unknown => {
    if (v instanceof JsonNumber) return JSON.parse(v.text);
    if (Array.isArray(v)) return v.map(asFloats);
    if (v !== null && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) Object.defineProperty(o, k, { value: asFloats(x), enumerable: true, writable: true, configurable: true });
      return o;
    }
    return v;
  };
  try {
    return asFloats(parseJsonExact(text));
  } catch (err) {
    if (err instanceof JsonSyntaxError) return 'refused';
    throw err;
  }
}

function native(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return 'refused';
  }
}

const key = fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('__proto__', 'constructor', '0', '10', 'a"b', 'a\\b'));
const leaf = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }), // any UTF-16, lone surrogates and control characters included
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.constantFrom(true, false, null, 0.1, 100.5, -0, 1e21, 123456789012345680000),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(key, tie('value'), { maxKeys: 4 })),
}));
/** A document as another system might write it: compact, indented, or with literal number texts. */
const document = fc.tuple(value, fc.constantFrom(undefined, 1, '\t')).map(([v, indent]) => JSON.stringify(v, null, indent));
const number = fc.tuple(fc.constantFrom('', '-'), fc.constantFrom('0', '7', '100', '9223372036854775807'), fc.constantFrom('', '.5', '.50', '.000001'), fc.constantFrom('', 'e5', 'E-7', 'e+2'))
  .map((p) => p.join(''));
const significant = fc.constantFrom(...'"\\{}[]:,.-+eE0159 \t\n\r\u0000\u001fu/tnfx'.split(''), '\ud800', 'é');

describe('exact JSON reader against JSON.parse', () => {
  it('reads every valid document as JSON.parse does, numbers aside', () => {
    fc.assert(fc.property(document, (text) => {
      expect(exact(text)).toEqual(native(text));
    }), { numRuns: 2000 });
  });

  it('keeps each number as its literal text', () => {
    fc.assert(fc.property(fc.array(number, { minLength: 1, maxLength: 5 }), (literals) => {
      const parsed = parseJsonExact(`{"a":[${literals.join(',')}]}`) as { a: JsonNumber[] };
      expect(parsed.a.map((n) => n.text)).toEqual(literals);
    }));
  });

  it('accepts and refuses what JSON.parse does, on documents with one character changed, dropped or added', () => {
    const edit = fc.tuple(document, fc.nat(), fc.constantFrom('replace', 'drop', 'add'), significant).map(([text, at, how, c]) => {
      const i = text.length ? at % (text.length + (how === 'add' ? 1 : 0)) : 0;
      if (how === 'drop') return text.slice(0, i) + text.slice(i + 1);
      return text.slice(0, i) + c + text.slice(how === 'replace' ? i + 1 : i);
    });
    fc.assert(fc.property(edit, (text) => {
      expect(exact(text)).toEqual(native(text));
    }), { numRuns: 5000 });
  });
});
