// One Postgres for the whole run: the system one when PAYOUT_TEST_DB_URL is given, otherwise a
// throwaway embedded cluster (fresh folder and port, so a killed earlier run cannot clash). A
// template database gets every migration once; each test file clones it (see db.ts).
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { startEmbedded, type EmbeddedServer } from '../../src/db/embedded.ts';
import { TEMPLATE_DB, buildTemplate } from './template.ts';
import { freePort } from './ports.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
  }
}

let server: EmbeddedServer | undefined;
let dataDir: string | undefined;

export async function setup(project: TestProject) {
  let adminUrl = process.env.PAYOUT_TEST_DB_URL;
  if (!adminUrl) {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'payout-test-'));
    chmodSync(dataDir, 0o755); // the server may run as OS user postgres (when we are root)
    server = await startEmbedded({
      dataDir,
      port: await freePort(),
      // Throwaway cluster: durability buys nothing here. Benchmarks never use these flags.
      postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=300'],
    });
    adminUrl = server.adminUrl;
  }
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await buildTemplate(admin, adminUrl);
  } finally {
    await admin.end();
  }
  project.provide('adminUrl', adminUrl);
}

export async function teardown() {
  await server?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
