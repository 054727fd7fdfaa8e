// GET /console: the operator console, static files (HTML, CSS, plain ES modules) served from
// src/console/public, read once at start. No build step and no CDN: a fresh clone serves it as it
// is, offline too. The page holds no secret and has no back door: it signs in with an api token
// and calls the public /api/v1 like any caller. A strict Content-Security-Policy allows nothing
// but this origin's own files (no inline script), so the token in session storage is only ever
// read by the console's own code.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';

/** Beside this module's folder: src/console/public, or dist/console/public (the build copies it). */
export const CONSOLE_DIR = path.resolve(import.meta.dirname, '../console/public');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
  + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

function readTree(dir: string, prefix = ''): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) for (const [k, v] of readTree(full, `${prefix}${name}/`)) files.set(k, v);
    else if (TYPES[path.extname(name)]) files.set(`${prefix}${name}`, readFileSync(full));
  }
  return files;
}

export function registerConsole(app: FastifyInstance, dir = CONSOLE_DIR) {
  const files = readTree(dir);
  const send = (name: string) => ({ body: files.get(name), type: TYPES[path.extname(name)]! });
  const headers = { 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache' };

  app.get('/console', { schema: { hide: true } }, async (_req, reply) => {
    const f = send('index.html');
    return reply.headers(headers).type(f.type).send(f.body);
  });
  app.get('/console/*', { schema: { hide: true } }, async (req, reply) => {
    const name = (req.params as { '*': string })['*'];
    // Only the files read at start: no path is ever joined from the request.
    const f = name === '' ? send('index.html') : files.has(name) ? send(name) : undefined;
    if (!f?.body) return reply.code(404).send({ error: 'Not Found', message: `no console file ${name}` });
    return reply.headers(headers).type(f.type).send(f.body);
  });
}
