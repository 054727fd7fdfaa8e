// A test runner or script that dies without stopping `payout start` (a timeout, SIGKILL) must not
// leave a whole system polling behind it: with PAYOUT_EXIT_WITH_PARENT=1 the supervisor notices
// it was re-parented and stops every component.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually } from '../gates-support.ts';
import { createTestDb } from '../support/db.ts';
import { freePort } from '../support/ports.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('payout start under a parent that dies', () => {
  it('stops every component when its parent is killed (PAYOUT_EXIT_WITH_PARENT=1)', async () => {
    const db = await createTestDb({ poolSize: 2 });
    const dataDir = path.join(ROOT, '.data', `orphan-${process.pid}`);
    const [apiPort, accountsPort] = [await freePort(), await freePort()];
    // The parent: a node process that starts the system and prints its pid, then just lives.
    const parent = spawn(process.execPath, ['-e', `
      const c = require('node:child_process').spawn(process.argv[1], ['start'], { stdio: 'ignore', env: process.env });
      console.log(c.pid); setInterval(() => {}, 1000);`, path.join(ROOT, 'bin/payout')], {
      env: {
        ...process.env, PAYOUT_DB_URL: db.url, PAYOUT_API_PORT: String(apiPort), PAYOUT_ACCOUNTS_PORT: String(accountsPort),
        PAYOUT_ACCOUNTS_URL: `http://127.0.0.1:${accountsPort}`, PAYOUT_ENV: 'dev', PAYOUT_LOG_LEVEL: 'warn', PAYOUT_EXIT_WITH_PARENT: '1',
        PAYOUT_DATA_DIR: dataDir,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const supervisor = await new Promise<number>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    const api = `http://127.0.0.1:${apiPort}/ping`;
    await eventually(async () => (await fetch(api).catch(() => undefined))?.ok === true, 120_000, 100);

    parent.kill('SIGKILL');
    await eventually(async () => !alive(supervisor), 60_000, 200);
    await eventually(async () => (await fetch(api).catch(() => undefined)) === undefined, 30_000, 200);
    expect(alive(supervisor)).toBe(false);
    rmSync(dataDir, { recursive: true, force: true });
  }, 240_000);
});
