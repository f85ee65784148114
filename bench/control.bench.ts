/**
 * The clock's own costs, gateway in its own process, on loopback against the simulator (part of
 * `npm run bench`):
 *  - stop latency: 32 concurrent streams of one run, then POST /stop; from the stop request
 *    to the last byte each agent receives, and to each upstream socket closing (p50/p99
 *    over 5 rounds = 160 streams, after a first round reported apart: the process's first
 *    stop runs its code paths cold); target p99 <= 20 ms;
 *  - added latency of a run budget (reservation in every scope, clamping) versus a run
 *    without limits, and of approval inspection (a global policy gating send_*) on
 *    responses that ask for no gated tool; concurrency 1, non-streaming, medians.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { serverArgs, startServer, stopServers } from './processes.js';

const ADMIN = 'it_admin_bench';
const dataDir = mkdtempSync(join(tmpdir(), 'intime-control-bench-'));
// Sim, gateway and load generator each have their own process, so that none of them times its
// events late because it is busy with another's work. The sim reports each upstream socket the
// gateway closed, in epoch milliseconds, over IPC; the bench stamps in the same clock.
const sim = await startServer('sim', [...serverArgs('sim'), '--report-closes']);
const gateway = await startServer('intime', [...serverArgs('intime'), sim.url, dataDir], { env: { INTIME_ADMIN_TOKEN: ADMIN } });
const wallNow = () => performance.timeOrigin + performance.now();
let simActiveStreams = 0;
sim.child.on('message', (message: { type?: string; activeStreams?: number }) => {
  if (message.type === 'sim-stats') simActiveStreams = message.activeStreams ?? 0;
});
const pool = new Pool(gateway.url, { connections: 64 });

const admin = async (path: string, body: unknown = {}, method = 'POST') => {
  const response = await pool.request({ path, method, headers: { authorization: `Bearer ${ADMIN}` }, body: JSON.stringify(body) });
  return (await response.body.json()) as { id: string; token: string };
};
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const chat = (token: string, extra: Record<string, string> = {}, stream = false) => pool.request({
  path: '/v1/chat/completions', method: 'POST',
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...extra },
  body: JSON.stringify({ model: 'gpt-4o-mini', stream, max_tokens: 4000, messages: [{ role: 'user', content: 'bench' }] }),
});

try {
  // Stop latency.
  const toLastByte: number[] = [];
  const toUpstreamClose: number[] = [];
  // Round 0 is the process's first stop: its code paths (cutting, error events, undici's abort)
  // run for the first time, unoptimized. It is reported on its own, not mixed into the p99.
  const cold = { lastByte: [] as number[], upstreamClose: [] as number[], inGateway: [] as number[] };
  // The gateway's own count, from its stop answer: request received to the last cut call's error sent.
  const inGateway: number[] = [];
  // Each round's slowest stream: one slow round (a GC, the machine busy elsewhere) is a fifth of the samples.
  const roundWorst: number[] = [];
  for (let round = 0; round <= 5; round++) {
    const run = await admin('/api/runs');
    const closes: number[] = [];
    const onClose = (message: { type?: string; at?: number }) => { if (message.type === 'sim-closed') closes.push(message.at!); };
    sim.child.on('message', onClose);
    const streams = Array.from({ length: 32 }, async () => {
      const response = await chat(run.token, { 'x-sim-output-tokens': '5000', 'x-sim-tokens-per-second': '200' }, true);
      let last = 0;
      for await (const chunk of response.body) { void chunk; last = wallNow(); }
      return last;
    });
    while (simActiveStreams < 32) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stopAt = wallNow();
    const ack = (await admin(`/api/runs/${run.id}/stop`, { note: 'bench' })) as unknown as { stop?: { endedInMs: number } };
    (round === 0 ? cold.inGateway : inGateway).push(ack.stop?.endedInMs ?? NaN);
    const lastBytes = await Promise.all(streams);
    for (let i = 0; i < 100 && closes.length < 32; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    sim.child.off('message', onClose);
    for (const last of lastBytes) (round === 0 ? cold.lastByte : toLastByte).push(last - stopAt);
    if (round > 0) roundWorst.push(Math.max(...lastBytes) - stopAt);
    for (const close of closes) (round === 0 ? cold.upstreamClose : toUpstreamClose).push(close - stopAt);
  }
  console.log('\nStop latency, 32 concurrent streams x 5 rounds after a first (cold) one, ms from the stop request (target p99 <= 20):');
  console.log(`  to the last byte at the agent   p50 ${percentile(toLastByte, 50).toFixed(2)}  p99 ${percentile(toLastByte, 99).toFixed(2)}  (n=${toLastByte.length}; each round's last: ${roundWorst.map((ms) => ms.toFixed(1)).join(', ')})`);
  console.log(`  to the upstream socket closing  p50 ${percentile(toUpstreamClose, 50).toFixed(2)}  p99 ${percentile(toUpstreamClose, 99).toFixed(2)}  (n=${toUpstreamClose.length})`);
  console.log(`  inside the gateway, to the last error sent (stop.endedInMs), per round: ${inGateway.map((ms) => ms.toFixed(1)).join(', ')}`);
  console.log(`  the process's first stop (cold, not in the above): in the gateway ${cold.inGateway[0]?.toFixed(1)}; last byte p50 ${percentile(cold.lastByte, 50).toFixed(2)} max ${Math.max(...cold.lastByte).toFixed(2)}; upstream closed p50 ${percentile(cold.upstreamClose, 50).toFixed(2)} max ${Math.max(...cold.upstreamClose).toFixed(2)}`);

  // Added latency of budgets and approval inspection, concurrency 1.
  const measure = async (token: string, n = 1500) => {
    const samples: number[] = [];
    for (let i = 0; i < n + 200; i++) {
      const start = performance.now();
      const response = await chat(token, { 'x-sim-output-tokens': '16' });
      await response.body.text();
      if (i >= 200) samples.push(performance.now() - start);
    }
    return samples;
  };
  const free = await admin('/api/runs');
  const budgeted = await admin('/api/runs', { budgetUsd: '1000', budgetTokens: 1_000_000_000, maxCalls: 1_000_000 });
  const rounds: Record<string, number[]> = { 'no limits': [], 'run budget': [], 'approval policy': [] };
  for (let round = 0; round < 3; round++) {
    rounds['no limits']!.push(...(await measure(free.token)));
    rounds['run budget']!.push(...(await measure(budgeted.token)));
  }
  await admin('/api/approval-policies', { scope: 'global', tools: ['send_*', 'delete_*', 'deploy*'] }, 'PUT');
  for (let round = 0; round < 3; round++) rounds['approval policy']!.push(...(await measure(free.token)));
  const base = percentile(rounds['no limits']!, 50);
  console.log('\nNon-streaming latency through InTime, concurrency 1, ms (same gateway, same run of the bench):');
  for (const [label, samples] of Object.entries(rounds)) {
    const p50 = percentile(samples, 50);
    console.log(`  ${label.padEnd(16)} p50 ${p50.toFixed(3)}  p99 ${percentile(samples, 99).toFixed(3)}  added p50 ${(p50 - base >= 0 ? '+' : '') + (p50 - base).toFixed(3)}`);
  }
} finally {
  await pool.close();
  await stopServers([gateway, sim]);
  rmSync(dataDir, { recursive: true, force: true });
}
