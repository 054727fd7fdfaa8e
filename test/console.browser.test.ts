// The console in a real browser (Debian's Chromium driven by playwright-core) against the whole
// system as `npm start` runs it (test/e2e/system.ts): sign in (and a wrong token), find a
// client's payouts, open a payout's story and see its ledger events, approve a payout and watch
// it reach done, decline one with a reason, retry a payout parked by an accounts system failing
// its client's calls and watch it reach done, replay oebs-errors and read the api's answer, and
// see a disagreement planted in the ledger turn the overview red once the tasks' integrity run has
// seen it twice. No browser → the file fails.
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answersFor } from '../src/standins/oebs/answers.ts';
import { createPublisher, topicsFor } from '../src/topics/index.ts';
import { startSystem, type System } from './e2e/system.ts';
import { eventually } from './gates-support.ts';
import { launchBrowser } from './console/browser.ts';
import { ConsoleApp } from './console/pages.ts';
import { testConfig } from './support/config.ts';

const TOKEN = 'e2e-token';
const WAIT = { timeout: 60_000, interval: 250 };
// parked: the accounts stand-in fails its calls (fault switch) until the test lifts it.
// replayed: OEBS is silent for it; the test plays ARD and sends its NEW too early.
const CLIENT = { found: 4401, approvals: 4402, silent: 4403, parked: 4404, replayed: 4405 };
const MAX_ATTEMPTS = 3;
// Its own topic paths, so the test can publish ARD's answer where the receiver reads it.
const ENV = `e2econsole${randomBytes(3).toString('hex')}`;
const topics = topicsFor(testConfig({ PAYOUT_ENV: ENV }), 'bnpl', false);

let system: System;
let browser: Browser;
let page: Page;
let ui: ConsoleApp;
const made = { requestPayouts: [] as number[], approve: 0, decline: 0, raced: 0, silent: 0, parked: 0, replayed: 0, earlyNew: '' };

const loc = (namespace: string, client: number, contract: number) =>
  ({ namespace, client_id: String(client), contract_id: String(contract), service_id: '124', currency: 'RUB' });
const credit = (l: ReturnType<typeof loc>, amount: string) =>
  system.accounts.writeBatch({ event_type: 'accrual', external_id: `console-${l.namespace}-${l.client_id}-${l.contract_id}`, events: [{ loc: { ...l, type: 'payout' }, type: 'credit', amount }] });
// Paid once: one reservation, one registration, one confirmation. Register (OEBS CREATED) and
// confirm (RECONCILED) may be written in either order: the receiver handles a payment's answers
// under separate keys, and the story lists the ledger's batches in the order they were written.
const PAID_ONCE = ['confirm', 'register', 'reserve'];
const ledgerStepsOnce = async () => (await ui.story.ledgerSteps()).sort();
/** The accounts stand-in's fault switch: every later call naming one of these taxi clients answers 503. */
async function accountsFail(clients: number[]) {
  const res = await fetch(`${system.accountsUrl}/v1/faults`, {
    method: 'PUT', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ clients: clients.map((c) => ({ namespace: 'taxi', client_id: String(c) })) }),
  });
  expect(res.status).toBe(200);
}
/** ARD's NEW for a payout, exactly as the OEBS stand-in would answer it, published on ARD's status topic. */
async function ardNew(payoutId: number, amount: string): Promise<string> {
  const [answer] = answersFor({ message_id: String(payoutId), message_dt: '2025-03-01 10:00:00', billing_client_id: String(CLIENT.replayed), amount }, 'accept', { ard: topics.statusArd, oebs: topics.statusOebs });
  const publisher = createPublisher(testConfig({ PAYOUT_ENV: ENV }), system.db.sql);
  await system.db.sql.begin((tx) => publisher.publish(tx, answer!));
  return answer!.msgId;
}
/** The receiver's reports in oebs-errors: all of them, or those about one message it was given. */
const errorReports = async (msgId?: string) => Number((await system.db.sql`
  select count(*) as n from topic_message
  where topic = ${topics.errors} and (${msgId ?? null}::text is null or payload->>'source_msg_id' = ${msgId ?? null})`)[0]!.n);
/** The ledger's batches written for a payout, by event type (the accounts stand-in's own tables). */
const ledgerBatchesOf = async (payoutId: number) => Object.fromEntries((await system.db.sql<{ event_type: string; n: number }[]>`
  select event_type, count(*)::int as n from accounts.batch where info->>'payout_id' = ${String(payoutId)} group by event_type order by event_type`)
  .map((r) => [r.event_type, r.n]));

