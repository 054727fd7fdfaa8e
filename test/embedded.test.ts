// The embedded Postgres as `npm start` meets it: data that survives a restart, and a server left
// running by a killed run (SIGKILL leaves it behind) that must be detected, not a cryptic error.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbedded, type EmbeddedServer } from '../src/db/embedded.ts';
import { freePort } from './support/ports.ts';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'payout-embedded-'));
chmodSync(dataDir, 0o755);
let server: EmbeddedServer | undefined;
afterAll(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const pidOf = () => Number(readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);

describe('embedded Postgres', () => {
  it('restarts a server orphaned by a killed run and keeps its data', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures/start-embedded.ts'), dataDir, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
      child.once('exit', (code) => reject(new Error(`fixture exited ${code}`)));
    });
    const first = postgres(`postgres://postgres:payout@127.0.0.1:${port}/payout`, { max: 1, onnotice: () => {} });
    await first`create table kept (v text)`;
    await first`insert into kept values ('before the kill')`;
    await first.end();
    const orphan = pidOf();
    child.kill('SIGKILL'); // its server lives on, re-parented
    await new Promise((r) => child.once('exit', r));
    expect(() => process.kill(orphan, 0)).not.toThrow();

    const notices: string[] = [];
    server = await startEmbedded({ dataDir, port, leftover: 'restart', notice: (l) => notices.push(l) });
    expect(server.owned).toBe(true);
    expect(notices.join('\n')).toMatch(/left running by an earlier run/);
    expect(pidOf()).not.toBe(orphan);
    expect(() => process.kill(orphan, 0)).toThrow();
    const sql = postgres(server.url, { max: 1, onnotice: () => {} });
    expect(await sql`select v from kept`).toEqual([{ v: 'before the kill' }]);
    await sql.end();
  }, 60_000);

  it('says clearly when the port is taken by something else', async () => {
    // The server of the test above holds its port; another data folder cannot start there.
    const port = Number(new URL(server!.url).port);
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'payout-embedded-clash-'));
    chmodSync(elsewhere, 0o755);
    await expect(startEmbedded({ dataDir: elsewhere, port })).rejects.toThrow(/port \d+ is taken.*PAYOUT_EMBEDDED_PG_PORT/);
    rmSync(elsewhere, { recursive: true, force: true });
  });
});
