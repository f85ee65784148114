import { chooseCascade, type Cascade, type CascadeEstimator } from './cascade.js';
import { commonModels, type PricedRow } from './outcomes.js';
import { aiq, costToReach, type Point } from './frontier.js';
import { sizeRouterFrontier } from './size-router.js';

/** Cost and quality of a policy on a set of rows: means per prompt. */
export interface Measured {
  costUsd: number;
  quality: number;
}

/**
 * Joint outcomes say exactly what a cascade would have done on each prompt: attempts
 * stop at the first passing verdict. Unlike the independent estimate, this keeps the
 * correlation between models (hard prompts defeat all of them).
 */
export function empiricalEstimator(rows: readonly PricedRow[]): CascadeEstimator {
  return {
    estimate(order) {
      let cost = 0;
      let passes = 0;
      for (const row of rows) {
        const result = replay(row, order);
        cost += result.costUsd;
        if (result.verdict) passes++;
      }
      return { costUsd: cost / rows.length, passRate: passes / rows.length };
    },
  };
}

/** One prompt through a cascade: what it paid, what it delivered (first passing verdict, else the last attempt). */
function replay(row: PricedRow, order: Cascade): { costUsd: number; quality: number; verdict: boolean } {
  let costUsd = 0;
  for (let index = 0; index < order.length; index++) {
    const outcome = row.outcomes.get(order[index]!)!;
    costUsd += outcome.costUsd;
    if (outcome.verdict || index === order.length - 1) return { costUsd, quality: outcome.quality, verdict: outcome.verdict };
  }
  return { costUsd, quality: 0, verdict: false };
}

export function measureCascade(rows: readonly PricedRow[], order: Cascade): Measured {
  let cost = 0;
  let quality = 0;
  for (const row of rows) {
    const result = replay(row, order);
    cost += result.costUsd;
    quality += result.quality;
  }
  return { costUsd: cost / rows.length, quality: quality / rows.length };
}

/** The oracle: per prompt, the cheapest model whose output truly passes (the cheapest one when none does). */
export function measureOracle(rows: readonly PricedRow[], models: readonly string[]): Measured {
  let cost = 0;
  let quality = 0;
  for (const row of rows) {
    const options = models.map((model) => row.outcomes.get(model)!).sort((a, b) => a.costUsd - b.costUsd);
    const pick = options.filter((option) => option.passed).sort((a, b) => b.quality - a.quality || a.costUsd - b.costUsd)[0] ?? options[0]!;
    cost += pick.costUsd;
    quality += pick.quality;
  }
  return { costUsd: cost / rows.length, quality: quality / rows.length };
}

/** What the learner picks on the training rows for a target relative to the best single model's pass rate. */
export function learnCascade(train: readonly PricedRow[], models: readonly string[], relativeTarget: number) {
  const estimator = empiricalEstimator(train);
  const bestSingle = Math.max(...models.map((model) => estimator.estimate([model]).passRate));
  return chooseCascade(models, estimator, relativeTarget * bestSingle);
}

export interface EvaluationOptions {
  /** Share of the best single model's quality to keep (0.95: 95% of GPT-4's). */
  qualityTarget: number;
}

export interface Evaluation {
  models: string[];
  trainRows: number;
  testRows: number;
  qualityTarget: number;
  singles: (Measured & { model: string })[];
  /** The best single model, and the cheapest single model keeping the target share of its quality. */
  bestSingle: string;
  baseline: Measured & { model: string; targetQuality: number };
  cascade: Measured & { order: string[]; trainCostUsd: number; trainPassRate: number; meetsTarget: boolean; savingVsBaseline: number; reachesTarget: boolean };
  /** Routing without a contract and without features: a random mix of single models (the convex hull of the singles). */
  mix: { costUsd: number | null; savingVsBaseline: number | null };
  /** One model per prompt-size quartile, chosen before calling (no contract): the setting RouteLLM's routers are in. Null without token counts. */
  sizeRouter: { costUsd: number | null; savingVsBaseline: number | null; aiq: number } | null;
  /** The cheapest cost at which the cascade router's test frontier reaches the target (as RouteLLM reports). */
  frontier: { costUsd: number | null; savingVsBaseline: number | null };
  oracle: Measured;
  aiq: { singles: number; cascade: number; oracle: number };
  /** Test points of the cascade learned at each target in the sweep, for the frontier. */
  sweep: (Measured & { target: number; order: string[] })[];
}

export function evaluateRouting(train: readonly PricedRow[], test: readonly PricedRow[], options: EvaluationOptions): Evaluation {
  const models = commonModels([...train, ...test]);
  if (models.length === 0) throw new Error('no model has an outcome in every row of both files');
  const singles = models.map((model) => ({ model, ...measureCascade(test, [model]) }));
  const best = [...singles].sort((a, b) => b.quality - a.quality || a.costUsd - b.costUsd)[0]!;
  const targetQuality = options.qualityTarget * best.quality;
  const baseline = [...singles].filter((single) => single.quality >= targetQuality - 1e-12).sort((a, b) => a.costUsd - b.costUsd)[0]!;
  const choice = learnCascade(train, models, options.qualityTarget);
  const measured = measureCascade(test, choice.order);
  const saving = (cost: number | null) => (cost === null || baseline.costUsd === 0 ? null : 1 - cost / baseline.costUsd);
  const sweep: Evaluation['sweep'] = [];
  for (let step = 0; step <= 100; step++) {
    const target = step / 100;
    const order = [...learnCascade(train, models, target).order];
    sweep.push({ target, order, ...measureCascade(test, order) });
  }
  const singlePoints: Point[] = singles.map((single) => ({ cost: single.costUsd, quality: single.quality }));
  const sweepPoints: Point[] = sweep.map((point) => ({ cost: point.costUsd, quality: point.quality }));
  const oracle = measureOracle(test, models);
  const range = { min: Math.min(...singlePoints.map((point) => point.cost)), max: Math.max(...singlePoints.map((point) => point.cost)) };
  const mixCost = costToReach(singlePoints, targetQuality);
  const frontierCost = costToReach(sweepPoints, targetQuality);
  const sizePoints = sizeRouterFrontier(train, test, models);
  const sizeCost = sizePoints.length === 0 ? null : costToReach([...singlePoints, ...sizePoints], targetQuality);
  return {
    models,
    trainRows: train.length,
    testRows: test.length,
    qualityTarget: options.qualityTarget,
    singles,
    bestSingle: best.model,
    baseline: { ...baseline, targetQuality },
    cascade: {
      order: [...choice.order], ...measured, trainCostUsd: choice.costUsd, trainPassRate: choice.passRate, meetsTarget: choice.meetsTarget,
      savingVsBaseline: saving(measured.costUsd)!, reachesTarget: measured.quality >= targetQuality - 1e-12,
    },
    mix: { costUsd: mixCost, savingVsBaseline: saving(mixCost) },
    frontier: { costUsd: frontierCost, savingVsBaseline: saving(frontierCost) },
    sizeRouter: sizePoints.length === 0 ? null : { costUsd: sizeCost, savingVsBaseline: saving(sizeCost), aiq: aiq([...singlePoints, ...sizePoints], range) },
    oracle,
    aiq: {
      singles: aiq(singlePoints, range),
      cascade: aiq([...singlePoints, ...sweepPoints], range),
      oracle: aiq([...singlePoints, { cost: oracle.costUsd, quality: oracle.quality }], range),
    },
    sweep,
  };
}
