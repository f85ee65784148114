/**
 * What the router knows about one model on one stage: how often its output passed the
 * stage's contract (a Beta posterior, so ten observations weigh less than a thousand),
 * and what an attempt costs and takes. Pure data, fed by the ledger or by outcome files.
 */

/** A Beta(alpha, beta) belief about a pass rate; Beta(1, 1) is "no idea". */
export interface Beta {
  alpha: number;
  beta: number;
}

export const UNIFORM_PRIOR: Beta = { alpha: 1, beta: 1 };

export function betaMean(belief: Beta): number {
  return belief.alpha / (belief.alpha + belief.beta);
}

/** A pessimistic pass rate: the posterior mean minus `z` standard deviations, floored at 0. */
export function betaLowerBound(belief: Beta, z = 1.645): number {
  const n = belief.alpha + belief.beta;
  const mean = belief.alpha / n;
  const sd = Math.sqrt((belief.alpha * belief.beta) / (n * n * (n + 1)));
  return Math.max(0, mean - z * sd);
}

/** One observed attempt: the contract verdict (or none when the stage has no contract), cost, latency. */
export interface Attempt {
  verdict: 'passed' | 'failed' | 'none';
  costUsd: number;
  latencyMs?: number | undefined;
}

/** Keeps this many recent costs for the tail: enough for a p95, bounded in memory. */
const COST_WINDOW = 512;

export class ModelStats {
  passed = 0;
  failed = 0;
  attempts = 0;
  private costSum = 0;
  private latencySum = 0;
  private latencyCount = 0;
  private readonly recentCosts: number[] = [];

  observe(attempt: Attempt): void {
    this.attempts++;
    if (attempt.verdict === 'passed') this.passed++;
    else if (attempt.verdict === 'failed') this.failed++;
    this.costSum += attempt.costUsd;
    if (this.recentCosts.length === COST_WINDOW) this.recentCosts.shift();
    this.recentCosts.push(attempt.costUsd);
    if (attempt.latencyMs !== undefined) {
      this.latencySum += attempt.latencyMs;
      this.latencyCount++;
    }
  }

  /** An attempt's verdict changed after it was observed (a check ran later): its cost and latency stand. */
  revise(from: Attempt['verdict'], to: Attempt['verdict']): void {
    if (from === to) return;
    if (from === 'passed') this.passed = Math.max(0, this.passed - 1);
    else if (from === 'failed') this.failed = Math.max(0, this.failed - 1);
    if (to === 'passed') this.passed++;
    else if (to === 'failed') this.failed++;
  }

  /** The posterior over the pass rate, starting from `prior` (the pooled belief, for a feature bucket). */
  posterior(prior: Beta = UNIFORM_PRIOR): Beta {
    return { alpha: prior.alpha + this.passed, beta: prior.beta + this.failed };
  }

  get meanCostUsd(): number | undefined {
    return this.attempts === 0 ? undefined : this.costSum / this.attempts;
  }

  /** The 95th percentile of recent attempt costs. */
  get tailCostUsd(): number | undefined {
    if (this.recentCosts.length === 0) return undefined;
    const sorted = [...this.recentCosts].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)];
  }

  get meanLatencyMs(): number | undefined {
    return this.latencyCount === 0 ? undefined : this.latencySum / this.latencyCount;
  }
}

/** What the cascade learner needs of one candidate: a pass-rate belief and an expected cost. */
export interface CandidateEstimate {
  model: string;
  belief: Beta;
  costUsd: number;
  tailCostUsd: number;
  latencyMs: number | undefined;
}

/**
 * Statistics per (stage, model), optionally refined by a feature bucket (input size,
 * tags). A bucket's pass rate is shrunk toward its model's pooled rate: `priorWeight`
 * pooled observations stand in for the bucket until it has its own.
 */
export class StatsBook {
  private readonly stats = new Map<string, ModelStats>();

  constructor(private readonly priorWeight = 10) {}

  observe(stage: string, model: string, attempt: Attempt, bucket?: string): void {
    this.entry(stage, model, undefined).observe(attempt);
    if (bucket !== undefined) this.entry(stage, model, bucket).observe(attempt);
  }

  revise(stage: string, model: string, from: Attempt['verdict'], to: Attempt['verdict'], bucket?: string): void {
    this.get(stage, model)?.revise(from, to);
    if (bucket !== undefined) this.get(stage, model, bucket)?.revise(from, to);
  }

  private entry(stage: string, model: string, bucket: string | undefined): ModelStats {
    const key = keyOf(stage, model, bucket);
    let stats = this.stats.get(key);
    if (!stats) this.stats.set(key, (stats = new ModelStats()));
    return stats;
  }

  get(stage: string, model: string, bucket?: string): ModelStats | undefined {
    return this.stats.get(keyOf(stage, model, bucket));
  }

  /**
   * The learner's view of a candidate. `fallbackCostUsd` prices a model never tried
   * (from its price and the request's size) so an unseen model is neither free nor barred.
   */
  estimate(stage: string, model: string, fallbackCostUsd: number, bucket?: string): CandidateEstimate {
    const pooled = this.get(stage, model);
    const pooledBelief = pooled?.posterior() ?? UNIFORM_PRIOR;
    const local = bucket === undefined ? undefined : this.get(stage, model, bucket);
    let belief = pooledBelief;
    if (local) {
      const mean = betaMean(pooledBelief);
      belief = local.posterior({ alpha: 1 + this.priorWeight * mean, beta: 1 + this.priorWeight * (1 - mean) });
    }
    const source = local && local.attempts >= 3 ? local : pooled;
    const costUsd = source?.meanCostUsd ?? fallbackCostUsd;
    return { model, belief, costUsd, tailCostUsd: source?.tailCostUsd ?? costUsd, latencyMs: source?.meanLatencyMs };
  }
}

function keyOf(stage: string, model: string, bucket: string | undefined): string {
  return JSON.stringify([stage, model, bucket ?? null]);
}

/** Input-size buckets on a log scale: requests of similar size share statistics. */
export function inputSizeBucket(promptTokens: number): string {
  if (promptTokens < 256) return 'in<256';
  if (promptTokens < 2048) return 'in<2k';
  if (promptTokens < 16384) return 'in<16k';
  return 'in>=16k';
}
