// npm run screenshots: the console's pages as PNGs in docs/console/, from a real run. Starts the
// whole system (`bin/payout start`) on a throwaway embedded Postgres in a temporary folder, feeds
// it demo data through the public api and the accounts stand-in, photographs each page in
// Debian's Chromium, and removes everything it started. Keep the README's pictures current with it.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAccountsClient, type Loc } from '../src/accounts/client.ts';
import { launchBrowser } from '../test/console/browser.ts';
import { ConsoleApp } from '../test/console/pages.ts';
import { freePort } from '../test/support/ports.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const OUT = path.join(ROOT, 'docs/console');
const TOKEN = 'demo-token';
const CLIENTS = { taxi: 42, returned: 43, rejected: 44, silent: 45, bnpl: 77 };

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`screenshots: ${what} did not happen within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'payout-screenshots-'));
  const [apiPort, accountsPort, pgPort] = [await freePort(), await freePort(), await freePort()];
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const accountsUrl = `http://127.0.0.1:${accountsPort}`;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    PAYOUT_DATA_DIR: dataDir, PAYOUT_EMBEDDED_PG_PORT: String(pgPort),
    PAYOUT_API_PORT: String(apiPort), PAYOUT_ACCOUNTS_PORT: String(accountsPort), PAYOUT_ACCOUNTS_URL: accountsUrl,
    PAYOUT_API_TOKENS: JSON.stringify({ [TOKEN]: { name: 'operator', namespaces: ['*'] } }),
    PAYOUT_APPROVE_REQUIRED: '["bnpl"]',
    PAYOUT_OEBS_EMULATOR: JSON.stringify({ [CLIENTS.returned]: 'return', [CLIENTS.rejected]: 'reject', [CLIENTS.silent]: 'silent' }),
    PAYOUT_TASKS_INTERVAL: '2s', PAYOUT_LOG_LEVEL: 'warn', PAYOUT_ENV: 'dev',
  };
  delete env.PAYOUT_DB_URL;
  const child = spawn(path.join(ROOT, 'bin/payout'), ['start'], { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise((r) => child.once('exit', r));
  const browser = await launchBrowser();
  try {
    await until('the api answering', async () => (await fetch(`${apiUrl}/ping`)).ok);
    await until('the accounts stand-in answering', async () => (await fetch(`${accountsUrl}/ping`)).ok);
    const api = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(`${apiUrl}/api/v1${p}`, {
        method, headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
      });
      return res.json() as Promise<any>;
    };
    const accounts = createAccountsClient({ url: accountsUrl, timeoutMs: 10_000 });
    let n = 0;
    const credit = (namespace: string, client: number, contract: number, amount: string, info: Record<string, unknown> = {}) => {
      const loc: Loc = { namespace, type: 'payout', client_id: String(client), contract_id: String(contract), service_id: '124', currency: 'RUB' };
      return accounts.writeBatch({ event_type: 'accrual', external_id: `demo-${++n}`, info, events: [{ loc, type: 'credit', amount }] });
    };
    await credit('taxi', CLIENTS.taxi, 7, '1250.00', { cpf: [{ external_id: 'RCPT-1001', amount: '1250.00', operation_type: 'INSERT_NETTING' }] });
    await credit('taxi', CLIENTS.taxi, 8, '310.555');
    await credit('taxi', CLIENTS.returned, 7, '99.90');
    await credit('taxi', CLIENTS.rejected, 7, '15.00');
    await credit('taxi', CLIENTS.silent, 7, '42.00');
    await credit('bnpl', CLIENTS.bnpl, 7, '5000.00');
    await credit('bnpl', CLIENTS.bnpl, 8, '720.00');
    for (const client of [CLIENTS.taxi, CLIENTS.returned, CLIENTS.rejected, CLIENTS.silent]) {
      await api('POST', '/payout-by-client', { external_id: `demo-${client}`, client_id: client, namespace: 'taxi' });
    }
    for (const [contract, amount] of [[7, '5000.00'], [8, '720.00']] as const) {
      await api('POST', '/payout', { external_id: `demo-bnpl-${contract}`, service_id: 124, contract_id: contract, client_id: CLIENTS.bnpl, amount, currency: 'RUB', namespace: 'bnpl' });
    }
    await until('the demo payouts settling', async () => {
      const all = (await api('GET', '/payout?limit=100')).payouts as { status: string; client_id: number }[];
      const settled = all.filter((p) => ['done', 'rejected'].includes(p.status)).length;
      return all.length === 7 && settled === 4 && all.some((p) => p.client_id === CLIENTS.silent && p.status === 'pending');
    });

    mkdirSync(OUT, { recursive: true });
    const page = await browser.newPage({ viewport: { width: 1180, height: 820 } });
    const ui = new ConsoleApp(page, apiUrl);
    const shot = async (name: string, fullPage = true) => {
      const file = path.join(OUT, `${name}.png`);
      await page.screenshot({ path: file, fullPage });
      console.log(`${path.relative(ROOT, file)}  ${Math.round(statSync(file).size / 1024)} KiB`);
    };
    await ui.open();
    await page.getByLabel('API token').waitFor();
    await shot('sign-in', false);
    await ui.signIn.as(TOKEN);
    await ui.overview.totals().waitFor();
    await shot('overview');
    await ui.nav('Find');
    await ui.find.search({ 'Client id': String(CLIENTS.taxi) });
    await ui.find.rows().first().waitFor();
    await shot('find');
    const story = (await api('GET', `/payout?client_id=${CLIENTS.returned}`)).payouts[0].id as number;
    await ui.story.open(story);
    await page.getByTestId('ledger-entries').waitFor();
    await shot('story');
    await ui.nav('Act');
    await page.getByTestId('approval-queue').waitFor();
    await shot('act');
  } finally {
    await browser.close();
    child.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