beforeAll(async () => {
  // The browser first: no browser is this file's failure, before any system is started.
  browser = await launchBrowser();
  system = await startSystem({
    PAYOUT_API_TOKENS: JSON.stringify({ [TOKEN]: { name: 'operator', namespaces: ['*'] } }),
    PAYOUT_APPROVE_REQUIRED: '["bnpl"]',
    PAYOUT_OEBS_EMULATOR: JSON.stringify({ [CLIENT.silent]: 'silent', [CLIENT.replayed]: 'silent' }),
    PAYOUT_TASKS_INTERVAL: '1s',
    PAYOUT_ENV: ENV,
    // A payout whose accounts calls keep failing is parked within a second or two.
    PAYOUT_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    PAYOUT_RETRY_BACKOFF_BASE: '100ms',
    PAYOUT_RETRY_BACKOFF_CAP: '400ms',
  });
  await Promise.all([
    credit(loc('taxi', CLIENT.found, 7), '100.00'), credit(loc('taxi', CLIENT.found, 8), '0.555'),
    credit(loc('bnpl', CLIENT.approvals, 7), '40.00'), credit(loc('bnpl', CLIENT.approvals, 8), '30.00'),
    credit(loc('bnpl', CLIENT.approvals, 9), '10.00'), credit(loc('taxi', CLIENT.silent, 7), '5.00'),
    credit(loc('taxi', CLIENT.parked, 7), '12.34'), credit(loc('bnpl', CLIENT.replayed, 7), '6.00'),
  ]);
  // After its credit (which names it too): from here on the parked client's accounts calls fail.
  await accountsFail([CLIENT.parked]);
  const fixed = (l: ReturnType<typeof loc>, amount: string) => system.post('/api/v1/payout', {
    external_id: `console-${l.client_id}-${l.contract_id}`, namespace: l.namespace, client_id: Number(l.client_id),
    contract_id: Number(l.contract_id), service_id: 124, currency: 'RUB', amount,
  });
  const [req, approve, decline, raced, silent, parked, replayed] = await Promise.all([
    system.post('/api/v1/payout-by-client', { external_id: 'console-find', client_id: CLIENT.found, namespace: 'taxi' }),
    fixed(loc('bnpl', CLIENT.approvals, 7), '40.00'),
    fixed(loc('bnpl', CLIENT.approvals, 8), '30.00'),
    fixed(loc('bnpl', CLIENT.approvals, 9), '10.00'),
    fixed(loc('taxi', CLIENT.silent, 7), '5.00'),
    fixed(loc('taxi', CLIENT.parked, 7), '12.34'),
    fixed(loc('bnpl', CLIENT.replayed, 7), '6.00'),
  ]);
  made.approve = approve.body.id;
  made.decline = decline.body.id;
  made.raced = raced.body.id;
  made.silent = silent.body.id;
  made.parked = parked.body.id;
  made.replayed = replayed.body.id;
  // ARD answers NEW for a payout still waiting for approval (never sent): the receiver cannot apply
  // it and reports it to oebs-errors. Once the payout is sent, a replay applies it.
  made.earlyNew = await ardNew(made.replayed, '6.00');
  // req-gate makes the request's two payouts (one per account).
  await eventually(async () => (await system.get(`/api/v1/payout?request_id=${req.body.id}`)).body.payouts.length === 2, 60_000, 250);
  made.requestPayouts = (await system.get(`/api/v1/payout?request_id=${req.body.id}`)).body.payouts.map((p: { id: number }) => p.id);
  page = await browser.newPage();
  ui = new ConsoleApp(page, system.apiUrl);
}, 180_000);

afterAll(async () => {
  await browser?.close();
});

