/**
 * Profiles the InTime process under load (not part of `npm run bench`): the sim and InTime
 * each in their own process, InTime with --cpu-prof; throughput at PROFILE_CONCURRENCY
 * (default 64) for PROFILE_MS (default 8000), non-streaming unless PROFILE_STREAM=1; then
 * where the profile is (summarize it with cpuprofile-top.ts). PROFILE_OFF=1 measures CPU per
 * call without the profiler. `node --import tsx bench/profile-gateway.ts`.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { ErrorLog, prepare, throughput, type Target } from './load.js';
import { cpuTimeMs, serverArgs, startServer, stopServers } from './processes.js';

const ADMIN = 'it_admin_profile';
const concurrency = Number(process.env.PROFILE_CONCURRENCY ?? 64);
const windowMs = Number(process.env.PROFILE_MS ?? 8000);
const stream = process.env.PROFILE_STREAM === '1';
const profileDir = mkdtempSync(join(tmpdir(), 'intime-prof-'));
const sim = await startServer('sim', serverArgs('sim'));
const profiling = process.env.PROFILE_OFF !== '1';
const intime = await startServer('intime', [...serverArgs('intime', profiling ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), sim.url, join(profileDir, 'data')], { env: { INTIME_ADMIN_TOKEN: ADMIN, INTIME_LOG: 'error' } });
try {
  const created = await request(`${intime.url}/api/runs`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: process.env.PROFILE_BUDGET ? JSON.stringify({ budgetUsd: 1000 }) : '{}' });
  const { token } = (await created.body.json()) as { token: string };
  const target: Target = { name: 'InTime', origin: intime.url, path: '/v1/chat/completions', headers: { authorization: `Bearer ${token}` } };
  const shape = { stream, outputTokens: stream ? 64 : 16 };
  const before = cpuTimeMs(intime.pid)!;
  const result = await throughput(prepare(target, shape), concurrency, 1000, windowMs, new ErrorLog());
  const cpu = cpuTimeMs(intime.pid)! - before;
  console.log(`c=${concurrency} ${stream ? 'stream' : 'json'}: ${Math.round(result.rpsMedian)} req/s; gateway CPU ${(cpu / result.allCompleted).toFixed(3)} ms per call (${result.allCompleted} calls)`);
} finally {
  await stopServers([intime, sim]);
}
const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
console.log(`profile: ${join(profileDir, file ?? '(none)')}`);
