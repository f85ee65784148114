/**
 * `npm run bench`: what InTime costs on the wire, against the simulated provider on loopback.
 *
 * Three paths to the same sim, in one run: direct, through InTime, through the Portkey
 * gateway (@portkey-ai/gateway, OpenAI provider with a custom host). Each server runs in its
 * own child process; the load generator (undici) runs here. Measured:
 *  - latency at concurrency 1: non-streaming total, streaming time to first SSE data event;
 *    p50/p99 per path and added over direct (p50 of the path minus p50 of direct, same for
 *    p99); measured in blocks that rotate between the paths (see latencyRun);
 *  - throughput (req/s, median of 1-second windows) at concurrency 1, 64 and 256;
 *  - RSS of each server: idle, peak sampled under load, after the load, kernel high-water mark.
 * Prints tables and the issue's targets with pass/fail, writes bench/results/latest.json.
 * A report, not a test: exits 0 whatever the numbers, non-zero only if something broke.
 *
 * Knobs (env): BENCH_SAMPLES (2000), BENCH_WARMUP (300), BENCH_LATENCY_BLOCK (250), BENCH_WINDOW_MS (5000),
 * BENCH_CONCURRENCY ("1,64,256"), BENCH_CPU_PROF=1 (profile the InTime process),
 * BENCH_OUT (results file; default bench/results/latest.json).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { formatSummary, summarizeProfile, type ProfileSummary } from './cpuprofile-top.js';
import {
  call, ErrorLog, newPool, percentile, prepare, throughput,
  type CallShape, type Outcome, type PreparedCall, type Target, type ThroughputResult,
} from './load.js';
import {
  cpuTimeMs, FROM_SOURCE, killAllNow, listeningAddresses, memoryOf, REPO_ROOT, RssSampler, runningServers, serverArgs, startServer, stopAll, stopServers, type ServerProcess,
} from './processes.js';

const intEnv = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? Math.floor(value) : fallback;
};

const CONFIG = {
  latencyWarmup: intEnv('BENCH_WARMUP', 300),
  latencySamples: intEnv('BENCH_SAMPLES', 2000),
  latencyBlock: intEnv('BENCH_LATENCY_BLOCK', 250),
  latencyBlockWarmup: 20,
  /** Per path and mode: a path slower than budget/samples per call takes fewer samples. */
  latencyBudgetMs: intEnv('BENCH_LATENCY_BUDGET_MS', 12_000),
  latencyWarmupBudgetMs: 3_000,
  latencyMinSamples: 200,
  latencyOutputTokens: 16,
  throughputWarmupMs: 500,
  throughputWindowMs: intEnv('BENCH_WINDOW_MS', 5000),
  concurrency: (process.env.BENCH_CONCURRENCY ?? '1,64,256').split(',').map(Number).filter((n) => n > 0),
  streamOutputTokens: 64,
  model: 'gpt-4o-mini',
};
const CPU_PROFILE = process.env.BENCH_CPU_PROF === '1';
const OUT = process.env.BENCH_OUT ?? join(REPO_ROOT, 'bench/results/latest.json');
const ADMIN_TOKEN = 'it_admin_bench-only-token';
const PATHS = ['direct', 'intime', 'portkey'] as const;
type PathName = (typeof PATHS)[number];
const LABEL: Record<PathName, string> = { direct: 'direct (sim)', intime: 'InTime', portkey: 'Portkey' };

