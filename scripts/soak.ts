/**
 * `npm run soak -- --minutes N [--workers W] [--interval-s S]`: steady load through a gateway in
 * its own process for N minutes (official OpenAI and Anthropic clients, streaming and not,
 * against the sim, loopback only). Every interval it records the gateway's RSS, heap,
 * event-loop delay and open file descriptors, and the calls' p50/p99 latency; at the end it
 * prints the series and fails (exit 1) on a leak: memory or descriptors that keep growing
 * after warm-up. Latency drift is reported, not judged (it depends on the machine).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startSim } from '../src/sim/index.js';

const { values: args } = parseArgs({
  options: { minutes: { type: 'string', default: '5' }, workers: { type: 'string', default: '16' }, 'interval-s': { type: 'string', default: '10' } },
});
const MINUTES = Number(args.minutes);
const WORKERS = Number(args.workers);
const INTERVAL_MS = Number(args['interval-s']) * 1000;
const ADMIN = 'it_admin_soak';

const sim = await startSim();
const dataDir = mkdtempSync(join(tmpdir(), 'intime-soak-'));
const child = fork(new URL('./soak-server.ts', import.meta.url), [sim.url, dataDir, String(INTERVAL_MS)], {
  execArgv: ['--import', 'tsx', '--expose-gc'], env: { ...process.env, INTIME_ADMIN_TOKEN: ADMIN }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const url = await new Promise<string>((resolve) => child.on('message', (message: { type: string; url?: string }) => {
  if (message.type === 'listening') resolve(message.url!);
}));

interface Interval { at: number; calls: number; errors: number; p50: number; p99: number; rssMiB: number; heapMiB: number; loopDelayP99Ms: number; fds: number; trackedRuns: number; walMiB: number }
const series: Interval[] = [];
let latencies: number[] = [];
let errors = 0;
child.on('message', (message: { type: string } & Partial<Interval>) => {
  if (message.type !== 'health') return;
  const sorted = latencies.sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  series.push({ at: series.length * INTERVAL_MS / 1000 + INTERVAL_MS / 1000, calls: sorted.length, errors, p50: at(0.5), p99: at(0.99), rssMiB: message.rssMiB!, heapMiB: message.heapMiB!, loopDelayP99Ms: message.loopDelayP99Ms!, fds: message.fds!, trackedRuns: message.trackedRuns ?? 0, walMiB: message.walMiB ?? 0 });
  latencies = [];
  errors = 0;
});

async function newRun(): Promise<string> {
  const response = await fetch(`${url}/api/runs`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ name: 'soak', budgetUsd: '1000' }) });
  return ((await response.json()) as { token: string }).token;
}

const deadline = Date.now() + MINUTES * 60_000;
async function worker(index: number): Promise<void> {
  let token = await newRun();
  for (let n = 0; Date.now() < deadline; n++) {
    if (n % 200 === 199) token = await newRun(); // runs come and go, as in real use
    const headers = { 'x-sim-output-tokens': '24', 'x-sim-tokens-per-second': '3000' };
    const start = performance.now();
    try {
      const kind = (index + n) % 4;
      if (kind === 0) {
        const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: token, maxRetries: 0 });
        const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'soak' }] }, { headers });
        for await (const chunk of stream) void chunk;
      } else if (kind === 1) {
        const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: token, maxRetries: 0 });
        await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'soak' }] }, { headers });
      } else if (kind === 2) {
        const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: token, maxRetries: 0 });
        await client.responses.create({ model: 'gpt-4o-mini', input: 'soak' }, { headers });
      } else {
        const client = new Anthropic({ baseURL: url, apiKey: token, maxRetries: 0 });
        await client.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'soak' }] }, { headers }).finalMessage();
      }
      latencies.push(performance.now() - start);
    } catch {
      errors += 1;
    }
  }
}

console.log(`soak: ${MINUTES} min, ${WORKERS} workers, gateway ${url} (pid ${child.pid}), sample every ${INTERVAL_MS / 1000}s`);
await Promise.all(Array.from({ length: WORKERS }, (_, index) => worker(index)));
await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS + 500));
child.disconnect();
await sim.close();
rmSync(dataDir, { recursive: true, force: true });

console.log('\n   t(s)   calls  errors   p50 ms   p99 ms   RSS MiB  heap MiB  loop p99 ms  fds   runs  WAL MiB');
for (const row of series) {
  console.log(`${String(row.at).padStart(7)} ${String(row.calls).padStart(7)} ${String(row.errors).padStart(7)} ${row.p50.toFixed(2).padStart(8)} ${row.p99.toFixed(2).padStart(8)} ${row.rssMiB.toFixed(1).padStart(9)} ${row.heapMiB.toFixed(1).padStart(9)} ${row.loopDelayP99Ms.toFixed(2).padStart(12)} ${String(row.fds).padStart(4)} ${String(row.trackedRuns).padStart(6)} ${row.walMiB.toFixed(1).padStart(8)}`);
}
const loaded = series.filter((row) => row.calls > 0);
const settled = loaded.slice(Math.floor(loaded.length / 4)); // after warm-up
const verdicts: string[] = [];
if (settled.length >= 3) {
  const slope = (key: 'rssMiB' | 'heapMiB') => regressionSlope(settled.map((row) => [row.at / 60, row[key]]));
  const rssSlope = slope('rssMiB');
  const heapSlope = slope('heapMiB');
  const first = settled[0]!;
  const last = settled.at(-1)!;
  console.log(`\nafter warm-up: RSS ${first.rssMiB.toFixed(1)} -> ${last.rssMiB.toFixed(1)} MiB (${rssSlope.toFixed(2)} MiB/min), heap ${first.heapMiB.toFixed(1)} -> ${last.heapMiB.toFixed(1)} MiB (${heapSlope.toFixed(2)} MiB/min), fds ${first.fds} -> ${last.fds}, p99 ${first.p99.toFixed(2)} -> ${last.p99.toFixed(2)} ms`);
  // A leak is growth that does not level off: a steady slope and a real total, not GC noise.
  if (heapSlope > 1 && last.heapMiB - first.heapMiB > 20) verdicts.push(`heap keeps growing: ${heapSlope.toFixed(2)} MiB/min`);
  if (rssSlope > 2 && last.rssMiB - first.rssMiB > 40) verdicts.push(`RSS keeps growing: ${rssSlope.toFixed(2)} MiB/min`);
  if (last.fds > first.fds + 16) verdicts.push(`file descriptors grew from ${first.fds} to ${last.fds}`);
} else {
  verdicts.push('too short to judge: run at least a few intervals');
}
console.log(verdicts.length === 0 ? 'no leak' : `LEAK: ${verdicts.join('; ')}`);
process.exit(verdicts.length === 0 ? 0 : 1);

function regressionSlope(points: [number, number][]): number {
  const n = points.length;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let numerator = 0;
  let denominator = 0;
  for (const [x, y] of points) {
    numerator += (x - meanX) * (y - meanY);
    denominator += (x - meanX) ** 2;
  }
  return denominator === 0 ? 0 : numerator / denominator;
}
