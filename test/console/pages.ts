// Page objects of the console: what a person does on each page, in the words of its labels and
// buttons (the same names a screen reader reads). Tests say what happens; these say how.
import type { Locator, Page } from 'playwright-core';

const WAIT = 60_000;

export class ConsoleApp {
  readonly signIn: SignInPage;
  readonly overview: OverviewPage;
  readonly find: FindPage;
  readonly story: StoryPage;
  readonly act: ActPage;

  constructor(readonly page: Page, readonly baseUrl: string) {
    this.signIn = new SignInPage(this);
    this.overview = new OverviewPage(this);
    this.find = new FindPage(this);
    this.story = new StoryPage(this);
    this.act = new ActPage(this);
  }

  async open(hash = '') {
    await this.page.goto(`${this.baseUrl}/console${hash ? `#${hash}` : ''}`);
  }

  /** Follows a link of the main navigation. */
  async nav(name: 'Overview' | 'Find' | 'Act') {
    await this.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).click();
    await this.page.getByRole('heading', { level: 1 }).waitFor();
  }

  /** Form controls on the page without an accessible name (a <label>, aria-label or aria-labelledby). */
  unlabelledControls(): Promise<string[]> {
    return this.page.locator('main input, main select, main textarea, main button').evaluateAll((els) => els
      .filter((e) => !(e as HTMLInputElement).labels?.length && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby') && !(e.tagName === 'BUTTON' && e.textContent?.trim()))
      .map((e) => e.outerHTML));
  }

  heading(): Locator {
    return this.page.getByRole('heading', { level: 1 });
  }

  /** The confirmation dialog: optionally a reason, then the confirm button. */
  async confirm(button: string, reason?: string) {
    const dialog = this.page.getByRole('dialog');
    await dialog.waitFor();
    if (reason !== undefined) await dialog.getByLabel(/Reason/).fill(reason);
    await dialog.getByRole('button', { name: button }).click();
    await dialog.waitFor({ state: 'hidden' });
  }
}

class SignInPage {
  constructor(private readonly app: ConsoleApp) {}
  async as(token: string) {
    const p = this.app.page;
    await p.getByLabel('API token').fill(token);
    await p.getByRole('button', { name: 'Sign in' }).click();
  }
  error(): Locator {
    return this.app.page.getByTestId('signin-error');
  }
}

class OverviewPage {
  constructor(private readonly app: ConsoleApp) {}
  integrity(): Locator {
    return this.app.page.getByTestId('integrity');
  }
  /** 'ok' (green) or 'violations' (red). */
  async integrityState(): Promise<string | null> {
    return this.integrity().getAttribute('data-state', { timeout: WAIT });
  }
  totals(): Locator {
    return this.app.page.getByTestId('totals');
  }
}

class FindPage {
  constructor(private readonly app: ConsoleApp) {}
  /** Fills the labelled filters given and presses Find. */
  async search(filters: Partial<Record<'Client id' | 'Request id' | 'External id (payout or request)' | 'OEBS batch id' | 'OEBS check id' | 'OEBS payment id', string>> & { status?: string; namespace?: string }) {
    const p = this.app.page;
    for (const [label, value] of Object.entries(filters)) {
      if (label === 'status') await p.getByLabel('Status').selectOption(value!);
      else if (label === 'namespace') await p.getByLabel('Namespace').selectOption(value!);
      else await p.getByLabel(label, { exact: true }).fill(value!);
    }
    await p.getByRole('button', { name: 'Find' }).click();
  }
  rows(): Locator {
    return this.app.page.getByTestId('payouts').locator('tbody tr');
  }
  async openPayout(id: number) {
    await this.app.page.getByTestId('payouts').getByRole('link', { name: `#${id}`, exact: true }).click();
    await this.app.page.getByTestId('story').waitFor();
  }
}

class StoryPage {
  constructor(private readonly app: ConsoleApp) {}
  async open(id: number) {
    await this.app.open(`/payout/${id}`);
    await this.app.page.getByTestId('facts').waitFor({ timeout: WAIT });
  }
  async status(): Promise<string> {
    return (await this.app.page.getByTestId('status').locator('.status').textContent()) ?? '';
  }
  /** Steps of the ledger batches shown (reserve, register, confirm, …). */
  async ledgerSteps(): Promise<string[]> {
    const cells = await this.app.page.getByTestId('ledger-entries').locator('tbody tr td:first-child').allTextContents();
    return cells.map((c) => c.split(' ')[0]!);
  }
  /** The rows of the ledger outbox table (events decided, not in the ledger yet), as text. */
  async outboxRows(): Promise<string[]> {
    return this.app.page.getByTestId('ledger-outbox').locator('tbody tr').allTextContents();
  }
  timeline(): Locator {
    return this.app.page.getByTestId('timeline');
  }
  result(): Locator {
    return this.app.page.getByTestId('action-result');
  }
  async press(button: 'Approve' | 'Decline' | 'Retry') {
    await this.app.page.getByTestId('facts').locator('..').getByRole('button', { name: button, exact: true }).click();
  }
}

class ActPage {
  constructor(private readonly app: ConsoleApp) {}
  /** Approves a payout of the queue, confirming in the dialog. */
  async approve(id: number) {
    await this.app.page.getByRole('button', { name: `Approve payout ${id}` }).click();
    await this.app.confirm('Approve');
  }
  async decline(id: number, reason: string) {
    await this.app.page.getByRole('button', { name: `Decline payout ${id}` }).click();
    await this.app.confirm('Decline', reason);
  }
  async retryPayout(id: number) {
    await this.app.page.getByRole('button', { name: `Retry payout ${id}` }).click();
    await this.app.confirm('Retry');
  }
  async retryRequest(id: number) {
    await this.app.page.getByRole('button', { name: `Retry request ${id}` }).click();
    await this.app.confirm('Retry');
  }
  async replay(opts: { topic?: string } = {}) {
    if (opts.topic) await this.app.page.getByLabel('Topic (empty: all)').fill(opts.topic);
    await this.app.page.getByRole('button', { name: 'Replay oebs-errors' }).click();
    await this.app.confirm('Replay');
  }
  /** The result line of a section: approvals, parked, requests or replay. */
  result(section: 'approvals' | 'parked' | 'requests' | 'replay'): Locator {
    return this.app.page.getByRole('region', { name: SECTION_TITLES[section] }).getByTestId('action-result');
  }
  parkedIds(): Promise<string[]> {
    return this.app.page.getByTestId('parked-payouts').locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id') ?? ''));
  }
  parkedRow(id: number): Locator {
    return this.app.page.getByTestId('parked-payouts').locator(`tbody tr[data-id="${id}"]`);
  }
  queueIds(): Promise<string[]> {
    return this.app.page.getByTestId('approval-queue').locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id') ?? ''));
  }
}

const SECTION_TITLES = {
  approvals: 'Waiting for approval',
  parked: 'Parked payouts',
  requests: 'Requests that want a person',
  replay: 'Replay oebs-errors',
} as const;
