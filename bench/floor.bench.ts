/**
 * What any Node gateway pays, next to what InTime pays (part of `npm run bench`): the sim
 * direct, through a bare undici pass-through proxy (bench/servers/bare-proxy.mjs: no parsing,
 * metering or ledger), and through InTime; each server in its own process. Added latency at
 * concurrency 1 (non-streaming, medians of rotating blocks) and throughput at concurrency 64
 * (median of 1 s windows), so the issue's "0.7x direct" can be read against the floor.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { call, ErrorLog, newPool, percentile, prepare, throughput, type CallShape, type Target } from './load.js';
import { cpuTimeMs, serverArgs, startServer, stopServers } from './processes.js';

const ADMIN = 'it_admin_floor-bench';
const scratch = mkdtempSync(join(tmpdir(), 'intime-floor-'));
const sim = await startServer('sim', serverArgs('sim'));
const bare = await startServer('bare-proxy', ['bench/servers/bare-proxy.mjs', sim.url]);
const intime = await startServer('intime', [...serverArgs('intime'), sim.url, join(scratch, 'data')], { env: { INTIME_ADMIN_TOKEN: ADMIN, INTIME_LOG: 'error' } });
try {
  const created = await request(`${intime.url}/api/runs`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: '{}' });
  const { token } = (await created.body.json()) as { token: string };
  const targets: Target[] = [
    { name: 'direct', origin: sim.url, path: '/v1/chat/completions', headers: { authorization: 'Bearer sim' } },
    { name: 'bare proxy', origin: bare.url, path: '/v1/chat/completions', headers: { authorization: 'Bearer sim' } },
    { name: 'InTime', origin: intime.url, path: '/v1/chat/completions', headers: { authorization: `Bearer ${token}` } },
  ];
  const shape: CallShape = { stream: false, outputTokens: 16 };
  const errors = new ErrorLog();

  // Latency, concurrency 1: rotating blocks so that no path gets the machine's quiet moments.
  const samples = new Map<string, number[]>(targets.map((target) => [target.name, []]));
  const pools = targets.map((target) => newPool(target, 1));
  const prepared = targets.map((target) => prepare(target, shape));
  for (let round = 0; round < 8; round++) {
    for (let index = 0; index < targets.length; index++) {
      for (let i = 0; i < 220; i++) {
        const outcome = await call(pools[index]!, prepared[index]!);
        if (i >= 20 && outcome.ok) samples.get(targets[index]!.name)!.push(outcome.totalMs);
      }
    }
  }
  await Promise.all(pools.map((pool) => pool.close()));
  const direct = percentile(samples.get('direct')!, 50);
  console.log('\nFloor bench: non-streaming, 16 output tokens, concurrency 1, ms');
  console.log('  path          p50     p99     added p50 over direct');
  for (const target of targets) {
    const values = samples.get(target.name)!;
    const p50 = percentile(values, 50);
    console.log(`  ${target.name.padEnd(12)} ${p50.toFixed(3).padStart(6)}  ${percentile(values, 99).toFixed(3).padStart(6)}  ${target.name === 'direct' ? '' : `+${(p50 - direct).toFixed(3)}`}`);
  }

  console.log('\nThroughput at concurrency 64, requests/s (median of 1 s windows over 5 s), and the CPU each server spent per call:');
  const rps: Record<string, number> = {};
  const cpuPerCall: Record<string, number> = {};
  const processOf: Record<string, number> = { direct: sim.pid, 'bare proxy': bare.pid, InTime: intime.pid };
  for (const target of targets) {
    const before = cpuTimeMs(processOf[target.name]!) ?? NaN;
    const result = await throughput(prepare(target, shape), 64, 500, 5000, errors);
    rps[target.name] = result.rpsMedian;
    cpuPerCall[target.name] = ((cpuTimeMs(processOf[target.name]!) ?? NaN) - before) / result.allCompleted;
  }
  for (const target of targets) {
    const server = target.name === 'direct' ? 'the sim' : target.name;
    console.log(`  ${target.name.padEnd(12)} ${String(Math.round(rps[target.name]!)).padStart(6)}  ${(rps[target.name]! / rps.direct!).toFixed(2)}x direct   ${server} ${cpuPerCall[target.name]!.toFixed(3)} ms CPU per call`);
  }
  console.log(`  InTime is ${(rps.InTime! / rps['bare proxy']!).toFixed(2)}x the bare proxy's throughput, at ${(cpuPerCall.InTime! / cpuPerCall['bare proxy']!).toFixed(2)}x its CPU per call`);
} finally {
  await stopServers([intime, bare, sim]);
  rmSync(scratch, { recursive: true, force: true });
}