describe('the console in a browser', () => {
  it('refuses an unknown token with a clear message, then signs in with a good one', async () => {
    await ui.open();
    await ui.signIn.as('not-a-token');
    await expect.poll(() => ui.signIn.error().textContent(), WAIT).toContain('does not know this token');
    // Keyboard only: the refused token stays focused and selected; typing replaces it, Enter submits.
    await page.keyboard.type(TOKEN);
    await page.keyboard.press('Enter');
    await ui.overview.integrity().waitFor({ timeout: 60_000 });
    expect(await ui.heading().textContent()).toBe('Overview');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(1);
  });

  it("finds a client's payouts", async () => {
    await ui.nav('Find');
    await ui.find.search({ 'Client id': String(CLIENT.found) });
    await expect.poll(() => ui.find.rows().count(), WAIT).toBe(2);
    const shown = await ui.find.rows().evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-id'))));
    expect(shown).toEqual([...made.requestPayouts].sort((a, b) => b - a)); // newest first
    expect(page.url()).toContain(`client_id=${CLIENT.found}`);
    expect(await ui.unlabelledControls()).toEqual([]);
  });

  it("opens a payout's story and sees its ledger events once it is done", async () => {
    const first = Math.min(...made.requestPayouts);
    // Say where it stands if it never gets there (the ui's poll below only says "timed out").
    await eventually(async () => (await system.get(`/api/v1/payout/${first}`)).body.status === 'done', 60_000, 250)
      .catch(async (err) => { throw new Error(`${err.message}: ${JSON.stringify((await system.get(`/api/v1/payout/${first}/story`)).body)}`); });
    await ui.find.openPayout(first);
    // The story follows the payout while it is under way.
    await expect.poll(() => ui.story.status(), WAIT).toBe('done');
    await expect.poll(ledgerStepsOnce, WAIT).toEqual(PAID_ONCE);
    expect(await ui.story.timeline().textContent()).toMatch(/new.*pending.*confirmed.*done/s);
  }, 120_000);

  it('approves a payout from the approval queue and watches it reach done', async () => {
    await ui.nav('Act');
    await expect.poll(() => ui.act.queueIds(), WAIT).toContain(String(made.approve));
    expect(await ui.unlabelledControls()).toEqual([]);
    // Esc cancels a confirmation: nothing is sent.
    await page.getByRole('button', { name: `Approve payout ${made.approve}` }).click();
    await page.getByRole('dialog').waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
    expect(await ui.act.queueIds()).toContain(String(made.approve));
    await ui.act.approve(made.approve);
    await expect.poll(() => ui.act.result('approvals').textContent(), WAIT).toContain(`Payout #${made.approve} approved`);
    await expect.poll(() => ui.act.queueIds(), WAIT).not.toContain(String(made.approve)); // the list reloads after the answer
    await ui.story.open(made.approve);
    await expect.poll(() => ui.story.status(), WAIT).toBe('done');
    expect(await ui.story.timeline().textContent()).toContain('approve by operator');
  });

  it('declines a payout with a reason; no money moves', async () => {
    await ui.nav('Act');
    await ui.act.decline(made.decline, 'wrong contract');
    await expect.poll(() => ui.act.result('approvals').textContent(), WAIT).toContain(`Payout #${made.decline} declined`);
    await ui.story.open(made.decline);
    expect(await ui.story.status()).toBe('rejected');
    expect(await ui.story.timeline().textContent()).toContain('decline by operator: wrong contract');
    expect(await page.getByTestId('ledger').textContent()).toContain('No ledger events yet');
  });

  it('shows a ledger event the ledger refused, waiting in the ledger outbox for a person', async () => {
    // Planted on the declined payout (nothing else of it will ever reach the ledger): a refused
    // trace, which the running ledger writer leaves alone.
    const request = JSON.stringify({ event_type: 'payout-register', external_id: `planted/${made.decline}`, info: {}, events: [] });
    await system.db.sql`insert into t_ledger_outbox (payout_id, request, moves, refused_at, refusal)
                        values (${made.decline}, ${request}, false, now(), 'conflict: planted by the test')`;
    try {
      await ui.nav('Act'); // away first: the story of the last test is still open
      await ui.story.open(made.decline);
      await expect.poll(() => ui.story.outboxRows(), WAIT).toHaveLength(1);
      expect((await ui.story.outboxRows())[0]).toMatch(/payout-register.*refused.*conflict: planted by the test.*planted\//s);
    } finally {
      await system.db.sql`delete from t_ledger_outbox where payout_id = ${made.decline}`;
    }
  });

  it("shows the api's refusal when another operator decided first", async () => {
    await ui.nav('Act');
    await expect.poll(() => ui.act.queueIds(), WAIT).toContain(String(made.raced));
    // Declined elsewhere while this page still lists it as waiting.
    expect((await system.post(`/api/v1/payout/${made.raced}/decline`, { reason: 'elsewhere' })).status).toBe(200);
    await ui.act.approve(made.raced);
    await expect.poll(() => ui.act.result('approvals').textContent(), WAIT).toMatch(new RegExp(`^Refused: .*${made.raced}.*rejected`));
    expect((await system.get(`/api/v1/payout/${made.raced}`)).body).toMatchObject({ status: 'rejected', approve_req: true });
  });

  it('retries a parked payout from the Act page once the accounts system answers again, and watches it reach done', async () => {
    // The sender gave up after MAX_ATTEMPTS failed calls; the money was never reserved.
    await expect.poll(async () => (await system.get(`/api/v1/payout/${made.parked}`)).body.status, WAIT).toBe('parked');
    await ui.story.open(made.parked);
    expect(await ui.story.status()).toBe('parked');
    expect(await page.getByTestId('ledger').textContent()).toContain('No ledger events yet');
    await ui.nav('Act');
    await expect.poll(() => ui.act.parkedIds(), WAIT).toEqual([String(made.parked)]);
    expect(await ui.act.parkedRow(made.parked).textContent()).toMatch(new RegExp(`gave up after ${MAX_ATTEMPTS} failed attempts; last: .*injected fault`));
    expect(await ui.unlabelledControls()).toEqual([]);
    await accountsFail([]);
    await ui.act.retryPayout(made.parked);
    await expect.poll(() => ui.act.result('parked').textContent(), WAIT).toBe(`Payout #${made.parked} retried: status new.`);
    await expect.poll(() => ui.act.parkedIds(), WAIT).toEqual([]); // the list reloads after the answer
    await ui.story.open(made.parked);
    await expect.poll(() => ui.story.status(), WAIT).toBe('done');
    await expect.poll(ledgerStepsOnce, WAIT).toEqual(PAID_ONCE);
    // The story looks batches up by their fixed external ids; the ledger itself has no other batch for it.
    // The confirm reaches the ledger just after the status (the ledger outbox).
    await expect.poll(() => ledgerBatchesOf(made.parked), WAIT).toEqual({ 'payout-confirm': 1, 'payout-register': 1, 'payout-reserve': 1 });
    expect(await ui.story.timeline().textContent()).toMatch(/new.*parked.*park by oebs-gate.*new retry by operator.*pending.*confirmed.*done/s);
  }, 120_000);

  it("replays oebs-errors from the Act page and shows the api's answer: applied once, then unchanged", async () => {
    await expect.poll(() => errorReports(made.earlyNew), WAIT).toBe(1);
    expect((await system.post(`/api/v1/payout/${made.replayed}/approve`, {})).status).toBe(200);
    // Sent to OEBS, which stays silent: only the replayed NEW can move it on.
    await expect.poll(async () => (await system.get(`/api/v1/payout/${made.replayed}`)).body.status, WAIT).toBe('pending');
    await ui.story.open(made.replayed);
    await ui.nav('Act');
    expect(await ui.unlabelledControls()).toEqual([]);
    await ui.act.replay();
    await expect.poll(() => ui.act.result('replay').textContent(), WAIT)
      .toBe(`Replayed: ${topics.errors}: 1 replayed, 1 applied, 0 unchanged, 0 still failing.`);
    await ui.story.open(made.replayed);
    await expect.poll(() => ui.story.status(), WAIT).toBe('confirmed');
    expect(await ui.story.timeline().textContent()).toMatch(/new.*approve by operator.*pending.*confirmed/s);
    // Again, for one topic: nothing left to apply, nothing published.
    await ui.nav('Act');
    await ui.act.replay({ topic: topics.errors });
    await expect.poll(() => ui.act.result('replay').textContent(), WAIT)
      .toBe(`Replayed: ${topics.errors}: 1 replayed, 0 applied, 1 unchanged, 0 still failing.`);
    expect(await errorReports()).toBe(1); // replays publish nothing
    expect((await system.get(`/api/v1/payout/${made.replayed}`)).body.status).toBe('confirmed');
  }, 120_000);

  it('turns the overview red when the integrity run finds a disagreement planted in the ledger', async () => {
    await ui.nav('Overview');
    expect(await ui.overview.integrityState()).toBe('ok');
    // The silent client's payout stays pending: its money sits on payout_sent, and every integrity
    // run checks that account. 1.00 more there, written behind payout's back, is a disagreement.
    await expect.poll(async () => (await system.get(`/api/v1/payout/${made.silent}`)).body.status, WAIT).toBe('pending');
    await system.accounts.writeBatch({
      event_type: 'manual', external_id: 'console-planted', events: [{ loc: { ...loc('taxi', CLIENT.silent, 7), type: 'payout_sent' }, type: 'credit', amount: '1.00' }],
    });
    // Seen by two runs in a row, then shown by the overview's next refresh (no reload).
    await expect.poll(() => ui.overview.integrityState(), WAIT).toBe('violations');
    expect(await ui.overview.integrity().textContent()).toContain(String(CLIENT.silent));
  });
});
