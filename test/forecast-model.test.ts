import { describe, expect, it } from 'vitest';
import { syntheticHistory } from './forecast-fixtures.js';
import { forecastTask } from '../src/core/forecast.js';
import { evaluateForecasts } from '../src/core/forecast-evaluate.js';
import { parseHistoryJsonl, type TaskFeatures } from '../src/core/forecast-history.js';
import { fitForecaster } from '../src/core/forecast-model.js';
import { predictiveQuantile } from '../src/core/forecast-quantiles.js';

const task = (group: string | null, model: string | null, inputTokens: number | null = 2000, features = {}): TaskFeatures =>
  ({ group, model, inputTokens, features });

function allFinite(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (value && typeof value === 'object') return Object.values(value).every(allFinite);
  return true;
}

describe('forecast on synthetic heavy-tailed histories', () => {
  const train = syntheticHistory(3000, 1);
  const test = syntheticHistory(1500, 2);
  const evaluation = evaluateForecasts(train, test);
  const row = (target: string, method: string) => evaluation.rows.find((r) => r.target === target && r.method === method)!;

  it('P90 coverage on held-out runs is within 85–95% for cost and tokens', () => {
    for (const target of ['cost', 'tokens']) {
      expect(row(target, 'intime').belowP90, target).toBeGreaterThanOrEqual(0.85);
      expect(row(target, 'intime').belowP90, target).toBeLessThanOrEqual(0.95);
      expect(row(target, 'intime').belowP50, target).toBeGreaterThan(0.42);
      expect(row(target, 'intime').belowP50, target).toBeLessThan(0.58);
    }
  });

  it('stays calibrated across other draws and smaller histories', () => {
    for (const [seed, size] of [[21, 3000], [31, 1000], [41, 400]] as const) {
      const other = evaluateForecasts(syntheticHistory(size, seed), syntheticHistory(1500, seed + 1));
      const intime = other.rows.find((r) => r.target === 'cost' && r.method === 'intime')!;
      expect(intime.belowP90, `seed ${seed}, ${size} runs`).toBeGreaterThanOrEqual(0.85);
      expect(intime.belowP90, `seed ${seed}, ${size} runs`).toBeLessThanOrEqual(0.95);
    }
  });

  it('beats the global and per-group quantile baselines on pinball loss where groups and models differ', () => {
    for (const target of ['cost', 'tokens']) {
      for (const baseline of ['global quantiles', 'per-group quantiles']) {
        expect(row(target, 'intime').pinballP90, `${target} P90 vs ${baseline}`).toBeLessThan(row(target, baseline).pinballP90);
        expect(row(target, 'intime').pinballP50, `${target} P50 vs ${baseline}`).toBeLessThan(row(target, baseline).pinballP50);
      }
    }
  });

  it('finds the signal: input size and difficulty are used, the noise feature is not', () => {
    const signal = (feature: string) => evaluation.signals.find((s) => s.feature === feature)!;
    expect(signal('inputTokens').used).toBe(true);
    expect(signal('difficulty').used).toBe(true);
    expect(signal('ticket').used).toBe(false);
    expect(signal('ticket').strength).toBeLessThan(0.01);
  });

  it('conditions on model and input size: a larger model and input cost more', () => {
    const forecaster = fitForecaster(train);
    const small = forecastTask(forecaster, task('triage', 'small'));
    const large = forecastTask(forecaster, task('triage', 'large'));
    const bigInput = forecastTask(forecaster, task('triage', 'small', 20_000));
    expect(small.status).toBe('ok');
    expect(large.cost!.p50 / small.cost!.p50).toBeGreaterThan(6);
    expect(bigInput.cost!.p50 / small.cost!.p50).toBeGreaterThan(3);
    expect(small.cost!.p50).toBeLessThanOrEqual(small.cost!.p90);
    expect(small.cost!.p90).toBeLessThanOrEqual(small.cost!.p99);
    // heavier tails get wider intervals
    const coding = forecastTask(forecaster, task('coding', 'small', 2000, { difficulty: 'easy' }));
    expect(coding.cost!.p99 / coding.cost!.p50).toBeGreaterThan(small.cost!.p99 / small.cost!.p50 * 2);
    expect(small.explanation.summary).toMatch(/drew on \d+ runs of triage with small/);
  });
});

