import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InTime, parseUsd } from '../src/index.js';

/** The library reserves the forecast's P90 as a run's budget, as `intime run --budget auto` does. */
let intime: InTime;
beforeAll(async () => {
  intime = await InTime.embedded({ simulate: true });
  // Forty finished runs of the pipeline, $0.01 to $0.05: enough history for an honest P90.
  const runs = Array.from({ length: 40 }, (_, index) => ({
    id: `past-${index}`, group: 'summarize', model: 'gpt-4o-mini', features: {}, inputTokens: 2000, outputTokens: 500, calls: 3,
    costUsd: 0.01 + (index % 10) * 0.004, finishedAt: new Date(Date.UTC(2026, 0, 1, 0, index)).toISOString(),
  }));
  await intime.request('POST', '/api/history/import', { runs });
});
afterAll(() => intime.close());

describe('library runs with budget auto', () => {
  it('get the P90 of their task\'s forecast as their budget, and say where it came from', async () => {
    const run = await intime.createRun({ name: 'auto', budgetUsd: 'auto', task: { pipeline: 'summarize', model: 'gpt-4o-mini', inputTokens: 2000 } });
    const budget = parseUsd(run.created.budgetUsd!);
    expect(budget).toBeGreaterThan(parseUsd('0.02'));
    expect(budget).toBeLessThan(parseUsd('0.2'));
    const forecast = run.created.forecast as { costUsd: { p90: string } };
    expect(parseUsd(forecast.costUsd.p90)).toBe(budget);
    const view = await intime.request<{ budgetUsd: string }>('GET', `/api/runs/${run.id}`);
    expect(view.budgetUsd).toBe(run.created.budgetUsd);
  });

  it('for a pipeline never seen, say the history is thin and take a wider budget from all runs', async () => {
    const run = await intime.createRun({ budgetUsd: 'auto', task: { pipeline: 'never-seen', model: 'gpt-4o-mini' } });
    const forecast = run.created.forecast as { status: string; explanation: { summary: string } };
    expect(forecast.status).not.toBe('ok');
    expect(JSON.stringify(forecast)).toMatch(/not enough history|history/);
    expect(parseUsd(run.created.budgetUsd!)).toBeGreaterThan(0n);
  });
});
