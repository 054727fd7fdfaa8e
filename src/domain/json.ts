// JSON with exact numbers (pure). `JSON.parse` reads every number into a float, so `0.1` or an
// int64 id above 2^53 would already be wrong before any check ran, and `JSON.stringify` can only
// write a number it holds as a float. Messages to and from OEBS carry money and int64 ids as JSON
// numbers, so payout reads and writes their JSON text itself: a number stays the text it was
// written as (a `JsonNumber`), from the wire to a decimal string and back.

const NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;
const MAX_DEPTH = 256;

/** A JSON number as its literal text: written verbatim, read without a float in between. */
export class JsonNumber {
  constructor(readonly text: string) {
    if (!NUMBER.test(text)) throw new Error(`not a JSON number: ${JSON.stringify(text)}`);
  }

  toString(): string {
    return this.text;
  }

  /** Logs and other plain `JSON.stringify` callers see the exact text (as a string), never a float. */
  toJSON(): string {
    return this.text;
  }
}

export const isJsonNumber = (v: unknown): v is JsonNumber => v instanceof JsonNumber;

/** Serialises like `JSON.stringify`, except that a `JsonNumber` is written as its literal text. */
export function stringifyJson(value: unknown): string {
  const out = write(value, 0);
  if (out === undefined) throw new Error('stringifyJson: nothing to write');
  return out;
}

function write(v: unknown, depth: number): string | undefined {
  if (depth > MAX_DEPTH) throw new Error('stringifyJson: nested too deep');
  if (v instanceof JsonNumber) return v.text;
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
      return JSON.stringify(v);
    case 'bigint':
      return v.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  const withToJson = v as { toJSON?: () => unknown };
  if (typeof withToJson.toJSON === 'function') return write(withToJson.toJSON(), depth + 1);
  if (Array.isArray(v)) return `[${v.map((x) => write(x, depth + 1) ?? 'null').join(',')}]`;
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v as object)) {
    const s = write(x, depth + 1);
    if (s !== undefined) parts.push(`${JSON.stringify(k)}:${s}`);
  }
  return `{${parts.join(',')}}`;
}

export class JsonSyntaxError extends Error {}

/**
 * Parses JSON text like `JSON.parse`, except that every number becomes a `JsonNumber` holding its
 * literal text. Strings are decoded by `JSON.parse` itself (exact for them).
 */
export function parseJsonExact(text: string): unknown {
  const p = new Parser(text);
  p.ws();
  const v = p.value(0);
  p.ws();
  if (p.i !== text.length) p.fail('unexpected text after the value');
  return v;
}

// A number literal, matched where the parser stands (sticky).
const NUMBER_AT = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const LITERALS = [['true', true], ['false', false], ['null', null]] as const;

class Parser {
  i = 0;
  constructor(private readonly s: string) {}

  fail(what: string): never {
    throw new JsonSyntaxError(`invalid JSON at position ${this.i}: ${what}`);
  }

  ws(): void {
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.i++;
    }
  }

  value(depth: number): unknown {
    if (depth > MAX_DEPTH) this.fail('nested too deep');
    const c = this.s.charCodeAt(this.i);
    if (c === 0x7b /* { */) return this.object(depth);
    if (c === 0x5b /* [ */) return this.array(depth);
    if (c === 0x22 /* " */) return this.string();
    if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) return this.number();
    for (const [word, v] of LITERALS) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    return this.fail(Number.isNaN(c) ? 'unexpected end' : `unexpected ${JSON.stringify(this.s[this.i])}`);
  }

  private object(depth: number): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    this.i++;
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return o;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('expected a key');
      const k = this.string();
      this.ws();
      if (this.s[this.i] !== ':') this.fail('expected ":"');
      this.i++;
      this.ws();
      const v = this.value(depth + 1);
      // A key "__proto__" is data, as with JSON.parse, not the object's prototype. Any other key
      // is assigned plainly: defineProperty on every key made each object a slow dictionary.
      if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
      else o[k] = v;
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') return o;
      if (c !== ',') this.fail('expected "," or "}"');
    }
  }

  private array(depth: number): unknown[] {
    const a: unknown[] = [];
    this.i++;
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return a;
    }
    for (;;) {
      this.ws();
      a.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return a;
      if (c !== ',') this.fail('expected "," or "]"');
    }
  }

  /** A string with no escape is its text (after checking it holds no raw control character, which JSON forbids); one with escapes is decoded by JSON.parse. */
  private string(): string {
    const start = this.i++;
    let plain = true;
    for (;;) {
      const c = this.s.charCodeAt(this.i++);
      if (Number.isNaN(c)) this.fail('unterminated string');
      if (c === 0x22 /* " */) break;
      if (c === 0x5c /* \ */) {
        plain = false;
        this.i++;
      } else if (c < 0x20) plain = false; // JSON.parse refuses it below
    }
    if (plain) return this.s.slice(start + 1, this.i - 1);
    try {
      return JSON.parse(this.s.slice(start, this.i)) as string;
    } catch {
      return this.fail('bad string');
    }
  }

  private number(): JsonNumber {
    NUMBER_AT.lastIndex = this.i;
    const found = NUMBER_AT.exec(this.s);
    if (!found || found[0] === '-') this.fail('bad number');
    this.i += found[0].length;
    return new JsonNumber(found[0]);
  }
}

/** The body parsed exactly, or undefined when it is not JSON at all. */
export function tryParseJsonExact(text: string): unknown {
  try {
    return parseJsonExact(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) return undefined;
    throw err;
  }
}
