#!/usr/bin/env node
// The CLI entry point: the compiled TypeScript in dist/ (built by `npm install` via `prepare`).
import { existsSync } from 'node:fs';
const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('intime: dist/ is missing; run `npm install` (or `npm run build`) in the package first\n');
  process.exit(1);
}
await import(entry.href);
