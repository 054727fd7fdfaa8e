// Body JSON is validated strictly (no type coercion: `"amount": 100` is an error, not "100"),
// while querystring and path parameters, which are always text, are coerced to their types.
import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function makeAjv(opts: Options): Ajv {
  const ajv = new Ajv({ removeAdditional: false, useDefaults: true, allErrors: false, strict: false, ...opts });
  addFormats(ajv);
  return ajv;
}

export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = makeAjv({ coerceTypes: false });
  const coercing = makeAjv({ coerceTypes: 'array' });
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema as object);
}

interface AjvErrorLike { instancePath: string; message?: string; keyword: string; params: Record<string, unknown> }

/** "body/amount must match pattern …" → a message that names the field and says what is allowed. */
export function describeValidationError(errors: AjvErrorLike[], part: string): string {
  const e = errors[0];
  if (!e) return `invalid ${part}`;
  const where = e.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : part;
  switch (e.keyword) {
    case 'additionalProperties':
      return `${part}: unknown field "${String(e.params.additionalProperty)}"`;
    case 'required':
      return `${part}: missing field "${String(e.params.missingProperty)}"`;
    case 'enum':
      return `${where}: must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
    case 'pattern':
      return where.endsWith('amount') ? `${where}: must be a decimal string like "100.50" (up to 18 integer digits and 6 decimals)` : `${where}: has an invalid format`;
    default:
      return `${where}: ${e.message ?? 'is invalid'}`;
  }
}

declare global {
  interface String {
    /** ES2024, present in Node 20; the ES2022 lib this project compiles against does not declare it. */
    isWellFormed(): boolean;
  }
}

/**
 * The first text in a parsed body, query or path that Postgres cannot store, as a message naming
 * its field; undefined if there is none. Postgres `text` holds neither NUL nor a lone UTF-16
 * surrogate (JSON's "\u0000" and "\ud800" parse into JS strings, percent-encoded %00 into a query
 * value), and a row holding one fails its whole INSERT: such input is refused up front with a 400.
 */
export function unstorableText(value: unknown, part: string, path = ''): string | undefined {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return `${path || part}: must not contain the NUL character (\\u0000)`;
    if (!value.isWellFormed()) return `${path || part}: must not contain a lone UTF-16 surrogate`;
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  for (const [k, v] of Object.entries(value)) {
    const at = path ? `${path}.${k}` : k;
    // A key is text too (a JSON object is stored as jsonb): named by its path, escaped, since it cannot be printed.
    if (k.includes('\u0000') || !k.isWellFormed()) return `${path || part}: has a key Postgres cannot store (${JSON.stringify(k)}: NUL or a lone UTF-16 surrogate)`;
    const found = unstorableText(v, part, at);
    if (found) return found;
  }
  return undefined;
}