const loadAtStart = loadavg().map((value) => Math.round(value * 100) / 100);
const scratch = mkdtempSync(join(tmpdir(), 'intime-bench-'));
const profileDir = join(scratch, 'cpu-profiles');
let cleaningUp: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaningUp ??= stopAll(3000).finally(() => {
    if (!CPU_PROFILE) rmSync(scratch, { recursive: true, force: true });
  });
  return cleaningUp;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping the servers\n`);
    void cleanup().finally(() => process.exit(130));
  });
}
process.on('exit', () => {
  killAllNow();
  if (!CPU_PROFILE) rmSync(scratch, { recursive: true, force: true });
});
// Bounded no matter what: the whole bench is meant to take about 3 minutes.
setTimeout(() => {
  process.stderr.write('bench: watchdog: still running after 10 minutes, giving up\n');
  void cleanup().finally(() => process.exit(1));
}, 10 * 60_000).unref();

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<void> {
  const started = performance.now();
  log(`bench: ${cpus().length} CPUs; sim, InTime and Portkey each in their own process, load generator in this one`);

  // --- servers -----------------------------------------------------------------------------
  const sim = await startServer('sim', serverArgs('sim'));
  const intime = await startServer(
    'intime',
    [...serverArgs('intime', CPU_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), sim.url, join(scratch, 'intime-data')],
    { env: { INTIME_ADMIN_TOKEN: ADMIN_TOKEN, INTIME_LOG: 'error' } },
  );
  const portkeyEntry = join(REPO_ROOT, 'node_modules/@portkey-ai/gateway/build/start-server.js');
  if (!existsSync(portkeyEntry)) throw new Error(`Portkey is not installed (${portkeyEntry}); run npm install`);
  // --port=0: the kernel picks a free port; the loopback guard reports it and binds 127.0.0.1.
  const portkey = await startServer('portkey', [portkeyEntry, '--port=0', '--headless']);
  const servers: Record<PathName | 'sim', ServerProcess> = { sim, direct: sim, intime, portkey };

  const loopback: Record<string, string[]> = {};
  for (const server of [sim, intime, portkey]) {
    const addresses = listeningAddresses(server.port);
    loopback[server.name] = addresses;
    if (addresses.length === 0 || addresses.some((address) => address !== '127.0.0.1')) {
      throw new Error(`${server.name} listens on ${addresses.join(', ') || 'nothing'} for port ${server.port}, not 127.0.0.1 only`);
    }
  }
  log(`bench: sim ${sim.url} (pid ${sim.pid}), InTime ${intime.url} (pid ${intime.pid}), Portkey ${portkey.url} (pid ${portkey.pid}); all listening on 127.0.0.1 only`);

  const created = await request(`${intime.url}/api/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: '{}',
  });
  const run = (await created.body.json()) as { id?: string; token?: string };
  if (created.statusCode !== 201 && created.statusCode !== 200) throw new Error(`POST /api/runs: HTTP ${created.statusCode} ${JSON.stringify(run)}`);
  if (!run.token) throw new Error(`POST /api/runs returned no token: ${JSON.stringify(run)}`);

  const targets: Record<PathName, Target> = {
    direct: { name: 'direct', origin: sim.url, path: '/v1/chat/completions', headers: { authorization: 'Bearer sim' } },
    intime: { name: 'intime', origin: intime.url, path: '/v1/chat/completions', headers: { authorization: `Bearer ${run.token}` } },
    portkey: {
      name: 'portkey',
      origin: portkey.url,
      path: '/v1/chat/completions',
      headers: {
        authorization: 'Bearer anything',
        'x-portkey-provider': 'openai',
        'x-portkey-custom-host': `${sim.url}/v1`,
        // Portkey drops unknown headers; without this the sim would not see the output length.
        'x-portkey-forward-headers': 'x-sim-output-tokens',
      },
    },
  };
  for (const target of Object.values(targets)) {
    const url = new URL(target.origin);
    if (url.hostname !== '127.0.0.1') throw new Error(`refusing to send load to ${target.origin}: not loopback`);
  }

  await sanityCheck(targets);
  const tsxOverheadMiB = FROM_SOURCE ? await tsxOverhead() : undefined;
  const idle = snapshotMemory([sim, intime, portkey]);
  const errors = new ErrorLog();
  const sampler = new RssSampler([sim, intime, portkey]);
  sampler.start();

  // --- latency at concurrency 1 --------------------------------------------------------------
  const nonStreaming: CallShape = { stream: false, outputTokens: CONFIG.latencyOutputTokens };
  const streaming: CallShape = { stream: true, outputTokens: CONFIG.latencyOutputTokens };
  log(`bench: latency, concurrency 1: ${CONFIG.latencyWarmup} warm-up + ${CONFIG.latencySamples} samples per path (fewer if slower than ${CONFIG.latencyBudgetMs / 1000} s worth), in rotating blocks of up to ${CONFIG.latencyBlock}`);
  const totalLatency = await latencyRun(targets, nonStreaming, (outcome) => outcome.totalMs, errors);
  const firstToken = await latencyRun(targets, streaming, (outcome) => outcome.firstDataMs, errors);
  log(`bench: latency done in ${seconds(performance.now() - started)}`);

  // --- throughput ----------------------------------------------------------------------------
  const shapes: Array<{ key: 'nonStreaming' | 'streaming'; title: string; shape: CallShape }> = [
    { key: 'nonStreaming', title: `non-streaming, ${CONFIG.latencyOutputTokens} output tokens`, shape: nonStreaming },
    { key: 'streaming', title: `streaming, ${CONFIG.streamOutputTokens} output tokens`, shape: { stream: true, outputTokens: CONFIG.streamOutputTokens } },
  ];
  const tput: Record<string, Record<number, Record<PathName, ThroughputResult>>> = {};
  const cpu: Record<string, Record<number, Record<PathName, CellCpu>>> = {};
  for (const { key, title, shape } of shapes) {
    tput[key] = {};
    cpu[key] = {};
    for (const concurrency of CONFIG.concurrency) {
      const cell = {} as Record<PathName, ThroughputResult>;
      const cellCpu = {} as Record<PathName, CellCpu>;
      for (const path of PATHS) {
        const before = cpuNow([sim, intime, portkey]);
        cell[path] = await throughput(prepare(targets[path], shape), concurrency, CONFIG.throughputWarmupMs, CONFIG.throughputWindowMs, errors);
        cellCpu[path] = cpuSince(before, [sim, intime, portkey], cell[path].allCompleted, path);
      }
      cpu[key]![concurrency] = cellCpu;
      tput[key]![concurrency] = cell;
      log(`bench: throughput ${title}, concurrency ${concurrency}: ${PATHS.map((path) => `${path} ${Math.round(cell[path].rpsMedian)}/s`).join(', ')}`);
    }
  }
  const loadPeaks = sampler.stop();
  const after = snapshotMemory([sim, intime, portkey]);
  const elapsed = performance.now() - started;

  // --- report --------------------------------------------------------------------------------
  const latency = {
    nonStreamingTotal: latencyStats(totalLatency),
    streamingFirstToken: latencyStats(firstToken),
  };
  const memory = Object.fromEntries(
    [sim, intime, portkey].map((server) => [server.name, {
      pid: server.pid,
      idleMiB: round(idle[server.name]?.rssMiB, 1),
      peakUnderLoadMiB: round(loadPeaks.get(server.name), 1),
      afterLoadMiB: round(after[server.name]?.rssMiB, 1),
      highWaterMarkMiB: round(after[server.name]?.hwmMiB, 1),
    }]),
  );
  const throughputReport = Object.fromEntries(shapes.map(({ key }) => [key, Object.fromEntries(
    CONFIG.concurrency.map((concurrency) => {
      const cell = tput[key]![concurrency]!;
      return [concurrency, {
        rps: Object.fromEntries(PATHS.map((path) => [path, round(cell[path].rpsMedian, 0)])),
        p50Ms: Object.fromEntries(PATHS.map((path) => [path, round(percentile(cell[path].latencyMs, 50), 2)])),
        errors: Object.fromEntries(PATHS.map((path) => [path, cell[path].errors])),
        cpu: Object.fromEntries(PATHS.map((path) => [path, cpu[key]![concurrency]![path]])),
        intimeOverDirect: round(cell.intime.rpsMedian / cell.direct.rpsMedian, 2),
        intimeOverPortkey: round(cell.intime.rpsMedian / cell.portkey.rpsMedian, 2),
      }];
    }),
  )]));

  const targetRows = targetChecks(latency, throughputReport);
  const profiles = CPU_PROFILE ? await collectProfiles() : [];
  const note = `${cpus().length} CPU cores (${cpus()[0]?.model ?? 'unknown'}) shared by the sim, InTime, Portkey and the load generator: ` +
    'absolute numbers are bounded by that; the comparison between paths is the point.';

  const results = {
    generatedAt: new Date().toISOString(),
    git: gitDescribe(),
    machine: { loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadavg().map((value) => round(value, 2)), cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: round(totalmem() / 2 ** 30, 1), node: process.version, platform: `${process.platform}-${process.arch}` },
    note,
    config: { ...CONFIG, portkeyVersion: portkeyVersion(), client: 'undici Pool (one per target and phase), closed-loop workers', upstream: 'InTime sim (src/sim), default pacing: no latency, tokens as fast as possible' },
    loopback: { listening: loopback, portkeyBinding: 'node --import bench/servers/loopback-guard.mjs: net.Server#listen forced to 127.0.0.1', blockedOutbound: Object.fromEntries([sim, intime, portkey].map((server) => [server.name, server.blockedConnections])) },
    latencyMs: latency,
    throughputRps: throughputReport,
    memory: { ...memory, tsxLoaderOverheadMiB: tsxOverheadMiB === undefined ? null : round(tsxOverheadMiB, 1) },
    targets: targetRows,
    errors: Object.fromEntries([...errors.count.entries()].map(([path, count]) => [path, { count, sample: errors.samples.get(path) }])),
    durationSeconds: round(elapsed / 1000, 1),
  };
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);

  printReport(results.note, latency, throughputReport, shapes, memory, tsxOverheadMiB, targetRows, errors, elapsed, servers);
  for (const profile of profiles) {
    process.stdout.write(`\nInTime gateway ${profile.file}\n${formatSummary(profile.summary)}\n`);
  }
  process.stdout.write(`\nwrote ${relative(process.cwd(), OUT) || OUT}\n`);
}

