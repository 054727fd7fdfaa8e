// Production runs compiled JavaScript: `npm run build` (scripts/build.mjs) emits plain JS that node
// runs without tsx, with the SQL migrations and other non-TypeScript files beside it. Built here
// into a scratch folder inside the project (so node_modules is found), never over dist/.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { dbUrl } from './support/template.ts';
import { eventually } from './gates-support.ts';
import { freePort } from './support/ports.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
let out: string;

/** Every file under dir, relative to it. */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));

/** `node <build>/cli.js …`: plain node, no loader. */
function node(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(out, 'cli.js'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    child.on('exit', (code) => resolve({ code, out: text }));
  });
}

beforeAll(() => {
  mkdirSync(path.join(ROOT, '.scratch'), { recursive: true });
  out = mkdtempSync(path.join(ROOT, '.scratch', 'dist-'));
  execFileSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs'), out], { cwd: ROOT, stdio: 'pipe' });
}, 180_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('the build', () => {
  it('is JavaScript that imports no .ts file, with every non-TypeScript file of src/ beside it', () => {
    const built = filesUnder(out);
    const sources = filesUnder(path.join(ROOT, 'src'));
    expect(built.filter((f) => f.endsWith('.ts'))).toEqual([]);
    for (const f of sources.filter((f) => f.endsWith('.ts'))) expect(built, f).toContain(f.replace(/\.ts$/, '.js'));
    const assets = sources.filter((f) => !f.endsWith('.ts'));
    expect(assets).toContain(path.join('db', 'migrations', '001_core.sql'));
    for (const f of assets) expect(built, f).toContain(f);
    const cli = readFileSync(path.join(out, 'cli.js'), 'utf8');
    expect(cli).toContain("import('./api/main.js')");
    expect(cli).not.toMatch(/from '\.[^']*\.ts'|import\('\.[^']*\.ts'\)/);
  });

  it('runs under plain node: --help, migrations of an empty database, and the api answering', async () => {
    const help = await node(['--help'], {});
    expect(help.code, help.out).toBe(0);
    expect(help.out).toMatch(/^usage: payout <command>/);

    // An empty database: every migration must be found beside the compiled code.
    const name = `payout_dist_${process.pid}_${Date.now()}`;
    const admin = postgres(inject('adminUrl'), { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    try {
      const url = dbUrl(inject('adminUrl'), name);
      const migrated = await node(['migrate'], { PAYOUT_DB_URL: url, PAYOUT_LOG_FORMAT: 'json' });
      expect(migrated.code, migrated.out).toBe(0);
      const applied = migrated.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.msg === 'migrations applied')?.applied;
      const expected = readdirSync(path.join(ROOT, 'src/db/migrations')).map((f) => f.replace(/\.sql$/, '')).sort();
      expect(applied).toEqual(expected);

      const port = await freePort();
      const api = spawn(process.execPath, [path.join(out, 'cli.js'), 'api'], {
        cwd: ROOT,
        env: { ...process.env, PAYOUT_DB_URL: url, PAYOUT_API_PORT: String(port), PAYOUT_LOG_FORMAT: 'json', PAYOUT_API_TOKENS: JSON.stringify({ t: { name: 'dist', namespaces: ['*'] } }) },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const exited = new Promise((r) => api.once('exit', r));
      try {
        await eventually(async () => (await fetch(`http://127.0.0.1:${port}/pingdb`).catch(() => undefined))?.ok === true, 60_000, 100);
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/request/1`, { headers: { authorization: 'Bearer t' } });
        expect(res.status).toBe(404);
      } finally {
        api.kill('SIGTERM');
        await exited;
      }
    } finally {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  }, 120_000);

  it('bin/payout runs dist/ when it exists (warning when src/ is newer), the sources with PAYOUT_FROM_SOURCE=1 or without a build', () => {
    // A project of its own (never the real dist/, which other tests and a developer's `npm start`
    // use): bin/payout, dist/ = this build, a src/cli.ts that says it ran, node_modules for tsx.
    const proj = mkdtempSync(path.join(ROOT, '.scratch', 'proj-'));
    try {
      mkdirSync(path.join(proj, 'bin'));
      mkdirSync(path.join(proj, 'src'));
      copyFileSync(path.join(ROOT, 'bin/payout'), path.join(proj, 'bin/payout'));
      symlinkSync(out, path.join(proj, 'dist'));
      const cliTs = path.join(proj, 'src/cli.ts');
      writeFileSync(cliTs, "console.log('ran the sources');\n");
      utimesSync(cliTs, new Date('2000-01-01'), new Date('2000-01-01')); // older than the build
      const payout = (env: Record<string, string> = {}) =>
        spawnSync(path.join(proj, 'bin/payout'), ['--help'], { cwd: os.tmpdir(), encoding: 'utf8', env: { PATH: process.env.PATH!, ...env } });

      const built = payout();
      expect(built.stdout).toMatch(/^usage: payout <command>/);
      expect(built.stderr).toBe('');
      expect(payout({ PAYOUT_FROM_SOURCE: '1' }).stderr).toMatch(/neither a build .* nor tsx/); // no node_modules yet
      symlinkSync(path.join(ROOT, 'node_modules'), path.join(proj, 'node_modules'));
      expect(payout({ PAYOUT_FROM_SOURCE: '1' }).stdout).toBe('ran the sources\n');

      utimesSync(cliTs, new Date(), new Date()); // an edit after the build
      const stale = payout();
      expect(stale.stdout).toMatch(/^usage: payout <command>/);
      expect(stale.stderr).toMatch(/dist\/ is older than src\/: run `npm run build` again/);

      rmSync(path.join(proj, 'dist'));
      expect(payout().stdout).toBe('ran the sources\n');
    } finally {
      rmSync(proj, { recursive: true, force: true });
    }
  }, 60_000);
});
