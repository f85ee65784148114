import type { HistoryRun, TaskFeatures } from './forecast-history.js';
import { ascending, predictiveQuantile, priorSpread } from './forecast-quantiles.js';
import { imputationMeans, withinCellSlopes } from './forecast-regression.js';
import { analyseSignal, categoryOf, cellOf, numericFeature, numericScale, type FeatureSignal } from './forecast-signal.js';

export type Target = 'cost' | 'tokens' | 'calls';
export const TARGETS: readonly Target[] = ['cost', 'tokens', 'calls'];

/** Added before taking logs so a run that spent nothing has a finite log. */
const LOG_OFFSET: Record<Target, number> = { cost: 1e-6, tokens: 1, calls: 1 };

export function targetValue(run: HistoryRun, target: Target): number {
  if (target === 'cost') return run.outcome.costUsd;
  if (target === 'tokens') return run.outcome.inputTokens + run.outcome.outputTokens;
  return run.outcome.calls;
}

const toLog = (target: Target, value: number) => Math.log(Math.max(0, value) + LOG_OFFSET[target]);
const fromLog = (target: Target, log: number) => Math.max(0, Math.exp(log) - LOG_OFFSET[target]);

export type Level = 'global' | 'group' | 'group+model' | 'group+model+features';

export interface ForecastOptions {
  /** Runs a group and model need before their own spread is trusted. */
  minRuns?: number;
  /** How many runs' worth of weight the parent's quantiles keep in a child's (shrinkage). */
  shrinkage?: number;
  /** Interval multiplier (log scale) when falling back to a parent's spread. */
  widening?: number;
  /**
   * A model's USD per input and output token, when known. Cost is then learned per unit
   * of price: what a pipeline's runs on one model say carries over to another model at
   * that model's prices, which matters most for a model the pipeline has barely used.
   */
  modelPrice?: (model: string) => { input: number; output: number } | undefined;
}

/** The regressor name of the price offset (a slope fixed at 1 for cost, 0 otherwise). */
export const MODEL_PRICE_FEATURE = 'modelPrice';

interface Node {
  level: Level;
  key: string;
  runs: number;
  /** Per target: log value minus the regressors' contribution, ascending. */
  base: Record<Target, number[]>;
  /** Per regressor: mean of its log-scale value here, used when a task does not give it. */
  regressorMeans: number[];
  slopes: Record<Target, number[]>;
}

export interface LevelUsed {
  level: Level;
  key: string;
  runs: number;
}

/** Quantiles of one target as the forecaster computed them, with how they were obtained. */
export interface Prediction {
  status: 'ok' | 'thin' | 'none';
  /** One per requested quantile level; null when there is no history at all. */
  values: number[] | null;
  levels: LevelUsed[];
  /** The level whose spread the interval rests on. */
  basis: LevelUsed | null;
}

export interface Forecaster {
  readonly runs: number;
  readonly signals: FeatureSignal[];
  /** The numeric features forecasts shift for, with their log-log slopes in a group (pooled for an unknown group). */
  regressors(group: string | null): { feature: string; slopes: Record<Target, number> }[];
  readonly categorical: string[];
  readonly options: Required<Omit<ForecastOptions, 'modelPrice'>>;
  /** Whether the forecaster knows this model's price (and so prices cost for it). */
  isPriced(model: string | null): boolean;
  predict(task: TaskFeatures, target: Target, quantiles: readonly number[]): Prediction;
}

const DEFAULTS: Required<Omit<ForecastOptions, 'modelPrice'>> = { minRuns: 10, shrinkage: 5, widening: 1.25 };

/**
 * Learns quantiles of cost, tokens and calls from finished runs. On the log scale: the
 * empirical predictive quantiles of each level of the hierarchy global → group → group
 * and model (→ the categorical features that carry signal) are shrunk toward their
 * parent's by how many runs they hold, after shifting every run to the task's input size
 * and numeric features (slopes fitted within group and model, per group, shrunk to the
 * pooled ones) and, given prices, to the task's model's price. No distribution shape is
 * assumed beyond an exponential log tail past the largest run seen.
 */
