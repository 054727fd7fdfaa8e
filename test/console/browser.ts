// The browser the console tests drive: Debian's Chromium through playwright-core (no browser
// download). No browser is a failure, not a skip: `.ci/run` installs it when it is missing.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.PAYOUT_CHROMIUM ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no browser at ${CHROMIUM}: install it (apt-get install -y chromium; .ci/run does) or set PAYOUT_CHROMIUM`);
  }
  // As root, Chromium refuses to start without --no-sandbox.
  const root = process.getuid?.() === 0;
  return chromium.launch({ executablePath: CHROMIUM, args: root ? ['--no-sandbox'] : [] });
}
