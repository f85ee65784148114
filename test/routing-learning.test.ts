import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseUsd } from '../src/core/money.js';
import { ContractViolationError, defineContract, InTime } from '../src/index.js';

/**
 * Routing with the library and the ledger: a stage whose model is `intime/auto:<policy>`,
 * the library's checks overturning the gateway's verdict (and the router learning it),
 * and statistics rebuilt from the ledger when the gateway restarts.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'intime-routing-learning-'));
let intime: InTime;

beforeAll(async () => {
  intime = await InTime.embedded({ dataDir });
});
afterAll(async () => {
  await intime?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Person { name: string; count: number }
interface Source { text: string; name: string; count: number }
const source: Source = { text: 'three apples for Ada', name: 'Ada', count: 3 };
const person = defineContract<Person, Source>({
  name: 'person',
  schema: z.object({ name: z.string(), count: z.number().int() }),
  checks: { 'the facts of the input': (output, input) => (output.name === input.name && output.count === input.count) || 'name or count differs from the input' },
});
const RIGHT = JSON.stringify({ name: 'Ada', count: 3 });

interface StatsView { order: string[]; stats: { model: string; attempts: number; passed: number; failed: number }[] }
const statsOf = (policy: string, stage: string) => intime.request<StatsView>('GET', `/api/routing-policies/${policy}?stage=${stage}`);
const modelStats = (view: StatsView, model: string) => view.stats.find((entry) => entry.model === model)!;
const putPolicy = (name: string) =>
  intime.request('PUT', `/api/routing-policies/${name}`, { candidates: ['gpt-4o-mini', 'gpt-4o'], qualityTarget: 0.8, explorationShare: 0 });

describe('a library stage on a routing policy', () => {
  it('lets the gateway escalate past a hollow answer; the stage sees one attempt, its cost and waste include the cascade', async () => {
    await putPolicy('lib-extract');
    const run = await intime.createRun({ name: 'routed-stage', budgetUsd: '1' });
    const stage = run.stage({
      name: 'lib-extract', contract: person, models: ['intime/auto:lib-extract'], prompt: (input) => input.text, maxTokens: 100,
      // The cheap model answers {} (passes no schema requiring fields); the strong one answers right.
      headers: () => ({ 'x-sim-output-json': RIGHT, 'x-sim-output': 'empty-object', 'x-sim-fault-models': 'gpt-4o-mini' }),
    });
    const result = await stage.execute(source);
    expect(result.output).toEqual({ name: 'Ada', count: 3 });
    expect(result.attempts.map((attempt) => [attempt.model, attempt.verdict])).toEqual([['gpt-4o', 'passed']]);

    const { calls } = await intime.request<{ calls: { id: string; model: string; costUsd: string; routePolicy: string; contract: { verdict: string } }[] }>('GET', `/api/runs/${run.id}/calls`);
    const cheap = calls.find((call) => call.model === 'gpt-4o-mini')!;
    const strong = calls.find((call) => call.model === 'gpt-4o')!;
    expect([cheap.contract.verdict, strong.contract.verdict]).toEqual(['failed', 'passed']);
    expect(result.cost).toBe(parseUsd(cheap.costUsd) + parseUsd(strong.costUsd));
    expect(result.wasted).toBe(parseUsd(cheap.costUsd));
    const waste = await run.waste('stage');
    expect(parseUsd(waste.total.wastedUsd)).toBe(result.wasted);
  });

  it('feeds the checks\' verdict back to the router: a schema-valid wrong answer counts as a failure of that model', async () => {
    await putPolicy('lib-check');
    const run = await intime.createRun({ name: 'routed-check', budgetUsd: '1' });
    const stage = run.stage({
      name: 'lib-check', contract: person, models: ['intime/auto:lib-check'], prompt: (input) => input.text, maxTokens: 100,
      policy: { retries: 0, haltRun: false },
      // Wrong values pass the schema at the gateway; only the library's check catches them.
      headers: () => ({ 'x-sim-output-json': RIGHT, 'x-sim-output': 'wrong-values', 'x-sim-fault-models': 'gpt-4o-mini' }),
    });
    const failure = await stage.execute(source).then(() => undefined, (error: unknown) => error);
    expect(failure).toBeInstanceOf(ContractViolationError);
    expect((failure as ContractViolationError).attempts.map((attempt) => attempt.model)).toEqual(['gpt-4o-mini']);
    const view = await statsOf('lib-check', 'lib-check');
    expect(modelStats(view, 'gpt-4o-mini')).toMatchObject({ attempts: 1, passed: 0, failed: 1 });
    const waste = await run.waste('model');
    expect(waste.rows.find((row) => row.group === 'gpt-4o-mini')).toMatchObject({ failedCalls: 1 });
  });
});

describe('statistics from the ledger', () => {
  it('learns from judged calls of a named step that asked for a model by name', async () => {
    await putPolicy('direct');
    const run = await intime.createRun({ name: 'direct-calls', budgetUsd: '1' });
    const stage = run.stage({
      name: 'direct', contract: person, models: ['gpt-4o-mini', 'gpt-4o'], prompt: (input) => input.text, maxTokens: 100, policy: { retries: 0 },
      headers: () => ({ 'x-sim-output-json': RIGHT, 'x-sim-output': 'truncated', 'x-sim-fault-models': 'gpt-4o-mini' }),
    });
    const result = await stage.execute(source);
    expect(result.attempts.map((attempt) => [attempt.model, attempt.verdict])).toEqual([['gpt-4o-mini', 'failed'], ['gpt-4o', 'passed']]);
    const view = await statsOf('direct', 'direct');
    expect(modelStats(view, 'gpt-4o-mini')).toMatchObject({ attempts: 1, failed: 1, passed: 0 });
    expect(modelStats(view, 'gpt-4o')).toMatchObject({ attempts: 1, failed: 0, passed: 1 });
  });

  it('rebuilds what the router learned when the gateway restarts on the same ledger', async () => {
    await putPolicy('restart');
    const run = await intime.createRun({ name: 'before-restart', budgetUsd: '5' });
    const client = run.clients.openai;
    // Enough failures that the cheap attempt no longer pays for itself (its pass rate under its price share).
    for (let index = 0; index < 24; index++) {
      await client.chat.completions.create({
        model: 'intime/auto:restart', max_tokens: 100, messages: [{ role: 'user', content: source.text }],
        response_format: { type: 'json_schema', json_schema: { name: 'person', schema: person.jsonSchema } },
      }, { headers: { 'x-sim-output-json': RIGHT, 'x-sim-output': 'malformed', 'x-sim-fault-models': 'gpt-4o-mini' } });
    }
    const before = await statsOf('restart', 'restart');
    expect(before.order).toEqual(['gpt-4o']);
    expect(modelStats(before, 'gpt-4o-mini').failed).toBeGreaterThanOrEqual(5);

    await intime.close();
    intime = await InTime.embedded({ dataDir });
    const after = await statsOf('restart', 'restart');
    expect(after.order).toEqual(['gpt-4o']);
    expect(after.stats.map((entry) => [entry.model, entry.attempts, entry.passed, entry.failed]))
      .toEqual(before.stats.map((entry) => [entry.model, entry.attempts, entry.passed, entry.failed]));
  });
});