describe('too little history', () => {
  it('no history at all: says so, no numbers, no crash', () => {
    const forecast = forecastTask(fitForecaster([]), task('p', 'm'));
    expect(forecast.status).toBe('none');
    expect(forecast.cost).toBeNull();
    expect(forecast.explanation.summary).toContain('no history');
  });

  it('a group and model with few runs: says so and widens from the group spread', () => {
    const history = syntheticHistory(3000, 3);
    const fewLarge = history.filter((run) => !(run.task.group === 'research' && run.task.model === 'large')).concat(
      history.filter((run) => run.task.group === 'research' && run.task.model === 'large').slice(0, 3));
    const rich = forecastTask(fitForecaster(history), task('research', 'large'));
    const thin = forecastTask(fitForecaster(fewLarge), task('research', 'large'));
    expect(rich.status).toBe('ok');
    expect(thin.status).toBe('thin');
    expect(thin.explanation.summary).toMatch(/not enough history: only 3 runs of research with large/);
    expect(thin.explanation.summary).toMatch(/widened/);
    expect(thin.cost!.p90 / thin.cost!.p50).toBeGreaterThan(rich.cost!.p90 / rich.cost!.p50);
    expect(allFinite(thin)).toBe(true);
  });

  it('an unknown group, a single run, identical runs, zero costs and missing features give finite, ordered answers', () => {
    const one = syntheticHistory(1, 4);
    const same = Array.from({ length: 30 }, (_, index) => ({ ...one[0]!, id: `same-${index}` }));
    const zero = same.map((run) => ({ ...run, outcome: { costUsd: 0, inputTokens: 0, outputTokens: 0, calls: 0 } }));
    for (const history of [one, same, zero]) {
      for (const query of [task('nobody', null, null), task(one[0]!.task.group, one[0]!.task.model, 0), task(null, null, 1e12, { difficulty: 'hard', stages: 3 })]) {
        const forecast = forecastTask(fitForecaster(history), query);
        expect(allFinite(forecast), JSON.stringify(forecast)).toBe(true);
        expect(forecast.cost!.p50).toBeGreaterThanOrEqual(0);
        expect(forecast.cost!.p50).toBeLessThanOrEqual(forecast.cost!.p90);
        expect(forecast.cost!.p90).toBeLessThanOrEqual(forecast.cost!.p99);
      }
    }
    const single = forecastTask(fitForecaster(one), task('other', 'x'));
    expect(single.status).toBe('thin');
    expect(single.cost!.p90).toBeGreaterThan(single.cost!.p50 * 3); // the prior spread, not false precision
    expect(single.explanation.summary).toContain('prior 30x spread');
  });
});

describe('a model the pipeline has not used', () => {
  it('is priced at its own rates when prices are known: same work, that model\'s price', () => {
    const history = syntheticHistory(3000, 5).filter((run) => run.task.model === 'small');
    const modelPrice = (model: string) => ({ small: { input: 1e-7, output: 4e-7 }, large: { input: 1.2e-6, output: 4.8e-6 } })[model];
    const unpriced = forecastTask(fitForecaster(history), task('triage', 'large'));
    const priced = forecastTask(fitForecaster(history, { modelPrice }), task('triage', 'large'));
    const known = forecastTask(fitForecaster(history, { modelPrice }), task('triage', 'small'));
    expect(unpriced.status).toBe('thin');
    expect(priced.status).toBe('thin');
    expect(unpriced.cost!.p50 / known.cost!.p50).toBeLessThan(2);
    expect(priced.cost!.p50 / known.cost!.p50).toBeGreaterThan(9);
    expect(priced.cost!.p50 / known.cost!.p50).toBeLessThan(15);
    expect(priced.tokens!.p50 / known.tokens!.p50).toBeLessThan(2); // tokens do not follow price
    expect(priced.explanation.adjustedFor).toContainEqual({ feature: 'modelPrice', costSlope: 1, given: true });
  });
});

describe('predictive quantiles', () => {
  it('extends past the largest run with an exponential log tail instead of stopping at the maximum', () => {
    const sorted = Array.from({ length: 50 }, (_, index) => index / 10);
    expect(predictiveQuantile(sorted, 0.5)).toBeCloseTo(2.45, 5);
    expect(predictiveQuantile(sorted, 0.999)).toBeGreaterThan(sorted[49]!);
  });
});

describe('history import lines', () => {
  const price = (model: string, input: number, output: number) => (model === 'm' ? input * 1e-6 + output * 2e-6 : undefined);
  it('parses good lines, prices lines without cost, and reports bad ones with their line number', () => {
    const text = [
      JSON.stringify({ id: 'a', group: 'g', model: 'm', features: { inputTokens: 900, stages: 3 }, inputTokens: 1000, outputTokens: 500, calls: 2 }),
      '',
      JSON.stringify({ id: 'b', group: 'g', inputTokens: 1, outputTokens: 1, calls: 1, costUsd: '0.5', finishedAt: '2026-01-02T00:00:00Z' }),
      '{not json',
      JSON.stringify({ id: 'c', group: 'g', model: 'unknown', inputTokens: 1, outputTokens: 1, calls: 1 }),
      JSON.stringify({ id: 'd', group: 'g', inputTokens: -1, outputTokens: 1, calls: 1, costUsd: 1 }),
      JSON.stringify({ id: 'a', group: 'g', inputTokens: 1, outputTokens: 1, calls: 1, costUsd: 1 }),
      JSON.stringify({ id: 'e', group: 'g', inputTokens: 1, outputTokens: 1, calls: 1, costUsd: 1, extra: true }),
    ].join('\n');
    const parsed = parseHistoryJsonl(text, price);
    expect(parsed.runs.map((run) => run.id)).toEqual(['a', 'b']);
    expect(parsed.runs[0]!.outcome.costUsd).toBeCloseTo(0.002, 12);
    expect(parsed.runs[0]!.task.inputTokens).toBe(900);
    expect(parsed.runs[0]!.task.features).toEqual({ stages: 3 });
    expect(parsed.runs[1]!.finishedAt).toBe(Date.UTC(2026, 0, 2));
    expect(parsed.errors).toEqual([
      'line 4: not JSON',
      'line 5: "costUsd" is missing and model unknown has no price',
      expect.stringMatching(/^line 6: "inputTokens" /),
      'line 7: duplicate id a',
      expect.stringMatching(/^line 8: .*extra/),
    ]);
  });
});