// --- measurement helpers -------------------------------------------------------------------

/**
 * With BENCH_FROM_SOURCE=1 the sim and InTime run from source under the tsx loader (a worker
 * thread plus esbuild): the RSS of an idle server with and without tsx tells what that adds.
 */
async function tsxOverhead(): Promise<number> {
  const withTsx = await startServer('idle-tsx', ['--import', 'tsx', 'bench/servers/idle.mjs']);
  const plain = await startServer('idle-plain', ['bench/servers/idle.mjs']);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return (memoryOf(withTsx.pid)?.rssMiB ?? NaN) - (memoryOf(plain.pid)?.rssMiB ?? NaN);
  } finally {
    await stopServers([withTsx, plain]);
  }
}

async function sanityCheck(targets: Record<PathName, Target>): Promise<void> {
  for (const path of PATHS) {
    const pool = newPool(targets[path], 1);
    try {
      const plain = await call(pool, prepare(targets[path], { stream: false, outputTokens: CONFIG.latencyOutputTokens }), true);
      if (!plain.ok) throw new Error(`${path}: non-streaming call failed: HTTP ${plain.status} ${plain.body?.slice(0, 500)}`);
      const usage = (JSON.parse(plain.body ?? '{}') as { usage?: { completion_tokens?: number } }).usage;
      if (usage?.completion_tokens !== CONFIG.latencyOutputTokens) {
        throw new Error(`${path}: expected ${CONFIG.latencyOutputTokens} completion tokens, got ${JSON.stringify(usage)}`);
      }
      const stream = await call(pool, prepare(targets[path], { stream: true, outputTokens: CONFIG.streamOutputTokens }), true);
      if (!stream.ok || stream.firstDataMs === undefined || !stream.body?.includes('[DONE]')) {
        throw new Error(`${path}: streaming call failed: HTTP ${stream.status} ${stream.body?.slice(0, 500)}`);
      }
    } finally {
      await pool.close();
    }
  }
}

