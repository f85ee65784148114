import { describe, expect, it } from 'vitest';
import { PriceTable } from '../prices.js';
import { allOrders, chooseCascade, independentEstimator } from './cascade.js';
import { evaluateRouting, learnCascade, measureCascade } from './evaluate.js';
import { decideCascade, seededRandom } from './explore.js';
import { aiq, costToReach, nonDecreasingHull } from './frontier.js';
import { OutcomeFileError, parseOutcomes, priceRows, type OutcomeRow } from './outcomes.js';
import { StatsBook, UNIFORM_PRIOR } from './stats.js';

/** Three models with a known best cascade: cheap (50% at $1), mid (80% at $3), strong (99% at $10). */
const MODELS = [
  { model: 'strong', passRate: 0.99, costUsd: 10 },
  { model: 'cheap', passRate: 0.5, costUsd: 1 },
  { model: 'mid', passRate: 0.8, costUsd: 3 },
];

function exactEstimates() {
  return MODELS.map(({ model, passRate, costUsd }) => ({
    model, belief: { alpha: passRate * 1e6, beta: (1 - passRate) * 1e6 }, costUsd, tailCostUsd: costUsd, latencyMs: undefined,
  }));
}

/** Prompts where each model passes independently at its rate. */
function syntheticRows(count: number, seed: number): OutcomeRow[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, index) => ({
    id: String(index),
    task: 'synthetic',
    outcomes: Object.fromEntries(MODELS.map(({ model, passRate, costUsd }) => [model, { passed: random() < passRate, costUsd }])),
  }));
}

const prices = new PriceTable();

describe('cascade learner', () => {
  it('enumerates every order of every subset', () => {
    expect(allOrders(['a', 'b', 'c'])).toHaveLength(3 + 6 + 6);
  });

  it('finds the known cheapest order for each pass-rate target', () => {
    const estimator = independentEstimator(exactEstimates());
    const models = MODELS.map((entry) => entry.model);
    // cheap → mid → strong: 1 + 0.5·3 + 0.1·10 = $3.5 for 99.9%; the cheaper cheap → mid reaches only 90%.
    expect(chooseCascade(models, estimator, 0.95)).toMatchObject({ order: ['cheap', 'mid', 'strong'], meetsTarget: true });
    expect(chooseCascade(models, estimator, 0.95).costUsd).toBeCloseTo(3.5, 6);
    expect(chooseCascade(models, estimator, 0.85)).toMatchObject({ order: ['cheap', 'mid'] });
    expect(chooseCascade(models, estimator, 0.5)).toMatchObject({ order: ['cheap'] });
    // Unreachable: the best pass rate, flagged.
    expect(chooseCascade(models, estimator, 1.01)).toMatchObject({ meetsTarget: false });
    expect(chooseCascade(models, estimator, 1.01).passRate).toBeCloseTo(1 - 0.5 * 0.2 * 0.01, 6);
  });

  it('learns the same order from joint outcomes, and keeps the target on held-out prompts', () => {
    const train = priceRows(syntheticRows(4000, 1), prices, 0, seededRandom(2));
    const test = priceRows(syntheticRows(4000, 3), prices, 0, seededRandom(4));
    const choice = learnCascade(train, ['cheap', 'mid', 'strong'], 0.97);
    expect(choice.order).toEqual(['cheap', 'mid', 'strong']);
    const measured = measureCascade(test, choice.order);
    expect(measured.quality).toBeGreaterThan(0.99);
    expect(measured.costUsd).toBeCloseTo(3.5, 0);
  });

  it('degrades gracefully as contract verdicts get noisy', () => {
    const results = [0, 0.05, 0.1, 0.2, 0.3].map((noise) => {
      const train = priceRows(syntheticRows(4000, 5), prices, noise, seededRandom(6));
      const test = priceRows(syntheticRows(4000, 7), prices, noise, seededRandom(8));
      return evaluateRouting(train, test, { qualityTarget: 0.95 });
    });
    const clean = results[0]!;
    expect(clean.cascade.reachesTarget).toBe(true);
    for (const [index, result] of results.entries()) {
      const noise = [0, 0.05, 0.1, 0.2, 0.3][index]!;
      // Flipped verdicts bias every pass rate toward one half, the reference model's too, so the
      // learner aims lower and false passes let wrong answers through: the loss stays within the flip rate.
      expect(result.cascade.quality).toBeGreaterThanOrEqual(result.baseline.targetQuality - noise);
      // And no panic: false failures cost extra attempts, at most twice the noise in share.
      expect(result.cascade.costUsd).toBeLessThanOrEqual(clean.cascade.costUsd * (1 + 2 * noise));
      expect(result.cascade.quality).toBeGreaterThan(result.singles.find((single) => single.model === 'cheap')!.quality + 0.2);
    }
    // Quality falls (weakly) with noise: more noise never buys quality here.
    expect(results[4]!.cascade.quality).toBeLessThan(clean.cascade.quality);
  });
});

