import type { HistoryRun } from '../src/core/forecast-history.js';
import { SeededRandom } from '../src/sim/seeded-random.js';

/** Draws from known heavy-tailed distributions, seeded so a failing test fails the same way again. */
export class Draws {
  private readonly random: SeededRandom;
  constructor(seed: number) {
    this.random = new SeededRandom(seed);
  }
  uniform(): number {
    return Math.max(Number.EPSILON, this.random.next());
  }
  /** Standard normal by Box-Muller: only to build lognormal test data, never to forecast. */
  normal(): number {
    return Math.sqrt(-2 * Math.log(this.uniform())) * Math.cos(2 * Math.PI * this.random.next());
  }
  lognormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }
  pareto(minimum: number, alpha: number): number {
    return minimum / this.uniform() ** (1 / alpha);
  }
  pick<T>(items: readonly T[]): T {
    return this.random.pick(items);
  }
}

const MODEL_PRICE = { small: 1, large: 12 } as const;

/**
 * Three pipelines that differ in level and tail shape, two models 12x apart in price, and
 * a task input size that drives cost (slope 0.8 on the log scale):
 *  - triage: lognormal, narrow
 *  - research: a lognormal body with a 15% Pareto tail (alpha 1.5)
 *  - coding: Pareto (alpha 1.3), the heaviest
 * Also a "difficulty" feature that matters for coding, and a "ticket" feature that is noise.
 */
export function syntheticHistory(count: number, seed: number, startAt = Date.UTC(2026, 0, 1)): HistoryRun[] {
  const draws = new Draws(seed);
  const runs: HistoryRun[] = [];
  for (let index = 0; index < count; index++) {
    const group = draws.pick(['triage', 'research', 'research', 'coding'] as const);
    const model = draws.pick(['small', 'small', 'large'] as const);
    const inputTokens = Math.round(draws.lognormal(2000, 0.8));
    const difficulty = draws.pick(['easy', 'hard'] as const);
    const sizeEffect = (inputTokens / 2000) ** 0.8;
    let base: number;
    if (group === 'triage') base = draws.lognormal(0.002, 0.35);
    else if (group === 'research') base = draws.uniform() < 0.85 ? draws.lognormal(0.02, 0.5) : draws.pareto(0.04, 1.5);
    else base = draws.pareto(0.01, 1.3) * (difficulty === 'hard' ? 3 : 1);
    const costUsd = base * sizeEffect * MODEL_PRICE[model];
    const tokens = Math.round((costUsd / MODEL_PRICE[model]) * 2_000_000 * draws.lognormal(1, 0.2));
    const calls = Math.max(1, Math.round(tokens / draws.lognormal(3000, 0.3)));
    runs.push({
      id: `run-${seed}-${index}`,
      task: { group, model, inputTokens, features: { difficulty, ticket: `T-${draws.pick(['a', 'b', 'c', 'd'])}` } },
      outcome: { costUsd, inputTokens: Math.round(tokens * 0.8), outputTokens: tokens - Math.round(tokens * 0.8), calls },
      finishedAt: startAt + index * 60_000,
      status: 'completed',
      source: 'import',
    });
  }
  return runs;
}