/**
 * Concurrency 1, one pool per path. Measured in rounds: in each round every path gets one block
 * of calls back to back, the order rotating round by round, so drift over the run hits all
 * paths alike. Not call-by-call interleaving: on this VM a process that idled for a few ms
 * wakes up slowly (direct p50 0.3 ms back to back, ~1 ms with 2-5 ms gaps between calls),
 * which would inflate every path. The first calls of each block are discarded (the path's
 * first wake-up). A path too slow to take all its samples within the time budget (Portkey
 * streams: ~30 ms each) gets fewer, spread over all rounds; the report shows n.
 */
async function latencyRun(
  targets: Record<PathName, Target>,
  shape: CallShape,
  metric: (outcome: Outcome) => number | undefined,
  errors: ErrorLog,
): Promise<Record<PathName, { values: number[]; errors: number }>> {
  const prepared = Object.fromEntries(PATHS.map((path) => [path, prepare(targets[path], shape)])) as Record<PathName, PreparedCall>;
  const pools = Object.fromEntries(PATHS.map((path) => [path, newPool(targets[path], 1)])) as Record<PathName, ReturnType<typeof newPool>>;
  const result = Object.fromEntries(PATHS.map((path) => [path, { values: [] as number[], errors: 0 }])) as Record<PathName, { values: number[]; errors: number }>;
  /** Returns the wall time the calls took. */
  const measure = async (path: PathName, count: number, keep: boolean, deadline = Infinity) => {
    const begin = performance.now();
    let calls = 0;
    for (; calls < count && performance.now() < deadline; calls++) {
      let outcome: Outcome | Error;
      try {
        outcome = await call(pools[path], prepared[path]);
      } catch (error) {
        outcome = error as Error;
      }
      const value = outcome instanceof Error ? undefined : metric(outcome);
      if (outcome instanceof Error || !outcome.ok || value === undefined) {
        errors.record(path, outcome);
        if (keep) result[path].errors += 1;
      } else if (keep) {
        result[path].values.push(value);
      }
    }
    return { ms: performance.now() - begin, calls };
  };
  try {
    const rounds = Math.max(1, Math.ceil(CONFIG.latencySamples / CONFIG.latencyBlock));
    const perRound = {} as Record<PathName, number>;
    for (const path of PATHS) {
      const warm = await measure(path, CONFIG.latencyWarmup, false, performance.now() + CONFIG.latencyWarmupBudgetMs);
      const perCallMs = warm.ms / Math.max(1, warm.calls);
      const affordable = Math.floor(CONFIG.latencyBudgetMs / Math.max(perCallMs, 0.001));
      const samples = Math.max(CONFIG.latencyMinSamples, Math.min(CONFIG.latencySamples, affordable));
      perRound[path] = Math.ceil(samples / rounds);
    }
    for (let round = 0; round < rounds; round++) {
      for (let step = 0; step < PATHS.length; step++) {
        const path = PATHS[(round + step) % PATHS.length]!;
        const wanted = Math.min(CONFIG.latencySamples, perRound[path] * rounds);
        const count = Math.min(perRound[path], wanted - result[path].values.length - result[path].errors);
        if (count <= 0) continue;
        await measure(path, CONFIG.latencyBlockWarmup, false);
        await measure(path, count, true);
      }
    }
  } finally {
    await Promise.all(Object.values(pools).map((pool) => pool.close().catch(() => undefined)));
  }
  return result;
}

