import type { TaskFeatures } from './forecast-history.js';
import { MODEL_PRICE_FEATURE, TARGETS, type Forecaster, type LevelUsed, type Target } from './forecast-model.js';

export const FORECAST_QUANTILES = [0.5, 0.9, 0.99] as const;

export interface Quantiles {
  p50: number;
  p90: number;
  p99: number;
}

/** A forecast of a task's cost (USD), tokens and calls, and what it rests on. */
export interface Forecast {
  /** ok: enough runs of this group and model; thin: too few, interval widened; none: no history at all. */
  status: 'ok' | 'thin' | 'none';
  task: TaskFeatures;
  cost: Quantiles | null;
  tokens: Quantiles | null;
  calls: Quantiles | null;
  explanation: {
    /** Runs at each level of the hierarchy the task falls in, most general first. */
    levels: LevelUsed[];
    /** The level whose spread the interval rests on. */
    basis: LevelUsed | null;
    /** Numeric features the forecast shifted for, with their log-log slope on cost. */
    adjustedFor: { feature: string; costSlope: number; given: boolean }[];
    /** Categorical features that split the history further. */
    splitBy: string[];
    historyRuns: number;
    summary: string;
  };
}

/** Forecasts one task; never NaN, and says when the history is too thin to trust. */
export function forecastTask(forecaster: Forecaster, task: TaskFeatures): Forecast {
  const predictions = Object.fromEntries(TARGETS.map((target) => [target, forecaster.predict(task, target, FORECAST_QUANTILES)])) as
    Record<Target, ReturnType<Forecaster['predict']>>;
  const cost = predictions.cost;
  const quantiles = (target: Target): Quantiles | null => {
    const values = predictions[target].values;
    return values && { p50: values[0]!, p90: values[1]!, p99: values[2]! };
  };
  const adjustedFor = forecaster.regressors(task.group).map((regressor) => ({
    feature: regressor.feature,
    costSlope: regressor.slopes.cost,
    given: regressor.feature === 'inputTokens' ? task.inputTokens !== null
      : regressor.feature === MODEL_PRICE_FEATURE ? forecaster.isPriced(task.model) : typeof task.features[regressor.feature] === 'number',
  }));
  return {
    status: cost.status,
    task,
    cost: quantiles('cost'),
    tokens: quantiles('tokens'),
    calls: quantiles('calls'),
    explanation: {
      levels: cost.levels,
      basis: cost.basis,
      adjustedFor,
      splitBy: forecaster.categorical,
      historyRuns: forecaster.runs,
      summary: summarize(forecaster, task, cost.status, cost.levels, cost.basis, adjustedFor),
    },
  };
}

function summarize(
  forecaster: Forecaster, task: TaskFeatures, status: Forecast['status'], levels: LevelUsed[], basis: LevelUsed | null,
  adjustedFor: Forecast['explanation']['adjustedFor'],
): string {
  const what = `${task.group ?? '(no group)'} with ${task.model ?? '(no model)'}`;
  if (status === 'none') return `no history to forecast from: import finished runs (intime runs import) or finish some runs first`;
  const group = levels[1]!;
  const cell = levels[2]!;
  const parts: string[] = [];
  if (status === 'ok') {
    parts.push(`drew on ${cell.runs} runs of ${what} (${group.runs} of the group, ${forecaster.runs} in all)`);
  } else {
    parts.push(`not enough history: only ${cell.runs} runs of ${what} (need ${forecaster.options.minRuns})`);
    parts.push(basis && basis.runs >= forecaster.options.minRuns
      ? `interval widened ×${forecaster.options.widening} from the spread of ${basis.level === 'global' ? 'all runs' : basis.key} (${basis.runs} runs)`
      : `interval widened to the prior 30x spread of agent tasks: only ${forecaster.runs} runs in all`);
  }
  const named = (feature: string) => (feature === MODEL_PRICE_FEATURE ? `${task.model ?? 'the model'}'s prices` : feature);
  const used = adjustedFor.filter((regressor) => regressor.given).map((regressor) => named(regressor.feature));
  const missing = adjustedFor.filter((regressor) => !regressor.given).map((regressor) => regressor.feature === MODEL_PRICE_FEATURE ? 'the model\'s price' : regressor.feature);
  if (used.length > 0) parts.push(`shifted for ${used.join(', ')}`);
  if (missing.length > 0) parts.push(`${missing.join(', ')} not given: assumed typical`);
  const split = levels[3];
  if (split && split.runs > 0) parts.push(`split by ${forecaster.categorical.join(', ')}: ${split.runs} runs with ${split.key.split(' / ').slice(2).join(', ')}`);
  else if (split) parts.push(`not split by ${forecaster.categorical.join(', ')}: not given, or no runs with that value`);
  return parts.join('; ');
}
