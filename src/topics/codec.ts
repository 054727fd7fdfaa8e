// How payloads become message bodies and back, for both backends. The text is what travels:
// written with `stringifyJson` (a `JsonNumber` such as an amount goes out as its literal) and read
// with `parseJsonExact` (numbers stay their text), so no number passes through a float.
import { parseJsonExact, stringifyJson, tryParseJsonExact } from '../domain/json.ts';
import type { Payload } from './types.ts';

export const encodePayload = (payload: Payload): string => stringifyJson(payload);

/** A delivered body and its exact parse (undefined when the body is not JSON: the handler decides). */
export const decodeBody = (body: string): { body: string; payload: unknown } => ({ body, payload: tryParseJsonExact(body) });

export { parseJsonExact };
