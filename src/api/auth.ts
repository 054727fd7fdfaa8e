// Bearer tokens, one per calling service, each limited to its namespaces.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiCaller } from '../config.ts';

declare module 'fastify' {
  interface FastifyRequest {
    caller: ApiCaller;
  }
}

export class HttpError extends Error {
  /** retryAfterS: sent as Retry-After (with a 503). */
  constructor(public readonly statusCode: number, message: string, public readonly retryAfterS?: number) {
    super(message);
  }
}

export function authenticate(tokens: Map<string, ApiCaller>) {
  return async (req: FastifyRequest, _reply: FastifyReply) => {
    const header = req.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) throw new HttpError(401, 'missing bearer token: send "Authorization: Bearer <token>"');
    const caller = tokens.get(m[1]!);
    if (!caller) throw new HttpError(401, 'unknown token');
    req.caller = caller;
  };
}

export function mayUse(caller: ApiCaller, namespace: string): boolean {
  return caller.namespaces.includes('*') || caller.namespaces.includes(namespace);
}

export function requireNamespace(caller: ApiCaller, namespace: string) {
  if (!mayUse(caller, namespace)) throw new HttpError(403, `caller "${caller.name}" may not use namespace "${namespace}"`);
}

export function grantedNamespaces(caller: ApiCaller, all: readonly string[]): string[] {
  return caller.namespaces.includes('*') ? [...all] : caller.namespaces;
}
