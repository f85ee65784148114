import type { HistoryRun, TaskFeatures } from './forecast-history.js';
import { fitForecaster, targetValue, type ForecastOptions } from './forecast-model.js';
import { ascending, pinballLoss, sampleQuantile } from './forecast-quantiles.js';
import type { FeatureSignal } from './forecast-signal.js';

export type EvaluatedTarget = 'cost' | 'tokens';
export type Method = 'intime' | 'global quantiles' | 'per-group quantiles';

/** How one method's quantiles fared on the held-out runs of one target. */
export interface EvaluationRow {
  target: EvaluatedTarget;
  method: Method;
  /** Share of held-out runs at or below the P50 (ideal 0.5) and the P90 (ideal 0.9). */
  belowP50: number;
  belowP90: number;
  /** Share inside the central 50% interval [P25, P75] and 90% interval [P5, P95]. */
  inside50: number;
  inside90: number;
  /** Mean pinball loss of the P50 and the P90, in the target's unit (USD or tokens). Lower is better. */
  pinballP50: number;
  pinballP90: number;
  /**
   * The same on the log scale (ln(value + 1e-6 USD or + 1 token)): a relative error that
   * every run weighs in equally, where the USD loss is dominated by the few largest runs.
   */
  logPinballP50: number;
  logPinballP90: number;
}

export interface Evaluation {
  trainRuns: number;
  testRuns: number;
  /** Held-out runs whose group and model had too little history (widened forecasts). */
  thinForecasts: number;
  rows: EvaluationRow[];
  signals: FeatureSignal[];
}

const LEVELS = [0.05, 0.25, 0.5, 0.75, 0.9, 0.95] as const;
const TARGETS: EvaluatedTarget[] = ['cost', 'tokens'];
type Predict = (task: TaskFeatures, target: EvaluatedTarget) => number[];

/** Fits on `train`, forecasts every run of `test`, and scores it against two baselines fitted alike. */
export function evaluateForecasts(train: readonly HistoryRun[], test: readonly HistoryRun[], options: ForecastOptions = {}): Evaluation {
  if (train.length === 0) throw new RangeError('the training history is empty');
  if (test.length === 0) throw new RangeError('the test history is empty');
  const forecaster = fitForecaster(train, options);
  let thinForecasts = 0;
  const intime: Predict = (task, target) => {
    const prediction = forecaster.predict(task, target, LEVELS);
    if (target === 'cost' && prediction.status !== 'ok') thinForecasts++;
    return prediction.values!;
  };
  const methods: [Method, Predict][] = [['intime', intime], ['global quantiles', groupQuantiles(train, () => '')],
    ['per-group quantiles', groupQuantiles(train, (task) => task.group ?? '')]];
  const rows: EvaluationRow[] = [];
  for (const target of TARGETS) {
    for (const [method, predict] of methods) {
      const score = { belowP50: 0, belowP90: 0, inside50: 0, inside90: 0, pinballP50: 0, pinballP90: 0, logPinballP50: 0, logPinballP90: 0 };
      const offset = target === 'cost' ? 1e-6 : 1;
      const log = (value: number) => Math.log(value + offset);
      for (const run of test) {
        const [p5, p25, p50, p75, p90, p95] = predict(run.task, target) as [number, number, number, number, number, number];
        const actual = targetValue(run, target);
        score.belowP50 += actual <= p50 ? 1 : 0;
        score.belowP90 += actual <= p90 ? 1 : 0;
        score.inside50 += actual >= p25 && actual <= p75 ? 1 : 0;
        score.inside90 += actual >= p5 && actual <= p95 ? 1 : 0;
        score.pinballP50 += pinballLoss(actual, p50, 0.5);
        score.pinballP90 += pinballLoss(actual, p90, 0.9);
        score.logPinballP50 += pinballLoss(log(actual), log(p50), 0.5);
        score.logPinballP90 += pinballLoss(log(actual), log(p90), 0.9);
      }
      const n = test.length;
      rows.push({
        target, method,
        belowP50: score.belowP50 / n, belowP90: score.belowP90 / n, inside50: score.inside50 / n, inside90: score.inside90 / n,
        pinballP50: score.pinballP50 / n, pinballP90: score.pinballP90 / n,
        logPinballP50: score.logPinballP50 / n, logPinballP90: score.logPinballP90 / n,
      });
    }
  }
  return { trainRuns: train.length, testRuns: test.length, thinForecasts, rows, signals: forecaster.signals };
}

/** Baseline: plain sample quantiles of the runs sharing a key (falling back to all runs). */
function groupQuantiles(train: readonly HistoryRun[], keyOf: (task: TaskFeatures) => string): Predict {
  const cache = new Map<string, number[]>();
  const sortedFor = (target: EvaluatedTarget, key: string | null) => {
    const cacheKey = `${target}\u0000${key ?? '\u0000all'}`;
    let sorted = cache.get(cacheKey);
    if (!sorted) {
      sorted = ascending(train.filter((run) => key === null || keyOf(run.task) === key).map((run) => targetValue(run, target)));
      cache.set(cacheKey, sorted);
    }
    return sorted;
  };
  return (task, target) => {
    const own = sortedFor(target, keyOf(task));
    const sorted = own.length > 0 ? own : sortedFor(target, null);
    return LEVELS.map((q) => sampleQuantile(sorted, q));
  };
}

/** Splits one history in time order: the first `trainShare` for training, the rest for testing. */
export function timeSplit(runs: readonly HistoryRun[], trainShare: number): { train: HistoryRun[]; test: HistoryRun[] } {
  const cut = Math.round(runs.length * trainShare);
  return { train: runs.slice(0, cut), test: runs.slice(cut) };
}
