/**
 * The forecasting API for library users (re-exported from the package root): learn from
 * finished runs, forecast a task's cost, tokens and calls, and score forecasts.
 *
 *   const forecaster = fitForecaster(parseHistoryJsonl(text, pricer).runs);
 *   const forecast = forecastTask(forecaster, { group: 'research', model: 'gpt-4.1', inputTokens: 1800, features: {} });
 *   forecast.cost?.p90; forecast.status; forecast.explanation.summary
 *
 * Against a gateway, POST /api/runs with {"task": {...}, "budgetUsd": "auto"} reserves the P90.
 */
export { forecastTask, FORECAST_QUANTILES, type Forecast, type Quantiles } from '../core/forecast.js';
export { fitForecaster, TARGETS, type Forecaster, type ForecastOptions, type Prediction, type Target } from '../core/forecast-model.js';
export { evaluateForecasts, timeSplit, type Evaluation, type EvaluationRow } from '../core/forecast-evaluate.js';
export {
  parseHistoryJsonl, historyRunToLine, taskFromInput, timeOrdered,
  type FeatureValue, type HistoryRun, type ImportedRun, type RunOutcome, type RunPricer, type TaskFeatures, type TaskInput,
} from '../core/forecast-history.js';
export type { FeatureSignal } from '../core/forecast-signal.js';
export { pricerFor } from '../gateway/forecasts.js';