interface PathLatency { p50: number; p99: number; mean: number; n: number; errors: number }
interface LatencyReport { paths: Record<PathName, PathLatency>; added: Record<'intime' | 'portkey', { p50: number; p99: number }> }

function latencyStats(run: Record<PathName, { values: number[]; errors: number }>): LatencyReport {
  const paths = Object.fromEntries(PATHS.map((path) => {
    const { values, errors } = run[path];
    const mean = values.reduce((sum, value) => sum + value, 0) / (values.length || 1);
    return [path, { p50: round(percentile(values, 50), 3), p99: round(percentile(values, 99), 3), mean: round(mean, 3), n: values.length, errors }];
  })) as Record<PathName, PathLatency>;
  const added = (path: 'intime' | 'portkey') => ({
    p50: round(paths[path].p50 - paths.direct.p50, 3),
    p99: round(paths[path].p99 - paths.direct.p99, 3),
  });
  return { paths, added: { intime: added('intime'), portkey: added('portkey') } };
}

type ThroughputReport = Record<string, Record<string, { rps: Record<string, number>; p50Ms: Record<string, number>; errors: Record<string, number>; cpu: Record<string, CellCpu>; intimeOverDirect: number; intimeOverPortkey: number }>>;

/** CPU use during one throughput cell: % of one core per process, and the gateway's CPU ms per call. */
interface CellCpu {
  simPct: number;
  intimePct: number;
  portkeyPct: number;
  loadGeneratorPct: number;
  simMsPerCall: number | null;
  /** CPU ms per call of the gateway on this path (null for direct). */
  gatewayMsPerCall: number | null;
}
interface CpuMark { at: number; servers: Record<string, number | undefined>; self: NodeJS.CpuUsage }

