/**
 * Headless Chromium for end-to-end tests, driven with playwright-core (no browser download: the
 * browser is Debian's `chromium` package, or CHROMIUM_PATH). `npx playwright install` is not needed
 * and does not work offline.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Thrown when no Chromium binary is found. Callers skip locally, but must FAIL when CI is set. */
export class NoChromiumError extends Error {}

/**
 * Launches Chromium headless. Playwright gives every launch a fresh temporary user-data-dir (removed
 * on close), and every `browser.newContext()` its own cookie jar: one context per signed-in user.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new NoChromiumError(`no Chromium at ${CHROMIUM_PATH}: apt-get install chromium (Debian), or set CHROMIUM_PATH`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true, // adds --headless
    args: [
      '--no-sandbox', // CI runs as root
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 60_000,
  });
}
