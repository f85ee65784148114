/**
 * The load generator: OpenAI Chat Completions calls over undici Pools, one pool per target
 * and phase. Latency is measured with performance.now() around one request at a time;
 * throughput with N closed-loop workers over a fixed window.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export interface Target {
  name: string;
  origin: string;
  path: string;
  /** Headers this path needs on top of the common ones (auth, routing). */
  headers: Record<string, string>;
}

export interface CallShape {
  stream: boolean;
  outputTokens: number;
}

export interface Outcome {
  ok: boolean;
  status: number;
  /** ms from sending to the last byte of the body. */
  totalMs: number;
  /** ms from sending to the first chunk holding an SSE `data:` line (streams only). */
  firstDataMs: number | undefined;
  bytes: number;
  body?: string;
}

const MODEL = 'gpt-4o-mini';
const PROMPT = 'Tick tock. Say something while the clock runs.';

export interface PreparedCall {
  target: Target;
  shape: CallShape;
  headers: Record<string, string>;
  body: string;
}

export function prepare(target: Target, shape: CallShape): PreparedCall {
  return {
    target,
    shape,
    headers: {
      'content-type': 'application/json',
      'x-sim-output-tokens': String(shape.outputTokens),
      ...target.headers,
    },
    body: JSON.stringify({ model: MODEL, stream: shape.stream, messages: [{ role: 'user', content: PROMPT }] }),
  };
}

export function newPool(target: Target, connections: number): Pool {
  return new Pool(target.origin, { connections, pipelining: 1, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 60_000 });
}

/** One call, body fully consumed. `keepBody` returns the text (for sanity checks and errors). */
export async function call(pool: Pool, prepared: PreparedCall, keepBody = false): Promise<Outcome> {
  const start = performance.now();
  let firstDataMs: number | undefined;
  let bytes = 0;
  const chunks: Buffer[] = [];
  const response = await pool.request({
    path: prepared.target.path,
    method: 'POST',
    headers: prepared.headers,
    body: prepared.body,
  });
  const ok = response.statusCode === 200;
  const keep = keepBody || !ok;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    if (firstDataMs === undefined && prepared.shape.stream && chunk.includes('data:')) {
      firstDataMs = performance.now() - start;
    }
    bytes += chunk.length;
    if (keep) chunks.push(chunk);
  }
  const totalMs = performance.now() - start;
  const outcome: Outcome = { ok, status: response.statusCode, totalMs, firstDataMs, bytes };
  if (keep) outcome.body = Buffer.concat(chunks).toString('utf8');
  return outcome;
}

/** Records one failure per distinct status so a broken path is explained, not just counted. */
export class ErrorLog {
  readonly count = new Map<string, number>();
  readonly samples = new Map<string, string>();

  record(path: string, outcome: Outcome | Error): void {
    this.count.set(path, (this.count.get(path) ?? 0) + 1);
    if (!this.samples.has(path)) {
      this.samples.set(path, outcome instanceof Error ? outcome.message : `HTTP ${outcome.status}: ${(outcome.body ?? '').slice(0, 300)}`);
    }
  }
}

export interface ThroughputResult {
  /** Median of the per-second completion counts across the window. */
  rpsMedian: number;
  /** Completions / window length. */
  rpsMean: number;
  perSecond: number[];
  completed: number;
  /** Every successful call in the cell, warm-up and drain included (for CPU per call). */
  allCompleted: number;
  errors: number;
  latencyMs: number[];
}

/**
 * N workers, each sending its next call as soon as the last one ends. Calls that complete
 * during the warm-up or after the window are not counted; in-flight calls drain afterwards.
 */
export async function throughput(
  prepared: PreparedCall,
  concurrency: number,
  warmupMs: number,
  windowMs: number,
  errors: ErrorLog,
): Promise<ThroughputResult> {
  const pool = newPool(prepared.target, concurrency);
  const begin = performance.now();
  const windowStart = begin + warmupMs;
  const windowEnd = windowStart + windowMs;
  const completions: number[] = [];
  const latencyMs: number[] = [];
  let failed = 0;
  let allCompleted = 0;
  const worker = async () => {
    while (performance.now() < windowEnd) {
      let outcome: Outcome | Error;
      const sent = performance.now();
      try {
        outcome = await call(pool, prepared);
      } catch (error) {
        outcome = error as Error;
      }
      const done = performance.now();
      const counted = done >= windowStart && done < windowEnd;
      if (outcome instanceof Error || !outcome.ok) {
        if (counted) failed += 1;
        errors.record(prepared.target.name, outcome);
        if (outcome instanceof Error) await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      allCompleted += 1;
      if (counted) {
        completions.push(done);
        latencyMs.push(done - sent);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await pool.close().catch(() => undefined);
  }
  const seconds = Math.max(1, Math.round(windowMs / 1000));
  const perSecond = new Array<number>(seconds).fill(0);
  const bucketMs = windowMs / seconds;
  for (const at of completions) {
    const bucket = Math.min(seconds - 1, Math.floor((at - windowStart) / bucketMs));
    perSecond[bucket] = (perSecond[bucket] ?? 0) + 1000 / bucketMs;
  }
  return {
    rpsMedian: median(perSecond),
    rpsMean: completions.length / (windowMs / 1000),
    perSecond,
    completed: completions.length,
    allCompleted,
    errors: failed,
    latencyMs,
  };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
