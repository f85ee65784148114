import { betaMean, type Beta, type CandidateEstimate } from './stats.js';

/**
 * The cascade learner. A cascade is an order of models: try the first; if its output fails
 * the contract (or the provider fails), try the next. Its expected cost counts every
 * attempt made; its pass rate is the chance that some attempt passes.
 */
export type Cascade = readonly string[];

export interface CascadeEstimate {
  costUsd: number;
  passRate: number;
}

/** Prices a cascade: from independent per-model beliefs, or from joint outcomes (offline). */
export interface CascadeEstimator {
  estimate(order: Cascade): CascadeEstimate;
}

export interface Choice extends CascadeEstimate {
  order: Cascade;
  /** Whether the order reaches the pass-rate target; when none does, the best-passing one is chosen. */
  meetsTarget: boolean;
}

/** Beyond this many candidates, orders are not enumerated (6 models: 1,956 orders). */
export const MAX_ENUMERATED_CANDIDATES = 6;

/**
 * The order (of any non-empty subset of the candidates) with the lowest expected cost
 * whose pass rate reaches `minPassRate`. When none reaches it, the order with the highest
 * pass rate, the cheaper on ties. Small candidate lists are searched exhaustively; larger
 * ones fall back to the classic cost / pass-rate ordering of all candidates.
 */
export function chooseCascade(candidates: readonly string[], estimator: CascadeEstimator, minPassRate = 0): Choice {
  if (candidates.length === 0) throw new Error('a routing policy needs at least one candidate model');
  const orders = candidates.length <= MAX_ENUMERATED_CANDIDATES ? allOrders(candidates) : [candidates];
  let best: Choice | undefined;
  let fallback: Choice | undefined;
  for (const order of orders) {
    const estimate = estimator.estimate(order);
    const choice = { order, ...estimate, meetsTarget: estimate.passRate >= minPassRate - 1e-12 };
    if (choice.meetsTarget && (!best || cheaper(choice, best))) best = choice;
    if (!fallback || choice.passRate > fallback.passRate + 1e-12 || (Math.abs(choice.passRate - fallback.passRate) <= 1e-12 && cheaper(choice, fallback))) fallback = choice;
  }
  return best ?? fallback!;
}

/** Cheaper first; on equal cost, the shorter order (fewer attempts, less latency). */
function cheaper(a: Choice, b: Choice): boolean {
  if (Math.abs(a.costUsd - b.costUsd) > 1e-15) return a.costUsd < b.costUsd;
  return a.order.length < b.order.length;
}

/** Every ordering of every non-empty subset. */
export function allOrders(items: readonly string[]): string[][] {
  const result: string[][] = [];
  const extend = (prefix: string[], rest: readonly string[]) => {
    for (let index = 0; index < rest.length; index++) {
      const order = [...prefix, rest[index]!];
      result.push(order);
      extend(order, [...rest.slice(0, index), ...rest.slice(index + 1)]);
    }
  };
  extend([], items);
  return result;
}

/**
 * Estimates from per-model beliefs, assuming attempts fail independently: attempt i is
 * made when all before it failed. Optimistic when failures are correlated (a hard
 * prompt defeats every model); the offline evaluator measures that on joint outcomes.
 */
export function independentEstimator(estimates: readonly CandidateEstimate[], passRateOf: (belief: Beta, model: string) => number = betaMean): CascadeEstimator {
  const byModel = new Map(estimates.map((estimate) => [estimate.model, estimate]));
  return {
    estimate(order) {
      let reach = 1;
      let costUsd = 0;
      for (const model of order) {
        const candidate = byModel.get(model);
        if (!candidate) throw new Error(`no estimate for model ${model}`);
        costUsd += reach * candidate.costUsd;
        reach *= 1 - passRateOf(candidate.belief, model);
      }
      return { costUsd, passRate: 1 - reach };
    },
  };
}
