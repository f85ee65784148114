import { chooseCascade, independentEstimator, type Choice } from './cascade.js';
import { betaMean, type Beta, type CandidateEstimate } from './stats.js';

/** A source of uniform numbers in [0, 1); seeded in tests. */
export type Random = () => number;

/**
 * Thompson sampling over cascades: draw each model's pass rate from its posterior and
 * choose the best order for the drawn rates. Models with few observations get drawn
 * high now and then, so they get tried; well-known ones settle.
 */
export function sampleCascade(estimates: readonly CandidateEstimate[], minPassRate: number, random: Random): Choice {
  const drawn = new Map(estimates.map((estimate) => [estimate.model, sampleBeta(estimate.belief, random)]));
  return chooseCascade(estimates.map((estimate) => estimate.model), independentEstimator(estimates, (_, model) => drawn.get(model)!), minPassRate);
}

export interface ExplorationAllowance {
  /** Spend that may go to exploring, in USD (share of the run budget minus what exploring already spent); Infinity without a budget. */
  remainingUsd: number;
}

export interface RoutingDecision {
  choice: Choice;
  /** True when the order differs from the exploit order (a deliberate, budgeted experiment). */
  exploring: boolean;
  /** Expected extra cost of exploring over exploiting, charged to the allowance. */
  explorationCostUsd: number;
}

/**
 * Picks the order for one request. Exploit the posterior means; explore with Thompson
 * sampling only while the expected extra cost (at the tail cost, to be safe) fits the
 * exploration allowance. A run's budget is never spent on exploring beyond its share.
 */
export function decideCascade(estimates: readonly CandidateEstimate[], minPassRate: number, allowance: ExplorationAllowance, random: Random): RoutingDecision {
  const models = estimates.map((estimate) => estimate.model);
  const exploit = chooseCascade(models, independentEstimator(estimates), minPassRate);
  if (allowance.remainingUsd <= 0) return { choice: exploit, exploring: false, explorationCostUsd: 0 };
  const sampled = sampleCascade(estimates, minPassRate, random);
  if (sameOrder(sampled.order, exploit.order)) return { choice: exploit, exploring: false, explorationCostUsd: 0 };
  const tailed = independentEstimator(estimates.map((estimate) => ({ ...estimate, costUsd: estimate.tailCostUsd })));
  const extra = Math.max(0, tailed.estimate(sampled.order).costUsd - exploit.costUsd);
  if (extra > allowance.remainingUsd) return { choice: exploit, exploring: false, explorationCostUsd: 0 };
  const honest = independentEstimator(estimates).estimate(sampled.order);
  return { choice: { ...sampled, ...honest }, exploring: true, explorationCostUsd: extra };
}

function sameOrder(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((model, index) => model === b[index]);
}

/** A Beta draw as the ratio of two Gamma draws (Marsaglia and Tsang). */
export function sampleBeta(belief: Beta, random: Random): number {
  const x = sampleGamma(belief.alpha, random);
  const y = sampleGamma(belief.beta, random);
  return x + y === 0 ? betaMean(belief) : x / (x + y);
}

function sampleGamma(shape: number, random: Random): number {
  if (shape < 1) return sampleGamma(shape + 1, random) * Math.pow(random() || Number.MIN_VALUE, 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = random();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u || Number.MIN_VALUE) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

function normal(random: Random): number {
  const u = random() || Number.MIN_VALUE;
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** A small seeded generator (mulberry32), for reproducible exploration and noise. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
