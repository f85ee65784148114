/**
 * Replicas (short, ~1 minute): what the Redis budget store and the PostgreSQL ledger add,
 * with one and three `intime serve` processes, against the simulator on loopback.
 *  - latency: concurrency 1, non-streaming, 16 output tokens, p50/p99 (first replica only);
 *  - throughput: 64 closed-loop workers spread round-robin over the replicas, streaming
 *    64 output tokens, calls/s over a 3 s window.
 * Every call belongs to one run with a budget, so each one reserves and settles.
 * Needs INTIME_TEST_REDIS_URL and INTIME_TEST_PG_URL.
 *   node --import tsx bench/replicas.bench.ts
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Pool } from 'undici';
import { startSim } from '../src/sim/index.js';
import { startGatewayProcess, type CliProcess } from '../test/processes.js';

const REDIS = process.env.INTIME_TEST_REDIS_URL;
const PG = process.env.INTIME_TEST_PG_URL;
if (!REDIS || !PG) {
  console.log('replicas bench skipped: set INTIME_TEST_REDIS_URL and INTIME_TEST_PG_URL');
  process.exit(0);
}
const ADMIN = 'it_admin_replicas-bench';
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 3000);
const LATENCY_SAMPLES = Number(process.env.BENCH_SAMPLES ?? 400);

interface Setup { label: string; replicas: number; store: 'embedded' | 'redis'; db: 'sqlite' | 'postgres' }
const SETUPS: Setup[] = [
  { label: 'embedded store, SQLite ledger, 1 replica', replicas: 1, store: 'embedded', db: 'sqlite' },
  { label: 'Redis store, SQLite ledger, 1 replica', replicas: 1, store: 'redis', db: 'sqlite' },
  { label: 'embedded store, PostgreSQL ledger, 1 replica', replicas: 1, store: 'embedded', db: 'postgres' },
  { label: 'Redis store, PostgreSQL ledger, 1 replica', replicas: 1, store: 'redis', db: 'postgres' },
  { label: 'Redis store, PostgreSQL ledger, 3 replicas', replicas: 3, store: 'redis', db: 'postgres' },
  // For comparison only: three replicas whose budgets are not shared (each its own embedded store).
  { label: 'embedded store, PostgreSQL ledger, 3 replicas', replicas: 3, store: 'embedded', db: 'postgres' },
];

// BENCH_SETUPS=0,1,0,1 runs a subset, in that order (indices into SETUPS).
const chosen = process.env.BENCH_SETUPS ? process.env.BENCH_SETUPS.split(',').map((index) => SETUPS[Number(index)]!) : SETUPS;
const sim = await startSim();
const percentile = (values: number[], p: number) => [...values].sort((x, y) => x - y)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;
const results: { label: string; p50: number; p99: number; throughput: number; errors: number }[] = [];

for (const setup of chosen) {
  const schema = `intime_bench_${randomUUID().replaceAll('-', '')}`;
  const prefix = `intime-bench:${randomUUID()}:`;
  const dirs: string[] = [];
  const replicas: (CliProcess & { url: string })[] = [];
  try {
    for (let index = 0; index < setup.replicas; index++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'intime-replicas-bench-'));
      dirs.push(dataDir);
      writeFileSync(join(dataDir, 'config.json'), JSON.stringify({ providers: { openai: { baseUrl: `${sim.url}/v1`, apiKey: 'sk-sim', protocols: ['openai-chat'] } } }));
      replicas.push(await startGatewayProcess([
        '--port', '0', '--data-dir', dataDir, '--config', join(dataDir, 'config.json'),
        ...(setup.db === 'postgres' ? ['--db', `${PG}?schema=${schema}`] : []),
        ...(setup.store === 'redis' ? ['--budget-store', REDIS, '--store-prefix', prefix] : []),
      ], { INTIME_ADMIN_TOKEN: ADMIN }));
    }
    const pools = replicas.map((replica) => new Pool(replica.url, { connections: 64 }));
    const created = await pools[0]!.request({ path: '/api/runs', method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ budgetUsd: '100000' }) });
    const run = (await created.body.json()) as { token: string };
    let errors = 0;
    const call = async (pool: Pool, stream: boolean, outputTokens: number) => {
      const response = await pool.request({
        path: '/v1/chat/completions', method: 'POST',
        headers: { authorization: `Bearer ${run.token}`, 'content-type': 'application/json', 'x-sim-output-tokens': String(outputTokens) },
        body: JSON.stringify({ model: 'gpt-4o-mini', stream, messages: [{ role: 'user', content: 'bench' }] }),
      });
      await response.body.text();
      if (response.statusCode !== 200) errors++;
    };
    const latencies: number[] = [];
    for (let index = 0; index < LATENCY_SAMPLES + 50; index++) {
      const start = performance.now();
      await call(pools[0]!, false, 16);
      if (index >= 50) latencies.push(performance.now() - start);
    }
    let completed = 0;
    let measuring = false;
    let running = true;
    const workers = Array.from({ length: 64 }, async (_, index) => {
      while (running) {
        await call(pools[index % pools.length]!, true, 64);
        if (measuring) completed++;
      }
    });
    // Warm every replica (the latency phase only warmed the first) before measuring.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    measuring = true;
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
    measuring = false;
    running = false;
    await Promise.all(workers);
    results.push({ label: setup.label, p50: percentile(latencies, 50), p99: percentile(latencies, 99), throughput: completed / (WINDOW_MS / 1000), errors });
    await Promise.all(pools.map((pool) => pool.close()));
  } finally {
    for (const replica of replicas) {
      replica.child.kill('SIGTERM');
      await replica.exited;
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    if (setup.db === 'postgres') {
      const client = new pg.Client(PG);
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
    if (setup.store === 'redis') {
      const redis = new Redis(REDIS);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  }
}
await sim.close();

const base = results[0]!.p50;
console.log(`\nload average while measuring: ${(await import('node:os')).loadavg().map((load) => load.toFixed(1)).join(' ')} on ${(await import('node:os')).cpus().length} CPUs`);
console.log('\nReplicas: one run with a budget; latency at concurrency 1 (non-streaming), throughput with 64 workers (streaming, 64 tokens)');
console.log(`${'setup'.padEnd(46)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'added p50'.padStart(10)} ${'calls/s'.padStart(9)} errors`);
for (const row of results) {
  const added = row.p50 - base;
  console.log(`${row.label.padEnd(46)} ${row.p50.toFixed(2).padStart(8)} ${row.p99.toFixed(2).padStart(8)} ${((added >= 0 ? '+' : '') + added.toFixed(2)).padStart(10)} ${row.throughput.toFixed(0).padStart(9)} ${row.errors}`);
}
