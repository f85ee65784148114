import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historyRunToLine, type HistoryRun } from '../src/core/forecast-history.js';
import { parseUsd } from '../src/core/money.js';
import { Draws, syntheticHistory } from './forecast-fixtures.js';
import { ADMIN_TOKEN, startStack, type Stack } from './harness.js';
import { REPO_ROOT, runCli } from './processes.js';

let dir: string;
let stack: Stack;
const gatewayFlags = () => ['--gateway', stack.gateway.url, '--admin-token', ADMIN_TOKEN];

/** A summarize pipeline on gpt-4o-mini whose runs cost about what the fixture agent spends. */
function summarizeHistory(count: number): HistoryRun[] {
  const draws = new Draws(7);
  return Array.from({ length: count }, (_, index): HistoryRun => {
    const costUsd = draws.lognormal(0.0005, 0.6);
    const calls = Math.max(1, Math.round(costUsd / 0.00018));
    return {
      id: `summarize-${index}`,
      task: { group: 'summarize', model: 'gpt-4o-mini', inputTokens: Math.round(draws.lognormal(500, 0.3)), features: { stages: 2 } },
      outcome: { costUsd, inputTokens: calls * 20, outputTokens: calls * 300, calls },
      finishedAt: Date.UTC(2026, 0, 1) + index * 1000,
      status: 'completed',
      source: 'import',
    };
  });
}

