// PAYOUT_METRICS_TOKEN: /metrics and /docs may be put behind a bearer token of their own (they
// tell an outsider the shape of the system and its volumes). Compared in constant time.
import { timingSafeEqual } from 'node:crypto';

export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  if (!m) return false;
  const [a, b] = [Buffer.from(m[1]!), Buffer.from(token)];
  return a.length === b.length && timingSafeEqual(a, b);
}
