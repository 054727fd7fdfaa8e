// A fault switch for tests and demos of an accounts system that fails some clients' calls:
// `PUT /v1/faults {"clients": [{"namespace": "taxi", "client_id": "42"}]}` makes every later call
// that names one of those clients (a loc in its body, `client_ids`, or the query) answer 503, as
// a real ledger with a broken shard would; `{"clients": []}` ends it. Calls that name no faulty
// client are served as usual. The stand-in's own state is never touched by a failed call.
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';

const FaultsBody = Type.Object(
  { clients: Type.Array(Type.Object({ namespace: Type.String({ minLength: 1 }), client_id: Type.String({ minLength: 1 }) }, { additionalProperties: false }), { maxItems: 1000 }) },
  { additionalProperties: false },
);

/** Every `namespace/client_id` a call names, wherever in its body or query. */
function clientsNamed(value: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const v of value) clientsNamed(v, out);
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.namespace === 'string' && typeof o.client_id === 'string') out.add(`${o.namespace}/${o.client_id}`);
    if (typeof o.namespace === 'string' && Array.isArray(o.client_ids)) for (const c of o.client_ids) out.add(`${o.namespace}/${String(c)}`);
    for (const v of Object.values(o)) clientsNamed(v, out);
  }
  return out;
}

export function registerFaults(app: FastifyInstance) {
  let faulty = new Set<string>();
  app.put('/v1/faults', { schema: { body: FaultsBody } }, async (req) => {
    faulty = new Set((req.body as { clients: { namespace: string; client_id: string }[] }).clients.map((c) => `${c.namespace}/${c.client_id}`));
    req.log.warn({ clients: [...faulty] }, 'accounts stand-in: calls naming these clients now fail with 503');
    return { clients: [...faulty] };
  });
  app.get('/v1/faults', async () => ({ clients: [...faulty] }));
  app.addHook('preHandler', async (req, reply) => {
    if (!faulty.size || req.url.startsWith('/v1/faults')) return;
    const named = [...clientsNamed([req.body, req.query], new Set())].filter((c) => faulty.has(c));
    if (named.length) return reply.code(503).send({ error: 'Service Unavailable', code: 'fault', message: `injected fault for ${named.join(', ')}` });
  });
}
