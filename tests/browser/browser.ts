import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';

/**
 * Headless Chromium for browser tests: Debian's /usr/bin/chromium (CI installs it), driven by
 * playwright-core; never a downloaded browser. Suites skip, loudly, only when it is absent.
 */
export const CHROMIUM = process.env.FEDLINK_CHROMIUM ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);

if (!HAVE_CHROMIUM) {
  console.warn(`SKIPPING browser tests: no Chromium at ${CHROMIUM}. Install it (apt-get install -y chromium) or set FEDLINK_CHROMIUM.`);
}

/** `describe`, or `describe.skip` (reported as skipped, with the warning above) without Chromium. */
export const describeBrowser: jest.Describe = HAVE_CHROMIUM ? describe : describe.skip;

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/**
 * For the tests of one describe block: a browser launched and a temp dir (named from `prefix`)
 * made before them, closed and removed after. Read `browser` and `dir` inside the tests.
 */
export function browserAndTempDir(prefix: string): { readonly browser: Browser; readonly dir: string } {
  const env = {} as { browser: Browser; dir: string };
  beforeAll(async () => {
    env.browser = await launchBrowser();
    env.dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    await env.browser?.close();
    if (env.dir) await rm(env.dir, { recursive: true, force: true });
  });
  return env;
}

/** tests/artifacts (git-ignored): screenshots of the pages. */
export const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Page errors and console errors, so a failing test says what the page said. */
export function collectPageErrors(page: Page, into: string[]): void {
  page.on('pageerror', (e) => into.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') into.push(`console: ${m.text()}`);
  });
}

/** What the join page exposes on window.__fedlink (see apps/web/src/join/debug-hook.ts). */
export interface JoinHook {
  backend: string | null;
  state: string;
  detail: string | null;
  examples: number;
  baselineTensors: number | null;
  rounds: { round: number; loss?: number; bytes?: number; sealed?: boolean; masked?: boolean; testAccuracy?: number; status?: string; numTensors?: number }[];
  runEnd: { status: string; rounds: number; metrics: Record<string, number> } | null;
  errors: string[];
}

declare global {
  interface Window {
    __fedlink?: JoinHook & { numTensors(): number };
  }
}

export async function readHook(page: Page): Promise<JoinHook & { numTensors: number }> {
  return page.evaluate(() => {
    const h = window.__fedlink!;
    return { ...h, numTensors: h.numTensors() };
  });
}

/** Opens /join, waits until the backend and the run's model are known. */
export async function openJoinPage(page: Page, url: string, token?: string): Promise<void> {
  await page.goto(`${url}/join${token ? `?token=${encodeURIComponent(token)}` : ''}`);
  await page.waitForFunction(() => window.__fedlink?.backend, null, { timeout: 60_000 });
  await page.waitForSelector('#use-demo:not([disabled])', { timeout: 60_000 });
}

/** Picks the bundled demo digits and joins. */
export async function joinWithDemo(page: Page): Promise<void> {
  await page.click('#use-demo');
  await page.waitForSelector('#join:not([disabled])', { timeout: 30_000 });
  await page.click('#join');
}

export async function waitForRunEnd(page: Page, timeoutMs: number): Promise<void> {
  await page.waitForFunction(() => window.__fedlink?.runEnd || window.__fedlink?.state === 'error', null, { timeout: timeoutMs, polling: 250 });
}
