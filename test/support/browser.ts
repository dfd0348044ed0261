/**
 * Headless Chromium for page tests: Debian's `chromium` (scripts/setup.d/60-browser.sh)
 * driven by playwright-core, with a fresh profile per launch and every
 * background network feature off, so the browser talks only to the page under
 * test. Never `npx playwright install` (it downloads browsers).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface Browser {
  page: Page;
  context: BrowserContext;
  /** Closes the browser and deletes its profile. */
  close(): Promise<void>;
}

/** Fails with the reason when Chromium is not installed. */
export function assertChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (sudo bash scripts/setup.d/60-browser.sh --test)`,
    );
  }
}

/** Launches headless Chromium with a fresh --user-data-dir and opens one page of `width` x `height`. */
export async function launchBrowser(viewport = { width: 1440, height: 860 }): Promise<Browser> {
  assertChromium();
  const profile = await mkdtemp(join(tmpdir(), 'lhp-chromium-'));
  let context: BrowserContext;
  try {
    // launchPersistentContext passes the profile as --user-data-dir (launch() refuses that flag).
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport,
      deviceScaleFactor: 1,
      colorScheme: 'dark',
      offline: false,
    });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    page,
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