describe('budgeted exploration', () => {
  const estimates = [
    { model: 'known', belief: { alpha: 900, beta: 100 }, costUsd: 1, tailCostUsd: 2, latencyMs: undefined },
    { model: 'unseen', belief: UNIFORM_PRIOR, costUsd: 0.5, tailCostUsd: 0.5, latencyMs: undefined },
  ];

  it('never explores without an allowance', () => {
    const random = seededRandom(1);
    for (let index = 0; index < 200; index++) {
      expect(decideCascade(estimates, 0.85, { remainingUsd: 0 }, random).exploring).toBe(false);
    }
  });

  it('tries an unseen model sometimes, and spends no more than its allowance on it', () => {
    const random = seededRandom(2);
    let allowance = 5;
    let explored = 0;
    for (let index = 0; index < 500; index++) {
      const decision = decideCascade(estimates, 0.85, { remainingUsd: allowance }, random);
      if (decision.exploring) explored++;
      allowance -= decision.explorationCostUsd;
      expect(allowance).toBeGreaterThanOrEqual(0);
    }
    expect(explored).toBeGreaterThan(0);
  });
});

describe('statistics', () => {
  it('shrinks a feature bucket toward its pooled pass rate', () => {
    const book = new StatsBook(10);
    for (let index = 0; index < 100; index++) book.observe('stage', 'm', { verdict: index < 90 ? 'passed' : 'failed', costUsd: 1 }, 'small');
    book.observe('stage', 'm', { verdict: 'failed', costUsd: 3 }, 'large');
    const large = book.estimate('stage', 'm', 0, 'large');
    // One failure in the bucket moves the belief a little, not to zero.
    expect(large.belief.alpha / (large.belief.alpha + large.belief.beta)).toBeGreaterThan(0.7);
    expect(book.get('stage', 'm')!.tailCostUsd).toBe(1);
  });

  it('moves a revised verdict from one count to the other, in the pool and the bucket, keeping cost', () => {
    const book = new StatsBook(10);
    book.observe('stage', 'm', { verdict: 'passed', costUsd: 2 }, 'small');
    book.observe('stage', 'm', { verdict: 'passed', costUsd: 4 }, 'small');
    book.revise('stage', 'm', 'passed', 'failed', 'small');
    for (const stats of [book.get('stage', 'm')!, book.get('stage', 'm', 'small')!]) {
      expect([stats.attempts, stats.passed, stats.failed, stats.meanCostUsd]).toEqual([2, 1, 1, 3]);
    }
    book.revise('stage', 'm', 'none', 'failed', 'small');
    expect(book.get('stage', 'm')!.failed).toBe(2);
    book.revise('stage', 'unseen', 'passed', 'failed');
    expect(book.get('stage', 'unseen')).toBeUndefined();
  });
});

describe('frontier and AIQ', () => {
  it('builds the non-decreasing convex hull and averages quality over the cost range', () => {
    const points = [{ cost: 0, quality: 0.5 }, { cost: 1, quality: 0.6 }, { cost: 2, quality: 1 }, { cost: 3, quality: 0.9 }];
    expect(nonDecreasingHull(points)).toEqual([{ cost: 0, quality: 0.5 }, { cost: 2, quality: 1 }]);
    // Linear from 0.5 to 1 over [0, 2], flat at 1 over [2, 4]: (0.75·2 + 1·2) / 4.
    expect(aiq(points, { min: 0, max: 4 })).toBeCloseTo(0.875, 9);
    expect(costToReach(points, 0.75)).toBeCloseTo(1, 9);
    expect(costToReach(points, 1.1)).toBeNull();
  });
});

describe('outcome files', () => {
  it('names the line of a bad row, and prices token-only outcomes from the table', () => {
    expect(() => parseOutcomes('{"id":"1","task":"t","outcomes":{"m":{"passed":"yes"}}}\n', 'f.jsonl')).toThrow(/f\.jsonl:1: .*passed/);
    expect(() => parseOutcomes('\n{"id":"1"\n', 'f.jsonl')).toThrow(OutcomeFileError);
    const table = new PriceTable().add({ version: 1, models: [{ id: 'm', provider: 'p', usdPerMillion: { input: '1', output: '2' } }] }, 'test');
    const [row] = priceRows(parseOutcomes('{"id":"1","task":"t","outcomes":{"m":{"passed":true,"inputTokens":1000000,"outputTokens":500000}}}', 'f'), table, 0, Math.random);
    expect(row!.outcomes.get('m')!.costUsd).toBe(2);
    expect(() => priceRows(parseOutcomes('{"id":"1","task":"t","outcomes":{"x":{"passed":true,"inputTokens":5}}}', 'f'), table, 0, Math.random)).toThrow(/no price/);
  });
});
