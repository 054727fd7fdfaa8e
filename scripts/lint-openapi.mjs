// `npm run lint:openapi`: dump the OpenAPI document the api serves (`payout openapi`, from the
// sources) to a temporary file and lint it with Redocly (rules in redocly.yaml). Exits with the
// linter's status: non-zero on any error. `node scripts/lint-openapi.mjs <file.json>` lints that
// document instead (the tests show the rules catch a bad one).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'payout-openapi-'));
const file = path.join(dir, 'openapi.json');
try {
  // From the sources, so a stale dist/ is never what gets linted.
  const document = process.argv[2] ? readFileSync(process.argv[2]) : execFileSync(path.join(root, 'bin/payout'), ['openapi'], {
    cwd: root,
    env: { ...process.env, PAYOUT_FROM_SOURCE: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  writeFileSync(file, document);
  const redocly = path.join(path.dirname(createRequire(import.meta.url).resolve('@redocly/cli/package.json')), 'bin/cli.js');
  const lint = spawnSync(process.execPath, [redocly, 'lint', '--config', path.join(root, 'redocly.yaml'), file], {
    cwd: root,
    env: { ...process.env, REDOCLY_SUPPRESS_NOTIFICATIONS: 'true' },
    stdio: 'inherit',
  });
  process.exitCode = lint.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