export function fitForecaster(history: readonly HistoryRun[], options: ForecastOptions = {}): Forecaster {
  const settings = { ...DEFAULTS, ...options };
  const analysis = analyseSignal(history);
  const regressorNames = analysis.numeric;
  const cells = history.map(cellOf);
  const imputed = regressorNames.map((feature) => {
    const raw = history.map((run) => {
      const value = numericFeature(run.task, feature);
      return value === undefined ? undefined : numericScale(value);
    });
    const means = imputationMeans(raw, cells);
    return raw.map((value, index) => value ?? means.byCell.get(cells[index]!) ?? means.overall);
  });
  const rows = history.map((_, index) => imputed.map((column) => column[index]!));
  const logs = Object.fromEntries(TARGETS.map((target) => [target, history.map((run) => toLog(target, targetValue(run, target)))])) as Record<Target, number[]>;
  const slopes = Object.fromEntries(TARGETS.map((target) => [target, withinCellSlopes(rows, logs[target], cells)])) as Record<Target, number[]>;
  const groupSlopes = slopesByGroup(history, rows, logs, cells, slopes);
  const slopesFor = (group: string | null) => groupSlopes.get(group ?? '') ?? slopes;
  const priceOffset = priceOffsetFor(history, options.modelPrice);
  const offsets = history.map((run) => priceOffset(run.task.model));
  const pricing = offsets.some((offset) => offset !== undefined);
  const names = pricing ? [...regressorNames, MODEL_PRICE_FEATURE] : regressorNames;
  if (pricing) {
    const known = offsets.filter((offset): offset is number => offset !== undefined);
    const typical = known.reduce((sum, offset) => sum + offset, 0) / known.length;
    rows.forEach((row, index) => row.push(offsets[index] ?? typical));
    for (const vector of [slopes, ...groupSlopes.values()]) {
      vector.cost.push(1);
      vector.tokens.push(0);
      vector.calls.push(0);
    }
  }

  const members = new Map<string, { level: Level; indexes: number[] }>();
  const join = (level: Level, key: string, index: number) => {
    const entry = members.get(key) ?? { level, indexes: [] };
    entry.indexes.push(index);
    members.set(key, entry);
  };
  history.forEach((run, index) => {
    for (const [level, key] of chainKeys(run.task, analysis.categorical)) join(level, key, index);
  });
  const nodes = new Map<string, Node>();
  for (const [key, { level, indexes }] of members) {
    // Below the global level every run shares the group, and so its slopes.
    const nodeSlopes = level === 'global' ? slopes : slopesFor(history[indexes[0]!]!.task.group);
    const base = Object.fromEntries(TARGETS.map((target) => [target, ascending(indexes.map((index) =>
      logs[target][index]! - dotProduct(nodeSlopes[target], rows[index]!)))])) as Record<Target, number[]>;
    const regressorMeans = names.map((_, column) => indexes.reduce((sum, index) => sum + rows[index]![column]!, 0) / indexes.length);
    nodes.set(key, { level, key: displayKey(key), runs: indexes.length, base, regressorMeans, slopes: nodeSlopes });
  }

  return {
    runs: history.length,
    signals: analysis.signals,
    regressors: (group) => names.map((feature, column) => ({
      feature, slopes: Object.fromEntries(TARGETS.map((target) => [target, slopesFor(group)[target][column]!])) as Record<Target, number>,
    })),
    categorical: analysis.categorical,
    options: settings,
    isPriced: (model) => pricing && priceOffset(model) !== undefined,
    predict(task, target, quantiles) {
      const chain = chainKeys(task, analysis.categorical).map(([level, key]) => ({ level, key, node: nodes.get(key) }));
      const levels = chain.map(({ level, key, node }) => ({ level, key: displayKey(key), runs: node?.runs ?? 0 }));
      if (!chain[0]!.node) return { status: 'none', values: null, levels, basis: null };
      const taskRow = regressorNames.map((feature) => {
        const value = numericFeature(task, feature);
        return value === undefined ? undefined : numericScale(value);
      });
      if (pricing) taskRow.push(priceOffset(task.model));
      const shrunk = (depth: number, q: number) => {
        let value: number | undefined;
        for (const { node } of chain.slice(0, depth + 1)) {
          if (!node) continue;
          const shift = dotProduct(node.slopes[target], taskRow.map((x, column) => x ?? node.regressorMeans[column]!));
          const own = predictiveQuantile(node.base[target], q) + shift;
          value = value === undefined ? own : (node.runs * own + settings.shrinkage * value) / (node.runs + settings.shrinkage);
        }
        return value!;
      };
      const deepest = chain.length - 1;
      const cellDepth = Math.min(2, deepest);
      const cellRuns = chain[cellDepth]!.node?.runs ?? 0;
      let basisDepth = cellDepth;
      while (basisDepth > 0 && (chain[basisDepth]!.node?.runs ?? 0) < settings.minRuns) basisDepth--;
      const globalThin = chain[0]!.node.runs < settings.minRuns;
      const thin = cellRuns < settings.minRuns;
      const median = shrunk(deepest, 0.5);
      const values = quantiles.map((q) => {
        let log = shrunk(deepest, q);
        if (thin) {
          // Too few runs of this group and model: take the spread of the level that has
          // enough (or the prior spread when nothing does) and widen it, around our median.
          const fallback = globalThin ? priorSpread(q) : shrunk(basisDepth, q) - shrunk(basisDepth, 0.5);
          const own = log - median;
          const deviation = Math.abs(fallback) > Math.abs(own) ? fallback : own;
          log = median + deviation * settings.widening;
        }
        return fromLog(target, log);
      });
      return {
        status: thin ? 'thin' : 'ok',
        values: monotone(values, quantiles),
        levels,
        basis: levels[basisDepth]!,
      };
    },
  };
}