function cpuNow(servers: ServerProcess[]): CpuMark {
  return { at: performance.now(), servers: Object.fromEntries(servers.map((server) => [server.name, cpuTimeMs(server.pid)])), self: process.cpuUsage() };
}

function cpuSince(before: CpuMark, servers: ServerProcess[], calls: number, path: PathName): CellCpu {
  const after = cpuNow(servers);
  const wall = after.at - before.at;
  const used = (name: string) => (after.servers[name] ?? NaN) - (before.servers[name] ?? NaN);
  const pct = (ms: number) => round((100 * ms) / wall, 0);
  const self = process.cpuUsage(before.self);
  return {
    simPct: pct(used('sim')),
    intimePct: pct(used('intime')),
    portkeyPct: pct(used('portkey')),
    loadGeneratorPct: pct((self.user + self.system) / 1000),
    simMsPerCall: calls > 0 ? round(used('sim') / calls, 3) : null,
    gatewayMsPerCall: calls > 0 && path !== 'direct' ? round(used(path) / calls, 3) : null,
  };
}

interface TargetRow { target: string; measured: string; pass: boolean }

function targetChecks(latency: { nonStreamingTotal: LatencyReport; streamingFirstToken: LatencyReport }, tputReport: ThroughputReport): TargetRow[] {
  const rows: TargetRow[] = [];
  const ms = (value: number) => `${value.toFixed(3)} ms`;
  for (const [title, report] of [['non-streaming total', latency.nonStreamingTotal], ['streaming first token', latency.streamingFirstToken]] as const) {
    rows.push({ target: `added p50 <= 0.5 ms, c=1, ${title}`, measured: ms(report.added.intime.p50), pass: report.added.intime.p50 <= 0.5 });
    rows.push({ target: `added p99 <= 3 ms, c=1, ${title}`, measured: ms(report.added.intime.p99), pass: report.added.intime.p99 <= 3 });
  }
  for (const [key, title] of [['nonStreaming', 'non-streaming'], ['streaming', 'streaming']] as const) {
    const cell = tputReport[key]?.['64'];
    if (!cell) continue;
    rows.push({ target: `throughput c=64 >= 2x Portkey, ${title}`, measured: `${cell.intimeOverPortkey.toFixed(2)}x`, pass: cell.intimeOverPortkey >= 2 });
    rows.push({ target: `throughput c=64 >= 0.7x direct, ${title}`, measured: `${cell.intimeOverDirect.toFixed(2)}x`, pass: cell.intimeOverDirect >= 0.7 });
  }
  return rows;
}

function snapshotMemory(servers: ServerProcess[]): Record<string, { rssMiB: number; hwmMiB: number } | undefined> {
  return Object.fromEntries(servers.map((server) => [server.name, memoryOf(server.pid)]));
}