function writeJsonl(name: string, runs: HistoryRun[]): string {
  const path = join(dir, name);
  writeFileSync(path, runs.map((run) => JSON.stringify(historyRunToLine(run))).join('\n') + '\n');
  return path;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'intime-forecast-'));
  stack = await startStack();
});
afterAll(async () => {
  await stack.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('history import', () => {
  it('refuses a file with bad lines, naming each, and imports nothing', async () => {
    const path = join(dir, 'bad.jsonl');
    writeFileSync(path, [
      JSON.stringify({ id: 'ok-1', group: 'g', model: 'gpt-4o-mini', inputTokens: 10, outputTokens: 10, calls: 1 }),
      JSON.stringify({ id: 'bad-1', group: 'g', inputTokens: 10, outputTokens: 10, calls: 1 }),
      JSON.stringify({ id: 'bad-2', group: 'g', model: 'gpt-4o-mini', inputTokens: 'many', outputTokens: 10, calls: 1 }),
    ].join('\n'));
    const run = runCli(['runs', 'import', path, ...gatewayFlags()]);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toContain('nothing imported');
    expect(run.stderr()).toContain('line 2: "costUsd" is missing and there is no "model"');
    expect(run.stderr()).toMatch(/line 3: "inputTokens"/);
    const history = await stack.admin<{ runs: number }>('GET', '/api/history');
    expect(history.body.runs).toBe(0);
  });

  it('imports a file, prices lines without costUsd, and replaces on a second import', async () => {
    const path = writeJsonl('summarize.jsonl', summarizeHistory(80));
    const first = runCli(['runs', 'import', path, ...gatewayFlags()]);
    expect(await first.exited, first.stderr()).toBe(0);
    expect(first.stdout()).toContain('imported 80 runs');
    const again = runCli(['runs', 'import', path, ...gatewayFlags(), '--json']);
    expect(await again.exited).toBe(0);
    expect(JSON.parse(again.stdout())).toMatchObject({ added: 0, replaced: 80 });
    const priced = await stack.admin('POST', '/api/history/import', {
      runs: [{ id: 'priced', group: 'other', model: 'gpt-4o-mini', inputTokens: 1_000_000, outputTokens: 0, calls: 1 }],
    });
    expect(priced.status).toBe(200);
    const history = await stack.admin<{ runs: number; groups: { group: string; runs: number }[] }>('GET', '/api/history');
    expect(history.body.runs).toBe(81);
    expect(history.body.groups).toContainEqual({ group: 'summarize', runs: 80 });
  });
});

describe('forecasts through the API and CLI', () => {
  it('intime forecast gives P50/P90/P99 with what history it drew on', async () => {
    const run = runCli(['forecast', '--pipeline', 'summarize', '--model', 'gpt-4o-mini', '--input-tokens', '500', ...gatewayFlags()]);
    expect(await run.exited, run.stderr()).toBe(0);
    expect(run.stdout()).toMatch(/forecast for summarize with gpt-4o-mini, input 500 tokens: ok/);
    expect(run.stdout()).toMatch(/cost\s+\$0\.\d+\s+\$0\.\d+\s+\$0\.\d+/);
    expect(run.stdout()).toContain('drew on 80 runs of summarize with gpt-4o-mini');
  });

  it('a pipeline and model with little history: says so and widens; bad bodies get 400', async () => {
    const thin = await stack.admin<{ status: string; summary: string; costUsd: Record<string, string> }>('POST', '/api/forecast',
      { pipeline: 'summarize', model: 'claude-sonnet-4-5' });
    expect(thin.status).toBe(200);
    expect(thin.body.status).toBe('thin');
    expect(thin.body.summary).toMatch(/not enough history: only 0 runs .* widened/);
    for (const value of Object.values(thin.body.costUsd)) expect(Number.isFinite(Number(value))).toBe(true);
    const bad = await stack.admin<{ error: { message: string } }>('POST', '/api/forecast', { pipeline: 'x', inputTokens: -3 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('inputTokens');
    const unknown = await stack.admin('POST', '/api/forecast', { pipeline: 'x', colour: 'red' });
    expect(unknown.status).toBe(400);
  });
});

describe('intime run --budget auto', () => {
  it('reserves the P90 forecast as the run budget, says so, and the report shows forecast vs actual', async () => {
    const forecast = await stack.admin<{ costUsd: { p90: string } }>('POST', '/api/forecast', { pipeline: 'summarize', model: 'gpt-4o-mini', inputTokens: 500 });
    const run = runCli(['run', ...gatewayFlags(), '--budget', 'auto', '--pipeline', 'summarize', '--model', 'gpt-4o-mini', '--input-tokens', '500',
      '--', process.execPath, join(REPO_ROOT, 'test/fixtures/forecast-agent.mjs'), '3']);
    expect(await run.exited, run.stderr()).toBe(0);
    const stderr = run.stderr();
    const reserved = /budget auto: reserved \$([\d.]+), the P90 forecast for summarize \(P50 \$[\d.]+, P99 \$[\d.]+; drew on 80 runs/.exec(stderr);
    expect(reserved, stderr).not.toBeNull();
    expect(parseUsd(reserved![1]!)).toBe(parseUsd(forecast.body.costUsd.p90));
    const runId = /run (run_\w+)/.exec(stderr)![1]!;
    const view = await stack.admin<{ budgetUsd: string; state: string; calls: number; forecast: { actual: { costUsd: string; calls: number }; actualBand: { cost: string } } }>(
      'GET', `/api/runs/${runId}`);
    expect(parseUsd(view.body.budgetUsd)).toBe(parseUsd(forecast.body.costUsd.p90));
    expect(view.body.state).toBe('completed');
    expect(view.body.forecast.actual.calls).toBe(3);
    expect(stderr).toMatch(/forecast vs actual \(summarize with gpt-4o-mini\)/);

    const report = runCli(['report', runId, ...gatewayFlags()]);
    expect(await report.exited).toBe(0);
    expect(report.stdout()).toMatch(/forecast vs actual/);
    expect(report.stdout()).toMatch(new RegExp(`cost\\s+\\$[\\d.]+\\s+\\$${forecast.body.costUsd.p90.replace('.', '\\.')}\\s+\\$[\\d.]+\\s+\\$${view.body.forecast.actual.costUsd.replace('.', '\\.')}\\s+(≤P50|P50–P90|P90–P99|>P99)`));
    expect(report.stdout()).toMatch(/calls\s+\d+\s+\d+\s+\d+\s+3\s/);

    const list = await stack.admin<{ runs: { id: string; forecast: { status: string; costUsd: { p90: string } } | null }[] }>('GET', '/api/runs');
    expect(list.body.runs.find((listed) => listed.id === runId)!.forecast).toEqual({ status: 'ok', costUsd: expect.objectContaining({ p90: forecast.body.costUsd.p90 }) });

    // The completed run is history now, under its pipeline.
    const history = await stack.admin<{ ledger: number; groups: { group: string; runs: number }[] }>('GET', '/api/history');
    expect(history.body.ledger).toBe(1);
    expect(history.body.groups).toContainEqual({ group: 'summarize', runs: 81 });
  }, 60_000);

  it('without any history for it, budget auto refuses clearly and starts nothing', async () => {
    const empty = await startStack();
    try {
      const run = runCli(['run', '--gateway', empty.gateway.url, '--admin-token', ADMIN_TOKEN, '--budget', 'auto', '--pipeline', 'new-thing',
        '--', process.execPath, '-e', 'process.exit(0)']);
      expect(await run.exited).toBe(2);
      expect(run.stderr()).toContain('budget "auto" needs history');
      const runs = await empty.admin<{ runs: unknown[] }>('GET', '/api/runs');
      expect(runs.body.runs).toHaveLength(0);
    } finally {
      await empty.close();
    }
  }, 60_000);
});

describe('intime forecast evaluate', () => {
  it('prints coverage and pinball loss for intime and both baselines, as a table and as JSON', async () => {
    const train = writeJsonl('train.jsonl', syntheticHistory(1500, 11));
    const test = writeJsonl('test.jsonl', syntheticHistory(600, 12));
    const table = runCli(['forecast', 'evaluate', '--train', train, '--test', test]);
    expect(await table.exited, table.stderr()).toBe(0);
    for (const method of ['intime', 'global quantiles', 'per-group quantiles']) {
      expect(table.stdout()).toMatch(new RegExp(`cost\\s+${method}\\s+[\\d.]+%\\s+[\\d.]+%`));
      expect(table.stdout()).toMatch(new RegExp(`tokens\\s+${method}\\s+[\\d.]+%`));
    }
    expect(table.stdout()).toMatch(/inputTokens\s+numeric\s+1500\s+[\d.]+%\s+yes/);
    const json = runCli(['forecast', 'evaluate', '--split', train, '--train-share', '0.6', '--json']);
    expect(await json.exited, json.stderr()).toBe(0);
    const evaluation = JSON.parse(json.stdout()) as { trainRuns: number; testRuns: number; rows: { method: string; belowP90: number }[] };
    expect(evaluation.trainRuns).toBe(900);
    expect(evaluation.testRuns).toBe(600);
    expect(evaluation.rows).toHaveLength(6);
    const bad = runCli(['forecast', 'evaluate', '--train', train]);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain('give --train and --test');
  }, 60_000);
});
