// JSON bodies read exactly, for the routes of one plugin context. Fastify's own parser is
// JSON.parse, which turns every number into a float: an int64 id above 2^53 − 1 is already wrong
// before the schema sees it. In a context that calls `exactJsonBodies`, the body is parsed with
// `parseJsonExact` (src/domain/json.ts): `req.body` is what JSON.parse would have given (numbers
// as floats, so the route's schema validates and describes it as before), and `exactBodyOf(req)`
// is the same body with every number as its literal text (a `JsonNumber`).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { JsonNumber, parseJsonExact } from '../domain/json.ts';

const exactBodies = new WeakMap<FastifyRequest, unknown>();

/** What JSON.parse would have made of the exact parse (a `__proto__` key stays a plain data key). */
function plain(v: unknown): unknown {
  if (v instanceof JsonNumber) return Number(v.text);
  if (Array.isArray(v)) return v.map(plain);
  if (v === null || typeof v !== 'object') return v;
  const o: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) Object.defineProperty(o, k, { value: plain(x), enumerable: true, writable: true, configurable: true });
  return o;
}

/** application/json bodies of this context's routes are parsed exactly (see above). */
export function exactJsonBodies(app: FastifyInstance): void {
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, text, done) => {
    let exact: unknown;
    try {
      exact = parseJsonExact(text as string);
    } catch {
      // Answered as Fastify's own parser answers malformed JSON (src/api/app.ts: "body: malformed JSON").
      return done(Object.assign(new Error('body: malformed JSON'), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' }), undefined);
    }
    exactBodies.set(req, exact);
    done(null, plain(exact));
  });
}

/** The body of a request of an `exactJsonBodies` context, numbers as their literal text. */
export const exactBodyOf = (req: FastifyRequest): unknown => exactBodies.get(req);
