// Prometheus metrics of a worker process (req-gate, oebs-gate), served on PAYOUT_METRICS_PORT
// when it is set; the api serves its own at /metrics.
import http from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { bearerMatches } from '../metrics-token.ts';

export function createWorkerRegistry(component: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({ register: registry, prefix: 'payout_' });
  return registry;
}

/** `token` (PAYOUT_METRICS_TOKEN): when set, a scrape must send it as a bearer token. */
export function serveMetrics(registry: Registry, host: string, port: number, token?: string): http.Server {
  return http
    .createServer(async (req, res) => {
      if (req.url !== '/metrics') return void res.writeHead(404).end();
      if (token !== undefined && !bearerMatches(req.headers.authorization, token)) return void res.writeHead(401).end();
      res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
    })
    .listen(port, host);
}