/** The hierarchy a task belongs to, most general first. */
function chainKeys(task: TaskFeatures, categorical: readonly string[]): [Level, string][] {
  const group = task.group ?? '';
  const model = task.model ?? '';
  const chain: [Level, string][] = [['global', 'global'], ['group', `g\u0000${group}`], ['group+model', `gm\u0000${group}\u0000${model}`]];
  if (categorical.length > 0) {
    const values = categorical.map((feature) => `${feature}=${categoryOf(task.features[feature]) ?? '?'}`);
    chain.push(['group+model+features', `gmf\u0000${group}\u0000${model}\u0000${values.join('\u0000')}`]);
  }
  return chain;
}

function displayKey(key: string): string {
  const parts = key.split('\u0000');
  return parts[0] === 'global' ? 'all runs' : parts.slice(1).map((part) => part || '(none)').join(' / ');
}

function dotProduct(slopes: readonly number[], row: readonly number[]): number {
  let sum = 0;
  for (let index = 0; index < slopes.length; index++) sum += slopes[index]! * row[index]!;
  return sum;
}

/** Quantiles never decrease with their level, whatever rounding did. */
function monotone(values: number[], quantiles: readonly number[]): number[] {
  const order = quantiles.map((q, index) => ({ q, index })).sort((a, b) => a.q - b.q);
  let highest = 0;
  for (const { index } of order) {
    highest = Math.max(highest, Number.isFinite(values[index]!) ? values[index]! : highest);
    values[index] = highest;
  }
  return values;
}

/**
 * log of a model's blended USD per token, weighting input and output as the history's
 * runs do (agents re-read their context, so input usually dominates).
 */
function priceOffsetFor(history: readonly HistoryRun[], modelPrice: ForecastOptions['modelPrice']): (model: string | null) => number | undefined {
  if (!modelPrice) return () => undefined;
  let input = 0;
  let total = 0;
  for (const run of history) {
    input += run.outcome.inputTokens;
    total += run.outcome.inputTokens + run.outcome.outputTokens;
  }
  const inputShare = total > 0 ? input / total : 0.75;
  const cache = new Map<string, number | undefined>();
  return (model) => {
    if (model === null) return undefined;
    if (!cache.has(model)) {
      const price = modelPrice(model);
      const blended = price && inputShare * price.input + (1 - inputShare) * price.output;
      cache.set(model, blended && blended > 0 && Number.isFinite(blended) ? Math.log(blended) : undefined);
    }
    return cache.get(model);
  };
}

/** Runs' worth of weight the pooled slopes keep in a group's own (shrinkage). */
const SLOPE_SHRINKAGE = 30;

/**
 * Each group's own slopes (input size may drive cost hard in one pipeline and barely in
 * another), shrunk toward the pooled ones by how many runs the group has.
 */
function slopesByGroup(
  history: readonly HistoryRun[], rows: readonly number[][], logs: Record<Target, number[]>, cells: readonly string[], pooled: Record<Target, number[]>,
): Map<string, Record<Target, number[]>> {
  const indexesByGroup = new Map<string, number[]>();
  history.forEach((run, index) => {
    const list = indexesByGroup.get(run.task.group ?? '') ?? [];
    list.push(index);
    indexesByGroup.set(run.task.group ?? '', list);
  });
  const result = new Map<string, Record<Target, number[]>>();
  if ((rows[0]?.length ?? 0) === 0) return result;
  for (const [group, indexes] of indexesByGroup) {
    const n = indexes.length;
    const slopes = Object.fromEntries(TARGETS.map((target) => {
      const own = withinCellSlopes(indexes.map((index) => rows[index]!), indexes.map((index) => logs[target][index]!), indexes.map((index) => cells[index]!));
      return [target, own.map((slope, column) => (n * slope + SLOPE_SHRINKAGE * pooled[target][column]!) / (n + SLOPE_SHRINKAGE))];
    })) as Record<Target, number[]>;
    result.set(group, slopes);
  }
  return result;
}
