import { forecastTask, type Forecast, type Quantiles } from '../core/forecast.js';
import { historyRunFromImport, importedRunSchema, taskInputSchema, taskFromInput, type HistoryRun, type RunPricer, type TaskFeatures } from '../core/forecast-history.js';
import { fitForecaster, type ForecastOptions, type Forecaster } from '../core/forecast-model.js';
import { formatUsd, parseUsd, type Money } from '../core/money.js';
import { costOf, type PriceTable } from '../core/prices.js';
import { makeUsage } from '../core/usage.js';
import { GatewayError, invalidRequest } from '../protocols/errors.js';
import type { ForecastStore } from '../stores/forecasts.js';

/**
 * The gateway's forecaster: fitted on the store's history and refitted only when that
 * history changes (a run completes, runs are imported).
 */
export class ForecastService {
  private fitted: { version: string; forecaster: Forecaster; checkedAt: number } | undefined;
  /** Set by an import: the next forecast refits at once. */
  private stale = false;

  private readonly options: ForecastOptions;

  constructor(readonly store: ForecastStore, private readonly prices: PriceTable, options: ForecastOptions = {}) {
    this.options = { modelPrice: modelPriceFrom(prices), ...options };
  }

  /**
   * A fit is synchronous CPU work on the gateway's event loop, so runs completing do not
   * trigger one more than every REFIT_INTERVAL_MS; an import does at once.
   */
  async forecaster(): Promise<Forecaster> {
    const now = Date.now();
    if (this.fitted && !this.stale && now - this.fitted.checkedAt < REFIT_INTERVAL_MS) return this.fitted.forecaster;
    this.stale = false;
    const version = await this.store.historyVersion();
    if (this.fitted?.version === version) this.fitted.checkedAt = now;
    else this.fitted = { version, forecaster: fitForecaster(await this.store.history(), this.options), checkedAt: now };
    return this.fitted.forecaster;
  }

  async forecast(task: TaskFeatures): Promise<Forecast> {
    return forecastTask(await this.forecaster(), task);
  }

  /** The run budget `budgetUsd: "auto"` reserves: the P90 of cost, or a clear refusal without history. */
  async autoBudget(task: TaskFeatures): Promise<{ budget: Money; forecast: Forecast }> {
    const forecast = await this.forecast(task);
    if (!forecast.cost) {
      throw new GatewayError('invalid_request', 'invalid_request',
        `budget "auto" needs history to forecast from and there is none: ${forecast.explanation.summary}; or give a budget in USD`,
        { status: 409, param: 'budgetUsd' });
    }
    // Never a zero budget: a run with history of spending nothing still gets a micro-dollar.
    return { budget: parseUsd(usdRoundedUp(Math.max(forecast.cost.p90, 1e-6))), forecast };
  }

  /** Validates every line first and imports all of them or none. */
  async importLines(lines: unknown[], at: number): Promise<{ added: number; replaced: number }> {
    const runs: HistoryRun[] = [];
    const errors: string[] = [];
    const seen = new Set<string>();
    lines.forEach((line, index) => {
      if (errors.length >= 20) return;
      const parsed = importedRunSchema.safeParse(line);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        errors.push(`runs[${index}]: ${issue.path.length > 0 ? `"${issue.path.join('.')}" ` : ''}${issue.message}`);
        return;
      }
      if (seen.has(parsed.data.id)) return void errors.push(`runs[${index}]: duplicate id ${parsed.data.id}`);
      seen.add(parsed.data.id);
      const run = historyRunFromImport(parsed.data, this.priceOf);
      if (typeof run === 'string') errors.push(`runs[${index}]: ${run}`);
      else runs.push(run);
    });
    if (errors.length > 0) throw invalidRequest(`nothing imported: ${errors.join('; ')}`, 'runs');
    const result = await this.store.importRuns(runs, at);
    this.stale = true;
    return result;
  }

  readonly priceOf: RunPricer = (model, inputTokens, outputTokens) => pricerFor(this.prices)(model, inputTokens, outputTokens);
}

const REFIT_INTERVAL_MS = 10_000;

/** A model's USD per input and output token from the price table, for the forecaster. */
export function modelPriceFrom(prices: PriceTable): NonNullable<ForecastOptions['modelPrice']> {
  return (model) => {
    const price = prices.lookup(model);
    return price && { input: Number(price.prices.input) / 1e12, output: Number(price.prices.output) / 1e12 };
  };
}

/** Prices consumed tokens at a model's plain input and output prices (no cache split is known). */
export function pricerFor(prices: PriceTable): RunPricer {
  return (model, inputTokens, outputTokens) => {
    const price = prices.lookup(model);
    if (!price) return undefined;
    return Number(formatUsd(costOf(price, makeUsage({ inputTokens, outputTokens }))));
  };
}

/** A task from an API body's "task" (or the body itself for POST /api/forecast). */
export function taskFromBody(value: unknown, field = 'task'): TaskFeatures {
  const parsed = taskInputSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalidRequest(`${issue.path.length > 0 ? `"${[field, ...issue.path].join('.')}" ` : `"${field}" `}${issue.message}`, field);
  }
  return taskFromInput(parsed.data);
}

/** USD to the micro-dollar, rounded up: a budget from a forecast never falls short of it. */
export function usdRoundedUp(usd: number): string {
  return (Math.ceil(usd * 1e6 - 1e-9) / 1e6).toFixed(6);
}

const tokensView = (quantiles: Quantiles | null) =>
  quantiles && { p50: Math.round(quantiles.p50), p90: Math.ceil(quantiles.p90), p99: Math.ceil(quantiles.p99) };

/** A forecast as the API shows it: USD as decimal strings, counts as integers. */
export function forecastView(forecast: Forecast) {
  return {
    status: forecast.status,
    summary: forecast.explanation.summary,
    task: forecast.task,
    costUsd: forecast.cost && { p50: usdRoundedUp(forecast.cost.p50), p90: usdRoundedUp(forecast.cost.p90), p99: usdRoundedUp(forecast.cost.p99) },
    tokens: tokensView(forecast.tokens),
    calls: tokensView(forecast.calls),
    explanation: forecast.explanation,
  };
}

/** Forecast vs actual for a run's report: where the actual spend fell among the forecast quantiles. */
export function forecastVersusActual(forecast: Forecast, actual: { cost: Money; tokens: number; calls: number }) {
  const actualUsd = Number(formatUsd(actual.cost));
  const band = (value: number, quantiles: Quantiles | null) => {
    if (!quantiles) return null;
    if (value <= quantiles.p50) return '≤P50';
    if (value <= quantiles.p90) return 'P50–P90';
    if (value <= quantiles.p99) return 'P90–P99';
    return '>P99';
  };
  return {
    ...forecastView(forecast),
    actual: { costUsd: formatUsd(actual.cost), tokens: actual.tokens, calls: actual.calls },
    actualBand: { cost: band(actualUsd, forecast.cost), tokens: band(actual.tokens, forecast.tokens), calls: band(actual.calls, forecast.calls) },
  };
}
