import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { INestApplication } from '@nestjs/common';
import express, { type NextFunction, type Request, type Response } from 'express';

/** Pages of the built web bundle (apps/web/dist) and the paths they are served at. */
const PAGES: Record<string, { file: string; trains: boolean }> = {
  '/': { file: 'index.html', trains: false },
  '/join': { file: 'join.html', trains: true },
};

/**
 * Only same-origin connections and scripts: the join page trains on private data, and this makes
 * the browser itself refuse to send anything anywhere but this coordinator. `wasm-unsafe-eval`
 * lets the wasm backend compile; its threads are blob: workers that import a blob: script (only
 * the page's own scripts can make blob: URLs).
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval' blob:",
  "worker-src 'self' blob:",
  "img-src 'self' data: blob:",
  "style-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Where the built bundle is: $FEDLINK_WEB_DIR, else the @fedlink/web package (a workspace link
 * or an installed dependency), else apps/web/dist next to this app in the repo.
 */
export function findWebBundle(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates: string[] = [];
  if (env.FEDLINK_WEB_DIR) candidates.push(resolve(env.FEDLINK_WEB_DIR));
  try {
    candidates.push(join(dirname(createRequire(import.meta.url).resolve('@fedlink/web/package.json')), 'dist'));
  } catch {
    /* not installed as a package: try the repo layout */
  }
  candidates.push(fileURLToPath(new URL('../../../web/dist', import.meta.url)));
  return candidates.find((dir) => Object.values(PAGES).every((p) => existsSync(join(dir, p.file))));
}

/**
 * Serves the dashboard at `/`, the browser client at `/join` and their assets at `/assets`.
 * The join page gets cross-origin isolation (COOP/COEP), which browsers require before they
 * give wasm threads their SharedArrayBuffer.
 */
export function mountWebPages(app: INestApplication, dir: string | undefined = findWebBundle()): void {
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    // The pages load assets by relative URL, so /join/ would look for /join/assets: redirect.
    if (req.path.length > 1 && req.path.endsWith('/') && PAGES[req.path.slice(0, -1)]) {
      const q = req.originalUrl.indexOf('?');
      res.redirect(301, `${req.path.slice(0, -1)}${q >= 0 ? req.originalUrl.slice(q) : ''}`);
      return;
    }
    const page = PAGES[req.path];
    if (!page) return next();
    if (!dir) {
      res.status(503).type('text/plain').send('The fedlink web pages are not built. Run `npm run build` (it builds apps/web), then restart the coordinator.\n');
      return;
    }
    res.set({
      'Content-Security-Policy': CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-cache',
    });
    if (page.trains) res.set({ 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' });
    res.sendFile(join(dir, page.file));
  });
  if (!dir) return;
  app.use(
    '/assets',
    express.static(join(dir, 'assets'), {
      index: false,
      fallthrough: false,
      // Entry names are stable across builds, so browsers revalidate (ETag) instead of caching blindly.
      setHeaders: (res) => {
        res.setHeader('Cache-Control', 'no-cache');
        res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
        res.setHeader('X-Content-Type-Options', 'nosniff');
      },
    }),
  );
}
