/**
 * Firefox for the end-to-end suites: Debian's firefox-esr driven headless over WebDriver BiDi by
 * puppeteer-core (Playwright's own Firefox build cannot be downloaded here), behind the subset of
 * Playwright's Page API the suites use, so a suite runs unchanged in either browser. Chosen by
 * `HEARTH_BROWSER=firefox` (the e2e-firefox project in vitest.config.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type HTTPRequest, type Page as PuppeteerPage } from 'puppeteer-core';
import type { BrowserContext, Page, Request } from 'playwright-core';

export const FIREFOX_PATH = process.env.HEARTH_FIREFOX ?? '/usr/bin/firefox-esr';

/** A Playwright-shaped view of a Puppeteer request (what the suites read of one). */
function requestView(request: HTTPRequest): Request {
  return {
    url: () => request.url(),
    method: () => request.method(),
    allHeaders: async () => request.headers(),
    headers: () => request.headers(),
    postDataBuffer: () => {
      // WebDriver BiDi does not hand request bodies to puppeteer (UnsupportedOperation); the suites
      // also check bodies as the server received them.
      try {
        const body = request.postData();
        return body === undefined ? null : Buffer.from(body, 'latin1');
      } catch {
        return null;
      }
    },
  } as unknown as Request;
}

type Listener = (...args: never[]) => void;

/** A Playwright-shaped view of a Puppeteer page. */
function pageView(page: PuppeteerPage): Page {
  const view = {
    goto: (url: string) => page.goto(url),
    url: () => page.url(),
    evaluate: (fn: never, arg?: unknown) => (arg === undefined ? page.evaluate(fn) : page.evaluate(fn, arg as never)),
    waitForFunction: (fn: never, arg?: unknown, options?: { timeout?: number }) =>
      page.waitForFunction(fn, { timeout: options?.timeout ?? 60_000, polling: 50 }, ...(arg === undefined ? [] : [arg as never])),
    click: (selector: string) => page.click(selector),
    close: () => page.close(),
    addInitScript: (fn: never, arg?: unknown) => page.evaluateOnNewDocument(fn, ...(arg === undefined ? [] : [arg as never])),
    exposeFunction: (name: string, fn: (...args: never[]) => unknown) => page.exposeFunction(name, fn),
    waitForTimeout: (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)),
    async waitForURL(pattern: RegExp, options?: { timeout?: number }) {
      const deadline = Date.now() + (options?.timeout ?? 30_000);
      while (!pattern.test(page.url())) {
        if (Date.now() > deadline) throw new Error(`waitForURL: ${page.url()} never matched ${pattern}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // Let the new document run its scripts, as Playwright's "load" wait would.
      await page.waitForFunction(() => document.readyState === 'complete', { polling: 50 });
    },
    screenshot: (options: { path: string; fullPage?: boolean }) => page.screenshot(options as never),
    on(event: string, listener: Listener) {
      if (event === 'console')
        page.on('console', (message) =>
          (listener as (m: { type(): string; text(): string }) => void)({ type: () => (message.type() === 'error' ? 'error' : message.type()), text: () => message.text() }),
        );
      else if (event === 'pageerror') page.on('pageerror', listener as never);
      else if (event === 'request') page.on('request', (request) => (listener as (r: Request) => void)(requestView(request)));
      else throw new Error(`The Firefox harness does not forward "${event}" events`);
      return view;
    },
  };
  return view as unknown as Page;
}

export interface FirefoxSession {
  context: BrowserContext;
  requests: Request[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** Launches headless Firefox ESR with a fresh profile; every request of every page is recorded. */
export async function launchFirefox(): Promise<FirefoxSession> {
  const profile = await mkdtemp(join(tmpdir(), 'hearth-firefox-'));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PATH,
    headless: true,
    userDataDir: profile,
    // No telemetry, updates or remote settings: the suites fail on any request to elsewhere.
    extraPrefsFirefox: {
      'network.captive-portal-service.enabled': false,
      'network.connectivity-service.enabled': false,
      'app.update.enabled': false,
      'browser.safebrowsing.malware.enabled': false,
      'browser.safebrowsing.phishing.enabled': false,
      'datareporting.policy.dataSubmissionEnabled': false,
      'toolkit.telemetry.enabled': false,
    },
  });
  const requests: Request[] = [];
  const context = { cookies: () => browser.cookies() } as unknown as BrowserContext;
  return {
    context,
    requests,
    async newPage() {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      // Firefox reports data: URLs (a data: favicon, its own fonts) as requests; Chromium does not.
      page.on('request', (request) => request.url().startsWith('data:') || requests.push(requestView(request)));
      return pageView(page);
    },
    async close() {
      await browser.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
