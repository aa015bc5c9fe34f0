/**
 * The README's script-tag quick start, exactly as written there (its HTML, its setup file and its
 * Content-Security-Policy line), served on 127.0.0.1 and run in Chromium: no CSP violation, the
 * queued page_view is recorded, and the queued ready and recommend callbacks are called.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorsOf, launchBrowser, REPO_ROOT, startStaticServer, type Browser, type StaticServer } from './harness.js';

let server: StaticServer;
let browser: Browser;

/** The quick start's code blocks, in order, from the README section "Quick start: script tag". */
function quickStart(): { html: string; setup: string; csp: string } {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start: script tag'), readme.indexOf('## Quick start: npm'));
  const block = (lang: string): string => {
    const match = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section);
    if (!match) throw new Error(`The README's script-tag quick start has no ${lang} block`);
    return match[1]!;
  };
  const csp = /^Content-Security-Policy: (.+)$/m.exec(block('text'))?.[1];
  if (!csp) throw new Error("The README's script-tag quick start has no Content-Security-Policy line");
  return { html: block('html'), setup: block('js'), csp };
}

beforeAll(async () => {
  const { html, setup, csp } = quickStart();
  const catalog = [
    { id: 'sku-1', title: 'Mug', inStock: true },
    { id: 'sku-2', title: 'Pot', inStock: true },
  ];
  server = await startStaticServer({
    headers: { 'content-security-policy': csp },
    handle(req, res) {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const send = (type: string, body: string | Buffer): true => (res.writeHead(200, { 'content-type': type, 'content-security-policy': csp }).end(body), true);
      if (path === '/shop.html')
        return send(
          'text/html',
          `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>readme</title><link rel="icon" href="data:,">${html}</head><body><p>The README's quick start.</p></body></html>`,
        );
      if (path === '/js/hearth-setup.js') return send('text/javascript', setup);
      if (path === '/catalog.json') return send('application/json', JSON.stringify(catalog));
      if (path.startsWith('/hearth/')) return send(path.endsWith('.wasm') ? 'application/wasm' : 'text/javascript', readFileSync(join(REPO_ROOT, 'dist', path.slice('/hearth/'.length))));
      return false;
    },
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

test("the README's script-tag snippet runs under the README's strict CSP: no violation, the queue is replayed", async () => {
  const page = await browser.newPage();
  const violations: string[] = [];
  // The setup file's recommend callback logs the picks it was given ("for you", then the picks).
  const logged: string[] = [];
  page.on('console', (message) => logged.push(message.text()));
  await page.exposeFunction('reportViolation', (v: string) => violations.push(v));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => (window as unknown as { reportViolation(v: string): void }).reportViolation(`${e.violatedDirective} ${e.blockedURI}`));
  });
  await page.goto(`${server.origin}/shop.html`);
  // The setup file's ready callback marks the document.
  await page.waitForFunction(() => document.documentElement.dataset.hearth === 'opt-in');
  const events = await page.evaluate(async () => {
    const hearth = (window as unknown as { hearth: { consent: { grant(s: string[]): Promise<void> }; flush(): Promise<void>; exportData(): Promise<{ events: { type: string }[] }> } }).hearth;
    await hearth.consent.grant(['personalise']);
    await hearth.flush();
    return (await hearth.exportData()).events.map((e) => e.type);
  });
  expect(events).toContain('page_view');
  // The queued recommend callback was called with picks (from the catalog: no model, no history yet).
  await expect.poll(() => logged.some((line) => line.startsWith('for you')), { timeout: 60_000 }).toBe(true);
  expect(violations).toEqual([]);
  expect(errorsOf(page)).toEqual([]);
  await page.close();
});
