// The OpenAPI document callers generate clients from passes Redocly's recommended rules and ours
// (redocly.yaml: operationId on every operation, lowerCamelCase; every error response described
// with the error body) with 0 errors — and those rules do catch a document that breaks them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../src/api/openapi.ts';
import { testConfig } from './support/config.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const LINT = path.join(ROOT, 'scripts/lint-openapi.mjs');

type Operation = { operationId?: string; responses: Record<string, { description: string; content?: Record<string, { schema: any }> }> };
type Document = { servers?: unknown[]; info: { license?: unknown }; paths: Record<string, Record<string, Operation>> };

function lint(args: string[] = []) {
  const r = spawnSync(process.execPath, [LINT, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('OpenAPI document', () => {
  it('passes `npm run lint:openapi` with 0 errors', () => {
    const { code, out } = lint();
    expect(code, out).toBe(0);
    expect(out).toMatch(/valid/);
  }, 120_000);

  it('names servers and a license, and describes each call\'s errors with the error body', async () => {
    const doc = (await openApiDocument(testConfig())) as Document;
    expect(doc.servers).toEqual([{ url: '/', description: expect.any(String) }]);
    expect(doc.info.license).toMatchObject({ name: 'MIT' });
    const ops = Object.entries(doc.paths).flatMap(([p, methods]) => Object.entries(methods).map(([m, op]) => ({ at: `${m.toUpperCase()} ${p}`, op })));
    expect(ops.map((o) => o.at)).toContain('POST /api/v1/payout-by-client');
    for (const { at, op } of ops) {
      expect(op.operationId, at).toMatch(/^[a-z][a-zA-Z]+$/);
      for (const status of ['400', '401', '500']) expect(Object.keys(op.responses), at).toContain(status);
      for (const [status, res] of Object.entries(op.responses).filter(([s]) => Number(s) >= 400)) {
        expect(res.description, `${at} ${status}`).not.toBe('Default Response');
        expect(res.content?.['application/json']?.schema.required, `${at} ${status}`).toEqual(['error', 'message']);
      }
    }
    // The one answer that carries Retry-After says so.
    expect(doc.paths['/api/v1/payout-by-client']!.post!.responses['503']).toMatchObject({ headers: { 'Retry-After': expect.anything() } });
  });

  it('the lint fails a document with an operation lacking an operationId, a snake_case one, or an error without a body', async () => {
    const doc = (await openApiDocument(testConfig())) as Document;
    delete doc.paths['/api/v1/payout/{id}']!.get!.operationId;
    doc.paths['/api/v1/payout']!.get!.operationId = 'list_payouts';
    delete doc.paths['/api/v1/request/{id}']!.get!.responses['404']!.content;
    delete doc.paths['/api/v1/check']!.post!.responses['401'];
    const dir = mkdtempSync(path.join(os.tmpdir(), 'payout-openapi-test-'));
    try {
      const file = path.join(dir, 'bad.json');
      writeFileSync(file, JSON.stringify(doc));
      const { code, out } = lint([file]);
      expect(code, out).not.toBe(0);
      for (const rule of ['operation-operationId', 'rule/operation-id-camel-case', 'rule/error-responses-have-a-body', 'rule/common-errors-described']) {
        expect(out, rule).toContain(rule);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