async function collectProfiles(): Promise<Array<{ file: string; summary: ProfileSummary }>> {
  // The profile is written when the InTime process exits: stop the servers first.
  await cleanup();
  if (!existsSync(profileDir)) return [];
  // One file per thread (tsx's loader, the WAL checkpointer): keep the busiest, the main thread.
  const summaries = readdirSync(profileDir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => ({ file: join(profileDir, name), summary: summarizeProfile(join(profileDir, name), 20) }))
    .sort((a, b) => b.summary.busyMs - a.summary.busyMs);
  return summaries.slice(0, 1);
}

// --- printing --------------------------------------------------------------------------------

function printReport(
  note: string,
  latency: { nonStreamingTotal: LatencyReport; streamingFirstToken: LatencyReport },
  tputReport: ThroughputReport,
  shapes: Array<{ key: string; title: string }>,
  memory: Record<string, { pid: number; idleMiB: number; peakUnderLoadMiB: number; afterLoadMiB: number; highWaterMarkMiB: number }>,
  tsxOverheadMiB: number | undefined,
  targetRows: TargetRow[],
  errors: ErrorLog,
  elapsed: number,
  servers: Record<PathName | 'sim', ServerProcess>,
): void {
  const out: string[] = [];
  out.push('', `InTime gateway benchmark — ${new Date().toISOString()} — node ${process.version}, Portkey ${portkeyVersion()}`);
  out.push(`NOTE: ${note}`);
  out.push(`Load average at start ${loadAtStart.join(' ')}, at end ${loadavg().map((value) => value.toFixed(2)).join(' ')} (other work on the machine skews results).`);
  if ((loadAtStart[0] ?? 0) > 1) out.push(`WARNING: the machine was busy when the bench started (1-minute load ${loadAtStart[0]}); expect noisy numbers.`);
  out.push('All traffic on 127.0.0.1; each server listening on 127.0.0.1 only (checked in /proc/net/tcp*).');
  if (portkeyFirstChunkDelay()) {
    out.push('Portkey streams: its SSE reader waits 25 ms (setTimeout) before the first event of every stream (@portkey-ai/gateway build/start-server.js); that is most of its time to first token.');
  }

  for (const [title, report] of [
    [`Latency, concurrency 1, non-streaming total (${CONFIG.latencyOutputTokens} output tokens), ms`, latency.nonStreamingTotal],
    ['Latency, concurrency 1, streaming time to first SSE data event, ms', latency.streamingFirstToken],
  ] as const) {
    out.push('', title);
    out.push(table(
      ['path', 'p50', 'p99', 'mean', 'n', 'errors', 'added p50', 'added p99'],
      PATHS.map((path) => {
        const row = report.paths[path];
        const added = path === 'direct' ? undefined : report.added[path];
        return [LABEL[path], fixed(row.p50, 3), fixed(row.p99, 3), fixed(row.mean, 3), String(row.n), String(row.errors),
          added ? signed(added.p50) : '—', added ? signed(added.p99) : '—'];
      }),
    ));
  }

  for (const { key, title } of shapes) {
    out.push('', `Throughput, ${title}, requests/s (median of 1 s windows over ${CONFIG.throughputWindowMs / 1000} s)`);
    out.push(table(
      ['concurrency', 'direct', 'InTime', 'Portkey', 'InTime/direct', 'InTime/Portkey', 'p50 ms d/I/P', 'errors d/I/P'],
      CONFIG.concurrency.map((concurrency) => {
        const cell = tputReport[key]![String(concurrency)]!;
        return [String(concurrency), String(cell.rps.direct), String(cell.rps.intime), String(cell.rps.portkey),
          `${cell.intimeOverDirect.toFixed(2)}x`, `${cell.intimeOverPortkey.toFixed(2)}x`,
          PATHS.map((path) => fixed(cell.p50Ms[path] ?? NaN, 1)).join(' / '),
          PATHS.map((path) => String(cell.errors[path] ?? 0)).join(' / ')];
      }),
    ));
  }

  out.push('', 'CPU during the throughput cells: % of one core (2 cores = 200%), and CPU ms per completed call');
  out.push(table(
    ['shape', 'conc', 'path', 'sim %', 'gateway %', 'load gen %', 'sim ms/call', 'gateway ms/call'],
    shapes.flatMap(({ key }) => CONFIG.concurrency.flatMap((concurrency) => PATHS.map((path) => {
      const row = tputReport[key]![String(concurrency)]!.cpu[path]!;
      const gatewayPct = path === 'intime' ? row.intimePct : path === 'portkey' ? row.portkeyPct : NaN;
      return [key === 'streaming' ? `stream ${CONFIG.streamOutputTokens}` : `json ${CONFIG.latencyOutputTokens}`, String(concurrency), LABEL[path],
        fixed(row.simPct, 0), fixed(gatewayPct, 0), fixed(row.loadGeneratorPct, 0), fixed(row.simMsPerCall ?? NaN, 3), fixed(row.gatewayMsPerCall ?? NaN, 3)];
    }))),
  ));

  out.push('', 'Memory of each server process, RSS MiB (peak sampled every 100 ms under load; HWM = kernel VmHWM)');
  out.push(table(
    ['process', 'pid', 'idle', 'peak under load', 'after load', 'HWM'],
    (['sim', 'intime', 'portkey'] as const).map((name) => {
      const row = memory[name]!;
      return [name === 'sim' ? 'sim (direct)' : LABEL[name], String(row.pid), fixed(row.idleMiB, 1), fixed(row.peakUnderLoadMiB, 1), fixed(row.afterLoadMiB, 1), fixed(row.highWaterMarkMiB, 1)];
    }),
  ));

  out.push(tsxOverheadMiB === undefined
    ? '  All three run their built JavaScript (InTime and the sim from dist/, as `intime serve` does).'
    : `  The sim and InTime run from source under tsx (BENCH_FROM_SOURCE=1), which by itself adds ${fixed(tsxOverheadMiB, 1)} MiB to an idle server (measured now); Portkey runs its plain-JS build.`);

  out.push('', 'Targets (from the issue), InTime; reported, never enforced');
  out.push(table(['target', 'measured', 'result'], targetRows.map((row) => [row.target, row.measured, row.pass ? 'PASS' : 'FAIL'])));

  const blocked = Object.values(servers).filter((server, index, all) => all.indexOf(server) === index && server.blockedConnections > 0);
  if (blocked.length) out.push('', `Outbound non-loopback connections refused by the guard: ${blocked.map((server) => `${server.name} ${server.blockedConnections}`).join(', ')}`);
  if (errors.count.size) {
    out.push('', 'Errors (all phases, warm-ups included):');
    for (const [path, count] of errors.count) out.push(`  ${path}: ${count}, e.g. ${errors.samples.get(path)}`);
  }
  out.push('', `Total time ${seconds(elapsed)}.`);
  process.stdout.write(`${out.join('\n')}\n`);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  return ['  ' + line(header), '  ' + widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map((row) => '  ' + line(row))].join('\n');
}

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '—');
const signed = (value: number) => (Number.isFinite(value) ? `${value >= 0 ? '+' : ''}${value.toFixed(3)}` : '—');
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function round(value: number | undefined, digits: number): number {
  if (value === undefined || !Number.isFinite(value)) return NaN;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function gitDescribe(): { commit: string; dirty: boolean } | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim().length > 0;
    return { commit, dirty };
  } catch {
    return undefined;
  }
}

/** True when this Portkey build has the fixed 25 ms wait before the first streamed event. */
function portkeyFirstChunkDelay(): boolean {
  try {
    return readFileSync(join(REPO_ROOT, 'node_modules/@portkey-ai/gateway/build/start-server.js'), 'utf8').includes('setTimeout(e,25)');
  } catch {
    return false;
  }
}

function portkeyVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/@portkey-ai/gateway/package.json'), 'utf8')) as { version?: string };
    return manifest.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

main().then(
  async () => {
    await cleanup();
    process.exit(0);
  },
  async (error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
    for (const server of runningServers()) {
      process.stderr.write(`--- ${server.name} (pid ${server.pid}) output, last 2000 characters ---\n${server.output().slice(-2000)}\n`);
    }
    await cleanup();
    process.exit(1);
  },
);
