import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/**
 * The dashboard's static files: plain JS and CSS in the package's dashboard/ folder, no
 * build step. Served with a strict CSP (no inline script or style, same-origin only), and
 * revalidated by ETag; the API data they fetch is never cached (no-store).
 */
const ROOT = fileURLToPath(new URL('../../dashboard/', import.meta.url));
const FILES: Record<string, string> = {
  '/': 'index.html',
  '/dashboard/app.js': 'app.js',
  '/dashboard/dom.js': 'dom.js',
  '/dashboard/charts.js': 'charts.js',
  '/dashboard/runs.js': 'runs.js',
  '/dashboard/views.js': 'views.js',
  '/dashboard/precedents.js': 'precedents.js',
  '/dashboard/app.css': 'app.css',
  '/favicon.ico': 'favicon.svg',
};
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

export const DASHBOARD_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "font-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

interface Asset { body: Buffer; etag: string; type: string }
const cache = new Map<string, Asset>();

function load(file: string): Asset {
  let asset = cache.get(file);
  if (!asset) {
    const body = readFileSync(join(ROOT, file));
    asset = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`, type: TYPES[file.split('.').pop()!]! };
    cache.set(file, asset);
  }
  return asset;
}

/** Serves a dashboard file; false when the path is not one. */
export function serveDashboardAsset(request: IncomingMessage, response: ServerResponse, pathname: string): boolean {
  const file = FILES[pathname];
  if (!file || (request.method !== 'GET' && request.method !== 'HEAD')) return false;
  const asset = load(file);
  const headers = {
    'content-type': asset.type,
    'cache-control': 'no-cache',
    etag: asset.etag,
    'content-security-policy': DASHBOARD_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };
  if (request.headers['if-none-match'] === asset.etag) {
    response.writeHead(304, headers).end();
    return true;
  }
  response.writeHead(200, { ...headers, 'content-length': asset.body.length });
  response.end(request.method === 'HEAD' ? undefined : asset.body);
  return true;
}
