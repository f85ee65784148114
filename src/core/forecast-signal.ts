import type { FeatureValue, HistoryRun, TaskFeatures } from './forecast-history.js';
import { mean } from './forecast-quantiles.js';

/** How much of a run's log cost one feature explains, and whether the forecaster uses it. */
export interface FeatureSignal {
  feature: string;
  kind: 'group' | 'model' | 'numeric' | 'categorical';
  /** Runs that carry the feature. */
  runs: number;
  /**
   * Share of the variance of log cost it explains: for group, of all of it; for model,
   * of what is left within groups; for the rest, of what is left within group and model.
   * Adjusted for the number of categories, so noise reads as about 0.
   */
  strength: number;
  used: boolean;
}

export interface SignalAnalysis {
  /** Numeric features used as log-linear regressors ("inputTokens" is the task's input size). */
  numeric: string[];
  /** Categorical features that split a group and model's history further. */
  categorical: string[];
  signals: FeatureSignal[];
}

const MIN_RUNS_PER_CATEGORY = 5;
const MIN_NUMERIC_STRENGTH = 0.02;
const MIN_CATEGORICAL_STRENGTH = 0.03;
const MAX_CATEGORICAL = 2;

export const INPUT_TOKENS_FEATURE = 'inputTokens';

export function logCost(run: HistoryRun): number {
  return Math.log(run.outcome.costUsd + 1e-6);
}

export const cellOf = (run: HistoryRun) => `${run.task.group ?? ''}\u0000${run.task.model ?? ''}`;

/** log1p that keeps the sign, so a numeric feature's scale matters multiplicatively. */
export function numericScale(value: number): number {
  return value >= 0 ? Math.log1p(value) : -Math.log1p(-value);
}

/** The numeric value of a run's feature, or undefined ("inputTokens" is the task's input size). */
export function numericFeature(task: TaskFeatures, feature: string): number | undefined {
  if (feature === INPUT_TOKENS_FEATURE) return task.inputTokens ?? undefined;
  const value = task.features[feature];
  return typeof value === 'number' ? value : undefined;
}

export function categoryOf(value: FeatureValue | undefined): string | undefined {
  return value === undefined || typeof value === 'number' ? undefined : String(value);
}

/**
 * Which features carry signal about cost. Measured on the training history only, within
 * group and model, since a feature that merely tracks the pipeline adds nothing.
 */
export function analyseSignal(runs: readonly HistoryRun[]): SignalAnalysis {
  const logs = runs.map(logCost);
  const signals: FeatureSignal[] = [];
  const groupStrength = explainedShare(logs, runs.map((run) => run.task.group ?? ''));
  signals.push({ feature: 'group', kind: 'group', runs: runs.length, strength: groupStrength, used: true });
  const withinGroup = residuals(logs, runs.map((run) => run.task.group ?? ''));
  signals.push({
    feature: 'model', kind: 'model', runs: runs.length, used: true,
    strength: explainedShare(withinGroup, runs.map((run) => run.task.model ?? '')),
  });
  const cells = runs.map(cellOf);
  const withinCell = residuals(logs, cells);

  const numericNames = new Set<string>([INPUT_TOKENS_FEATURE]);
  const categoricalNames = new Set<string>();
  for (const run of runs) {
    for (const [name, value] of Object.entries(run.task.features)) {
      (typeof value === 'number' ? numericNames : categoricalNames).add(name);
    }
  }
  const numeric: FeatureSignal[] = [];
  for (const feature of numericNames) {
    const xs: number[] = [];
    const ys: number[] = [];
    const xCells: string[] = [];
    runs.forEach((run, index) => {
      const value = numericFeature(run.task, feature);
      if (value === undefined) return;
      xs.push(numericScale(value));
      ys.push(withinCell[index]!);
      xCells.push(cells[index]!);
    });
    const strength = xs.length < 10 ? 0 : correlation(residuals(xs, xCells), ys) ** 2;
    numeric.push({
      feature, kind: 'numeric', runs: xs.length, strength,
      used: xs.length >= Math.max(10, runs.length * 0.3) && strength >= MIN_NUMERIC_STRENGTH,
    });
  }
  const categorical: FeatureSignal[] = [];
  for (const feature of categoricalNames) {
    const ys: number[] = [];
    const labels: string[] = [];
    runs.forEach((run, index) => {
      const category = categoryOf(run.task.features[feature]);
      if (category === undefined) return;
      ys.push(withinCell[index]!);
      // Within each group and model: a feature may matter for one pipeline and not another.
      labels.push(`${cells[index]!}\u0000${category}`);
    });
    const pooled = poolRare(labels);
    const strength = explainedShare(ys, pooled);
    categorical.push({ feature, kind: 'categorical', runs: ys.length, strength, used: false });
  }
  categorical
    .filter((signal) => signal.strength >= MIN_CATEGORICAL_STRENGTH && signal.runs >= runs.length * 0.3)
    .sort((a, b) => b.strength - a.strength)
    .slice(0, MAX_CATEGORICAL)
    .forEach((signal) => (signal.used = true));
  signals.push(...[...numeric, ...categorical].sort((a, b) => b.strength - a.strength));
  return {
    numeric: numeric.filter((signal) => signal.used).map((signal) => signal.feature).sort(),
    categorical: categorical.filter((signal) => signal.used).map((signal) => signal.feature).sort(),
    signals,
  };
}

/** Each value minus the mean of its group's values. */
export function residuals(values: readonly number[], groups: readonly string[]): number[] {
  const sums = new Map<string, { sum: number; count: number }>();
  values.forEach((value, index) => {
    const entry = sums.get(groups[index]!) ?? { sum: 0, count: 0 };
    entry.sum += value;
    entry.count += 1;
    sums.set(groups[index]!, entry);
  });
  return values.map((value, index) => {
    const entry = sums.get(groups[index]!)!;
    return value - entry.sum / entry.count;
  });
}

/** Adjusted share of variance explained by the groups (epsilon squared), clamped to [0, 1]. */
export function explainedShare(values: readonly number[], groups: readonly string[]): number {
  const n = values.length;
  const k = new Set(groups).size;
  if (n <= k || k < 2) return 0;
  const overall = mean(values);
  let total = 0;
  for (const value of values) total += (value - overall) ** 2;
  if (total === 0) return 0;
  const within = residuals(values, groups).reduce((sum, value) => sum + value * value, 0);
  const withinMeanSquare = within / (n - k);
  const share = (total - within - (k - 1) * withinMeanSquare) / total;
  return Math.min(1, Math.max(0, share));
}

function correlation(xs: readonly number[], ys: readonly number[]): number {
  const mx = mean(xs);
  const my = mean(ys);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let index = 0; index < xs.length; index++) {
    const dx = xs[index]! - mx;
    const dy = ys[index]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? 0 : sxy / Math.sqrt(sxx * syy);
}

/** Categories seen fewer than a handful of times share one label: too few runs to learn from. */
export function poolRare(labels: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const label of labels) counts.set(label, (counts.get(label) ?? 0) + 1);
  return labels.map((label) => ((counts.get(label) ?? 0) >= MIN_RUNS_PER_CATEGORY ? label : '\u0000rare'));
}
