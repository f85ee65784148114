import type { PricedRow } from './outcomes.js';
import type { Point } from './frontier.js';

/**
 * The router that cannot see a verdict: it picks one model per prompt before calling,
 * from a feature (here the prompt's size quartile on the training rows). This is the
 * setting of RouteLLM's routers; the cascade, which sees the contract's verdict, is not.
 * Sweeping the price of quality (lambda) traces its cost-quality frontier on the test rows.
 */
export function sizeRouterFrontier(train: readonly PricedRow[], test: readonly PricedRow[], models: readonly string[]): Point[] {
  const sizes = train.map((row) => row.promptTokens).filter((size): size is number => size !== undefined).sort((a, b) => a - b);
  if (sizes.length < train.length || test.some((row) => row.promptTokens === undefined)) return [];
  const cuts = [0.25, 0.5, 0.75].map((share) => sizes[Math.floor(share * (sizes.length - 1))]!);
  const bucketOf = (row: PricedRow) => cuts.filter((cut) => row.promptTokens! > cut).length;
  // Per bucket and model: mean cost and the share of verdicts passed (what the router can observe).
  const learned = [0, 1, 2, 3].map((bucket) => {
    const rows = train.filter((row) => bucketOf(row) === bucket);
    return models.map((model) => ({
      model,
      cost: mean(rows, (row) => row.outcomes.get(model)!.costUsd),
      quality: mean(rows, (row) => (row.outcomes.get(model)!.verdict ? 1 : 0)),
    }));
  });
  const points: Point[] = [];
  for (let step = -2; step <= 8; step += 0.05) {
    const lambda = 10 ** step; // quality points worth paying per dollar
    const pick = learned.map((options) => [...options].sort((a, b) => (b.quality - a.cost / lambda) - (a.quality - b.cost / lambda))[0]?.model ?? models[0]!);
    let cost = 0;
    let quality = 0;
    for (const row of test) {
      const outcome = row.outcomes.get(pick[bucketOf(row)]!)!;
      cost += outcome.costUsd;
      quality += outcome.quality;
    }
    points.push({ cost: cost / test.length, quality: quality / test.length });
  }
  return points;
}

function mean(rows: readonly PricedRow[], value: (row: PricedRow) => number): number {
  return rows.length === 0 ? 0 : rows.reduce((sum, row) => sum + value(row), 0) / rows.length;
}
