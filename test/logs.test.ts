// Log format: pretty for a person at a terminal, JSON for collectors (not a terminal), either
// forced by PAYOUT_LOG_FORMAT; and `payout start` relays its children's lines in the format it
// chose, from whatever folder it is started in.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { chooseLogFormat } from '../src/log.ts';
import { eventually } from './gates-support.ts';
import { createTestDb } from './support/db.ts';
import { freePort } from './support/ports.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const PAYOUT = path.join(ROOT, 'bin/payout');
/** A pino-pretty line of a component: `[12:00:00.123] INFO (api/4242): api listening {...}`. */
const prettyLine = (component: string, msg: string) => new RegExp(`^\\[\\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\] INFO \\(${component}/\\d+\\): ${msg}`, 'm');
const jsonLines = (out: string) => out.split(/\r?\n/).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

/** Runs `bin/payout <args>` to its end; `tty`: on a pseudo-terminal (util-linux `script`), as a person would. */
function run(args: string[], env: Record<string, string>, opts: { tty?: boolean } = {}): Promise<{ code: number | null; out: string }> {
  const [cmd, argv] = opts.tty ? ['script', ['-qec', [PAYOUT, ...args].join(' '), '/dev/null']] as const : [PAYOUT, args] as const;
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('log format', () => {
  it('is pretty on a terminal and JSON elsewhere unless PAYOUT_LOG_FORMAT says which', () => {
    expect(chooseLogFormat('auto', true)).toBe('pretty');
    expect(chooseLogFormat('auto', false)).toBe('json');
    expect(chooseLogFormat(undefined, false)).toBe('json');
    expect(chooseLogFormat('json', true)).toBe('json');
    expect(chooseLogFormat('pretty', false)).toBe('pretty');
    expect(loadConfig({}).logFormat).toBe('auto');
    expect(loadConfig({ PAYOUT_LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(() => loadConfig({ PAYOUT_LOG_FORMAT: 'yaml' })).toThrow(ConfigError);
    expect(() => loadConfig({ PAYOUT_LOG_FORMAT: 'yaml' })).toThrow(/PAYOUT_LOG_FORMAT=yaml: expected one of auto, json, pretty/);
  });

  it('a process writes JSON to a pipe, pretty lines on a terminal, and what PAYOUT_LOG_FORMAT forces', async () => {
    const db = await createTestDb({ poolSize: 1 });
    const env = { PAYOUT_DB_URL: db.url, PAYOUT_LOG_LEVEL: 'info' };
    const [piped, tty, forcedPretty, forcedJson] = await Promise.all([
      run(['migrate'], { ...env, PAYOUT_LOG_FORMAT: 'auto' }),
      run(['migrate'], { ...env, PAYOUT_LOG_FORMAT: 'auto' }, { tty: true }),
      run(['migrate'], { ...env, PAYOUT_LOG_FORMAT: 'pretty' }),
      run(['migrate'], { ...env, PAYOUT_LOG_FORMAT: 'json' }, { tty: true }),
    ]);
    for (const r of [piped, tty, forcedPretty, forcedJson]) expect(r.code, r.out).toBe(0);
    for (const r of [piped, forcedJson]) {
      expect(jsonLines(r.out)).toContainEqual(expect.objectContaining({ component: 'migrate', msg: 'database is up to date' }));
      expect(r.out).not.toMatch(prettyLine('migrate', 'database is up to date'));
    }
    for (const r of [tty, forcedPretty]) {
      // A terminal gets colours (ANSI escapes); strip them to read the line.
      expect(r.out.replace(/\x1b\[[0-9;]*m/g, '')).toMatch(prettyLine('migrate', 'database is up to date'));
      expect(jsonLines(r.out)).toEqual([]);
    }
  });

  it('`payout start` from another folder runs every component and relays their lines pretty when asked, with the console address', async () => {
    const db = await createTestDb({ poolSize: 2 });
    const [apiPort, accountsPort] = [await freePort(), await freePort()];
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'payout-cwd-'));
    const child = spawn(PAYOUT, ['start'], {
      cwd: elsewhere, // no node_modules, no src/ here: the supervisor must find its children itself
      env: {
        ...process.env,
        PAYOUT_DB_URL: db.url,
        PAYOUT_DATA_DIR: elsewhere,
        PAYOUT_API_PORT: String(apiPort),
        PAYOUT_ACCOUNTS_PORT: String(accountsPort),
        PAYOUT_ACCOUNTS_URL: `http://127.0.0.1:${accountsPort}`,
        PAYOUT_LOG_FORMAT: 'pretty',
        PAYOUT_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    try {
      await eventually(async () => prettyLine('api', 'api listening').test(out) && prettyLine('accounts', 'accounts stand-in listening').test(out), 240_000, 100)
        .catch((err) => Promise.reject(new Error(`${err}\n--- output ---\n${out}`)));
      expect(out).toContain(`console http://127.0.0.1:${apiPort}/console`);
      expect(await (await fetch(`http://127.0.0.1:${apiPort}/ping`)).text()).toBe('pong');
      for (const c of ['req-gate', 'oebs-gate', 'tasks', 'oebs-emulator']) {
        await eventually(async () => new RegExp(`\\] INFO \\(${c}/\\d+\\): `).test(out), 240_000, 100);
      }
      expect(jsonLines(out)).toEqual([]);
    } finally {
      child.kill('SIGTERM');
      await exited;
      rmSync(elsewhere, { recursive: true, force: true });
    }
    expect(out).toMatch(prettyLine('api', 'stopping'));
  }, 420_000);
});
