/**
 * Shared end-to-end harness: a static server on 127.0.0.1, headless Debian Chromium driven by
 * playwright-core, and a recorder of every network request the page makes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, stat, mkdtemp, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page, type Request } from 'playwright-core';
import { launchFirefox } from './firefox.js';
import { existsSync } from 'node:fs';
import { build } from 'esbuild';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const CHROMIUM_PATH = process.env.HEARTH_CHROMIUM ?? '/usr/bin/chromium';
/** The browser the suites run in: Chromium, or Firefox ESR for the e2e-firefox project. */
export const BROWSER: 'chromium' | 'firefox' = process.env.HEARTH_BROWSER === 'firefox' ? 'firefox' : 'chromium';
export const ARTIFACTS_DIR = join(REPO_ROOT, 'test-results');

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

export interface StaticServer {
  origin: string;
  port: number;
  close(): Promise<void>;
}

export interface StaticServerOptions {
  /** Folder served at `/` (default: the repository root, so `/dist/…` and `/test/fixtures/…` work). */
  root?: string;
  /** Extra headers on every response, e.g. a Content-Security-Policy. */
  headers?: Record<string, string>;
  /** Handles a request first; return true when it answered. */
  handle?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
}

/** Serves files on http://127.0.0.1 on a free port. */
export async function startStaticServer(options: StaticServerOptions = {}): Promise<StaticServer> {
  const root = resolve(options.root ?? REPO_ROOT);
  const server: Server = createServer((req, res) => {
    void (async () => {
      try {
        if (options.handle && (await options.handle(req, res))) return;
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        let path = normalize(join(root, decodeURIComponent(url.pathname)));
        if (!path.startsWith(root)) {
          res.writeHead(403).end();
          return;
        }
        const info = await stat(path).catch(() => undefined);
        if (info?.isDirectory()) path = join(path, 'index.html');
        const body = await readFile(path).catch(() => undefined);
        if (!body) {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
          return;
        }
        res.writeHead(200, {
          'content-type': MIME[extname(path)] ?? 'application/octet-stream',
          'cache-control': 'no-store',
          ...options.headers,
        });
        res.end(body);
      } catch (error) {
        res.writeHead(500).end(String(error));
      }
    })();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('static server has no port');
  return {
    origin: `http://127.0.0.1:${address.port}`,
    port: address.port,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-features=MediaRouter,OptimizationHints,Translate',
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
];

export interface Browser {
  context: BrowserContext;
  /** Every request any page or worker of this context made, in order. */
  requests: Request[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/**
 * Launches headless Chromium (or Firefox ESR, see firefox.ts) with a fresh profile. Console errors and page errors are collected
 * per page in `pageErrors` so tests can assert a clean console.
 */
export async function launchBrowser(options: { extraArgs?: string[] } = {}): Promise<Browser> {
  if (BROWSER === 'firefox') {
    const firefox = await launchFirefox();
    return {
      ...firefox,
      async newPage() {
        const page = await firefox.newPage();
        attachErrorCollector(page);
        return page;
      },
    };
  }
  const profile = await mkdtemp(join(tmpdir(), 'hearth-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, ...(options.extraArgs ?? [])],
    viewport: { width: 1280, height: 900 },
  });
  const requests: Request[] = [];
  context.on('request', (request) => requests.push(request));
  return {
    context,
    requests,
    async newPage() {
      const page = await context.newPage();
      attachErrorCollector(page);
      return page;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

const pageErrors = new WeakMap<Page, string[]>();

function attachErrorCollector(page: Page): void {
  const errors: string[] = [];
  pageErrors.set(page, errors);
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console.error: ${message.text()}`);
  });
}

/** Uncaught page errors and console errors seen on `page` so far. */
export function errorsOf(page: Page): string[] {
  return pageErrors.get(page) ?? [];
}

/** Requests that went anywhere but the allowed origins (data: and blob: URLs are local). */
export function requestsOutside(requests: readonly Request[], allowedOrigins: readonly string[]): string[] {
  return requests
    .map((request) => request.url())
    .filter((url) => !url.startsWith('data:') && !url.startsWith('blob:'))
    .filter((url) => !allowedOrigins.some((origin) => url.startsWith(`${origin}/`) || url === origin));
}

/**
 * Saves a full-page screenshot under test-results/ and returns its path; in Firefox the name ends
 * in `-firefox`, so that a suite run in both browsers keeps both pictures.
 */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}${BROWSER === 'chromium' ? '' : `-${BROWSER}`}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * Serves the engine test page: `pagePath` loads test/fixtures/engine/page-entry.ts (bundled here),
 * which puts the engine client and the store on `window.hearthTest`; the repository root is served
 * too, so the page can start `/dist/hearth.worker.js`. `headers` go on every response.
 */
export async function startEnginePageSite(pagePath: string, headers: Record<string, string> = {}): Promise<StaticServer> {
  if (!existsSync(join(REPO_ROOT, 'dist/hearth.worker.js'))) throw new Error('dist/hearth.worker.js is missing: run `npx rollup -c` first');
  const bundled = await build({
    entryPoints: [join(REPO_ROOT, 'test/fixtures/engine/page-entry.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const pageScript = bundled.outputFiles[0]?.text ?? '';
  return startStaticServer({
    headers,
    handle: (req, res) => {
      if (req.url === pagePath) {
        res.writeHead(200, { 'content-type': 'text/html', ...headers }).end('<!doctype html><title>engine</title><script type="module" src="/engine-page.js"></script><p>shop</p>');
        return true;
      }
      if (req.url === '/engine-page.js') {
        res.writeHead(200, { 'content-type': 'text/javascript', ...headers }).end(pageScript);
        return true;
      }
      if (req.url === '/favicon.ico') {
        res.writeHead(204).end();
        return true;
      }
      return false;
    },
  });
}
