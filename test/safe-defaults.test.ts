// What is only safe on a laptop is refused elsewhere: example tokens outside PAYOUT_ENV=dev, dev
// as the default under NODE_ENV=production, a supervisor that would invent a dev-token; the
// supervisor's banner shows no password; /metrics and /docs can be put behind a token.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/api/app.ts';
import { loadConfig } from '../src/config.ts';
import { withoutPassword } from '../src/supervisor.ts';
import { createWorkerRegistry, serveMetrics } from '../src/worker/metrics.ts';
import { freePort } from './support/ports.ts';
import { createTestDb } from './support/db.ts';
import { TOKEN, testConfig } from './support/config.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const devToken = JSON.stringify({ 'dev-token': { name: 'dev', namespaces: ['*'] } });
const realToken = JSON.stringify({ 'f3a9c1e07b5d4e2a': { name: 'billing', namespaces: ['taxi'] } });

/** Runs `bin/payout <args>` (the sources) with only these variables (and PATH); resolves with its exit code and output. */
function payout(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(path.join(ROOT, 'bin/payout'), args, { cwd: ROOT, env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', PAYOUT_FROM_SOURCE: '1', ...env } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('safe defaults', () => {
  it('refuses the example tokens outside PAYOUT_ENV=dev, naming the variable, and accepts them in dev', () => {
    expect(() => loadConfig({ PAYOUT_ENV: 'prod', PAYOUT_API_TOKENS: devToken })).toThrow(/PAYOUT_API_TOKENS: the example token "dev-token" is refused outside PAYOUT_ENV=dev/);
    expect(() => loadConfig({ PAYOUT_ENV: 'prod', PAYOUT_METRICS_TOKEN: 'changeme' })).toThrow(/PAYOUT_METRICS_TOKEN/);
    expect(loadConfig({ PAYOUT_API_TOKENS: devToken }).api.tokens.has('dev-token')).toBe(true);
    expect(loadConfig({ PAYOUT_ENV: 'prod', PAYOUT_API_TOKENS: realToken }).env).toBe('prod');
  });

  it('makes PAYOUT_ENV required under NODE_ENV=production (dev is no longer its default there)', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', PAYOUT_API_TOKENS: realToken })).toThrow(/PAYOUT_ENV: required when NODE_ENV=production/);
    expect(loadConfig({ NODE_ENV: 'production', PAYOUT_ENV: 'prod', PAYOUT_API_TOKENS: realToken }).env).toBe('prod');
    expect(loadConfig({}).env).toBe('dev');
  });

  it('a production api process refuses dev-token at start, with a message naming the variable', async () => {
    const { code, out } = await payout(['api'], { PAYOUT_ENV: 'prod', PAYOUT_API_TOKENS: devToken });
    expect(code).toBe(2);
    expect(out).toContain('PAYOUT_API_TOKENS: the example token "dev-token" is refused outside PAYOUT_ENV=dev');
  });

  it('a production supervisor with no tokens refuses to start instead of inventing dev-token', async () => {
    const { code, out } = await payout(['start'], { PAYOUT_ENV: 'prod', PAYOUT_DB_URL: 'postgres://payout:s3cret-pw@127.0.0.1:1/payout' });
    expect(code).not.toBe(0);
    expect(out).toContain('PAYOUT_API_TOKENS: required outside PAYOUT_ENV=dev');
    expect(out).not.toContain('s3cret-pw');
  });

  it('shows database URLs without their password', () => {
    expect(withoutPassword('postgres://payout:s3cret@db:5432/payout')).toBe('postgres://payout:***@db:5432/payout');
    expect(withoutPassword('postgres://db:5432/payout?password=s3cret&sslmode=require')).toBe('postgres://db:5432/payout?password=***&sslmode=require');
    expect(withoutPassword('postgres://localhost/payout')).toBe('postgres://localhost/payout');
  });

  it('puts /metrics and /docs behind PAYOUT_METRICS_TOKEN when it is set, and leaves the api as it is', async () => {
    const db = await createTestDb();
    const app = await buildApp({ config: testConfig({ PAYOUT_METRICS_TOKEN: 'm-7f1e2d3c4b5a6978' }), sql: db.sql });
    const open = await buildApp({ config: testConfig(), sql: db.sql });
    try {
      for (const url of ['/metrics', '/docs', '/docs/json']) {
        expect((await app.inject({ method: 'GET', url })).statusCode).toBe(401);
        expect((await app.inject({ method: 'GET', url, headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
        expect((await app.inject({ method: 'GET', url, headers: { authorization: 'Bearer m-7f1e2d3c4b5a6978' } })).statusCode).not.toBe(401);
        expect((await open.inject({ method: 'GET', url })).statusCode).not.toBe(401);
      }
      expect((await app.inject({ method: 'GET', url: '/ping' })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/api/v1/payout?client_id=1', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode).toBe(200);
    } finally {
      await app.close();
      await open.close();
    }
  });

  it('puts a gate\'s /metrics (req-gate, oebs-gate) behind PAYOUT_METRICS_TOKEN too', async () => {
    const port = await freePort();
    const server = serveMetrics(createWorkerRegistry('req-gate'), '127.0.0.1', port, 'm-7f1e2d3c4b5a6978');
    await new Promise((r) => server.once('listening', r));
    try {
      const scrape = (authorization?: string) => fetch(`http://127.0.0.1:${port}/metrics`, { headers: authorization ? { authorization } : {} });
      expect((await scrape()).status).toBe(401);
      expect((await scrape('Bearer wrong')).status).toBe(401);
      const ok = await scrape('Bearer m-7f1e2d3c4b5a6978');
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('component="req-gate"');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
