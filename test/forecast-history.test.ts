import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/gateway/config.js';
import { startGateway } from '../src/gateway/gateway.js';
import { createLogger } from '../src/gateway/log.js';
import { loadPriceTable } from '../src/gateway/price-loader.js';
import { startSim, type SimServer } from '../src/sim/index.js';
import { ADMIN_TOKEN } from './harness.js';

let dataDir: string;
let sim: SimServer;
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'intime-forecast-history-'));
  sim = await startSim({ priceTable: loadPriceTable(defaultConfig()) });
});
afterAll(async () => {
  await sim.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function gatewayOnDataDir() {
  const running = await startGateway({ dataDir, config: defaultConfig(), simUrl: sim.url, adminToken: ADMIN_TOKEN, log: createLogger('silent') });
  const admin = async <T>(method: string, path: string, body?: unknown) => {
    const response = await fetch(`${running.url}${path}`, {
      method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as T };
  };
  const call = async (token: string, model: string, prompt: string) => {
    const client = new OpenAI({ baseURL: `${running.url}/v1`, apiKey: token, maxRetries: 0 });
    await client.chat.completions.create({ model, messages: [{ role: 'user', content: prompt }] }, { headers: { 'x-sim-output-tokens': '50' } });
  };
  return { running, admin, call };
}

describe('forecast history from the ledger and imports', () => {
  it('learns from completed runs only, with their declared task or what their calls show, and keeps imports across a restart', async () => {
    const first = await gatewayOnDataDir();
    const declared = await first.admin<{ id: string; token: string }>('POST', '/api/runs',
      { name: 'nightly', task: { pipeline: 'triage', model: 'gpt-4o-mini', inputTokens: 1234, difficulty: 'hard' } });
    await first.call(declared.body.token, 'gpt-4o-mini', 'one');
    await first.call(declared.body.token, 'gpt-4o-mini', 'two');
    await first.admin('POST', `/api/runs/${declared.body.id}/complete`, {});

    const undeclared = await first.admin<{ id: string; token: string }>('POST', '/api/runs', { name: 'ad-hoc job' });
    await first.call(undeclared.body.token, 'gpt-4.1-mini', 'a much longer first prompt for the task input size');
    await first.call(undeclared.body.token, 'gpt-4o-mini', 'second');
    await first.call(undeclared.body.token, 'gpt-4o-mini', 'third');
    await first.admin('POST', `/api/runs/${undeclared.body.id}/complete`, {});

    const stopped = await first.admin<{ id: string; token: string }>('POST', '/api/runs', { name: 'stopped', task: { pipeline: 'triage' } });
    await first.call(stopped.body.token, 'gpt-4o-mini', 'x');
    await first.admin('POST', `/api/runs/${stopped.body.id}/stop`, {});
    await first.admin('POST', '/api/runs', { name: 'still running', task: { pipeline: 'triage' } });

    const imported = await first.admin('POST', '/api/history/import', {
      runs: [{ id: 'ext-1', group: 'triage', model: 'gpt-4o-mini', features: { inputTokens: 800 }, inputTokens: 900, outputTokens: 100, calls: 2, costUsd: 0.0002, finishedAt: '2026-01-01T00:00:00Z' }],
    });
    expect(imported.status).toBe(200);

    const history = await first.running.gateway.forecasts.store.history();
    expect(history.map((run) => run.id).sort()).toEqual(['ext-1', declared.body.id, undeclared.body.id].sort());
    const fromDeclared = history.find((run) => run.id === declared.body.id)!;
    expect(fromDeclared.task).toEqual({ group: 'triage', model: 'gpt-4o-mini', inputTokens: 1234, features: { difficulty: 'hard' } });
    expect(fromDeclared.outcome.calls).toBe(2);
    expect(fromDeclared.outcome.outputTokens).toBe(100);
    expect(fromDeclared.outcome.costUsd).toBeGreaterThan(0);
    const fromCalls = history.find((run) => run.id === undeclared.body.id)!;
    expect(fromCalls.task.group).toBe('ad-hoc job');
    expect(fromCalls.task.model).toBe('gpt-4o-mini'); // most of its calls
    const { calls } = (await first.admin<{ calls: { inputTokens: number; cacheReadTokens: number; cacheWriteTokens: number }[] }>('GET', `/api/runs/${undeclared.body.id}/calls`)).body;
    expect(fromCalls.task.inputTokens).toBe(calls[0]!.inputTokens + calls[0]!.cacheReadTokens + calls[0]!.cacheWriteTokens);
    await first.running.close();

    // Durable: a restarted gateway on the same data directory learns from the same history.
    const second = await gatewayOnDataDir();
    try {
      const again = await second.running.gateway.forecasts.store.history();
      expect(again.map((run) => run.id).sort()).toEqual(history.map((run) => run.id).sort());
      expect(again.find((run) => run.id === 'ext-1')).toMatchObject({ task: { inputTokens: 800 }, outcome: { costUsd: 0.0002, calls: 2 }, finishedAt: Date.UTC(2026, 0, 1) });
      const forecast = await second.admin<{ status: string; summary: string }>('POST', '/api/forecast', { pipeline: 'triage', model: 'gpt-4o-mini' });
      expect(forecast.body.status).toBe('thin');
      expect(forecast.body.summary).toContain('only 2 runs of triage with gpt-4o-mini');
      const run = await second.admin<{ forecast: { status: string; actual: { calls: number } } }>('GET', `/api/runs/${declared.body.id}`);
      expect(run.body.forecast.status).toBe('none'); // forecast when it started, with no history yet
      expect(run.body.forecast.actual.calls).toBe(2);
    } finally {
      await second.running.close();
    }
  }, 60_000);
});
