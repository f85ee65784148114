import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSim, type SimServer } from '../src/sim/index.js';
import { ADMIN, admin, client, Cluster, PG_URL, REDIS_URL, type Replica, type RunView as SharedRunView } from './replicas.js';

type RunView = SharedRunView & { wastedUsd: string };

const ready = PG_URL !== undefined && REDIS_URL !== undefined;
if (!ready) console.warn('[replicas-features] INTIME_TEST_PG_URL and INTIME_TEST_REDIS_URL must both be set: skipped');

// Main's features (output contracts, waste, forecasts, the dashboard's series, metrics) on
// replicas sharing a PostgreSQL ledger and Redis budgets: what one replica records, another reads.
let sim: SimServer;
let cluster: Cluster;
let a: Replica, b: Replica;

beforeAll(async () => {
  if (!ready) return;
  sim = await startSim();
  cluster = new Cluster(sim.url, 3000);
  [a, b] = await Promise.all([cluster.start('a'), cluster.start('b')]);
}, 60_000);
afterAll(async () => {
  if (!ready) return;
  await cluster.close();
  await sim.close();
});

describe.skipIf(!ready)('contracts, waste, forecasts and the dashboard on a PostgreSQL ledger shared by replicas', () => {
  it('contract versions registered on either replica are shared; verdicts and waste are in the shared ledger', async () => {
    expect(await admin(a, 'POST', '/api/contracts', { name: 'summary', schema: { type: 'object', required: ['answer'] } })).toMatchObject({ version: 1 });
    const run = await admin<{ id: string; token: string }>(b, 'POST', '/api/runs', { name: 'contracts' });
    // The sim answers a json_object request with {"answer": "..."}.
    const ask = (replica: Replica) => client(replica, run.token).chat.completions.create({
      model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise.' }], response_format: { type: 'json_object' },
    }, { headers: { 'x-intime-contract': 'summary', 'x-intime-step': 'summarise' } }).withResponse();
    const passed = await ask(b);
    expect(passed.response.headers.get('x-intime-contract')).toBe('summary%401');
    expect(passed.response.headers.get('x-intime-contract-verdict')).toBe('passed');

    expect(await admin(b, 'POST', '/api/contracts', { name: 'summary', schema: { type: 'object', required: ['answer', 'sources'] } })).toMatchObject({ version: 2 });
    const failed = await ask(a);
    expect(failed.response.headers.get('x-intime-contract')).toBe('summary%402');
    expect(failed.response.headers.get('x-intime-contract-verdict')).toBe('failed');
    const listed = await admin<{ contracts: { name: string; version: number }[] }>(a, 'GET', '/api/contracts');
    expect(listed.contracts.map((contract) => `${contract.name}@${contract.version}`)).toEqual(['summary@1', 'summary@2']);

    const waste = await admin<{ rows: { group: string; wastedUsd: string; costUsd: string; failedCalls: number }[] }>(b, 'GET', `/api/waste?by=stage&run=${run.id}`);
    const cost = (response: Response) => Number(response.headers.get('x-intime-cost-usd'));
    expect(waste.rows).toEqual([expect.objectContaining({ group: 'summarise', wastedUsd: failed.response.headers.get('x-intime-cost-usd'), failedCalls: 1 })]);
    expect(Number(waste.rows[0]!.costUsd)).toBeCloseTo(cost(passed.response) + cost(failed.response), 12);
    const view = await admin<{ wastedUsd: string }>(a, 'GET', `/api/runs/${run.id}`);
    expect(view.wastedUsd).toBe(failed.response.headers.get('x-intime-cost-usd'));
  }, 60_000);

  it('history imported on one replica feeds forecasts on the other; a declared run shows its forecast everywhere', async () => {
    const runs = Array.from({ length: 40 }, (_, index) => ({
      id: `ext-${index}`, group: 'triage', model: 'gpt-4o-mini', features: { inputTokens: 1000 + index * 10 },
      inputTokens: 1000 + index * 10, outputTokens: 200 + (index % 7) * 50, calls: 3 + (index % 3), finishedAt: new Date(Date.UTC(2026, 0, 1) + index * 60_000).toISOString(),
    }));
    expect(await admin(a, 'POST', '/api/history/import', { runs })).toMatchObject({ added: 40, replaced: 0 });
    const history = await admin<{ runs: number; groups: { group: string; runs: number }[] }>(b, 'GET', '/api/history');
    expect(history.groups).toContainEqual({ group: 'triage', runs: 40 });
    const forecast = await admin<{ status: string; costUsd: { p50: string; p90: string }; summary: string }>(b, 'POST', '/api/forecast', { pipeline: 'triage', model: 'gpt-4o-mini', inputTokens: 1200 });
    expect(forecast.status).not.toBe('none');
    expect(Number(forecast.costUsd.p90)).toBeGreaterThanOrEqual(Number(forecast.costUsd.p50));
    expect(Number(forecast.costUsd.p50)).toBeGreaterThan(0);

    const declared = await admin<{ id: string; token: string }>(a, 'POST', '/api/runs', { name: 'nightly', task: { pipeline: 'triage', model: 'gpt-4o-mini', inputTokens: 1200 } });
    await client(b, declared.token).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'go' }] }, { headers: { 'x-sim-output-tokens': '40' } });
    const seen = await admin<{ forecast: { status: string; actual: { calls: number } } }>(b, 'GET', `/api/runs/${declared.id}`);
    expect(seen.forecast.status).not.toBe('none');
    expect(seen.forecast.actual.calls).toBe(1);
  }, 60_000);

  it('a routed call escalates within a Redis run budget; its attempts, policy and waste are in the shared ledger', async () => {
    const schema = { type: 'object', properties: { name: { type: 'string' }, count: { type: 'integer' } }, required: ['name', 'count'], additionalProperties: false };
    await admin(a, 'PUT', '/api/routing-policies/extract', { candidates: ['gpt-4o', 'gpt-4o-mini'], qualityTarget: 0.9, explorationShare: 0 });
    const run = await admin<{ id: string; token: string }>(b, 'POST', '/api/runs', { budgetUsd: '1' });
    const { response } = await client(a, run.token).chat.completions.create({
      model: 'intime/auto:extract', messages: [{ role: 'user', content: 'three apples for Ada' }], max_tokens: 200,
      response_format: { type: 'json_schema', json_schema: { name: 'extract', schema, strict: true } },
    }, { headers: { 'x-sim-fail-models': 'gpt-4o-mini' } }).withResponse();
    expect(response.headers.get('x-intime-attempts')).toBe('2');
    const { calls } = await admin<{ calls: { id: string; model: string; costUsd: string; routePolicy: string | null; retryOf: string | null; contract: { verdict: string } }[] }>(b, 'GET', `/api/runs/${run.id}/calls`);
    const wasted = calls.find((call) => call.model === 'gpt-4o-mini')!;
    const answered = calls.find((call) => call.model === 'gpt-4o')!;
    expect(wasted).toMatchObject({ routePolicy: 'extract', contract: { verdict: 'failed' } });
    expect(answered).toMatchObject({ routePolicy: 'extract', retryOf: wasted.id, contract: { verdict: 'passed' } });
    const view = await admin<RunView>(b, 'GET', `/api/runs/${run.id}`);
    expect(view.wastedUsd).toBe(wasted.costUsd);
    expect(Number(view.spentUsd)).toBeCloseTo(Number(wasted.costUsd) + Number(answered.costUsd), 12);
    expect(Number(view.remainingUsd)).toBeCloseTo(1 - Number(view.spentUsd), 12);
  }, 60_000);

  it('a precedent written on one replica is retrieved on the other within seconds; retired there, it stops being retrieved', async () => {
    const ask = { stage: 'extract-dates', text: 'Extract the delivery dates from this order; dates like next Tuesday must be resolved' };
    const retrievedOnB = async () => (await admin<{ precedents: { id: string }[] }>(b, 'POST', '/api/precedents/retrieve', ask)).precedents.map((p) => p.id);
    expect(await retrievedOnB()).toEqual([]); // B's index is loaded now, before the write
    const written = await admin<{ id: string }>(a, 'POST', '/api/precedents', {
      what: 'dates come back as "next Tuesday"', where: { stage: 'extract-dates' }, fix: 'ask for ISO 8601 (YYYY-MM-DD) dates',
    });
    const until = async (wanted: (ids: string[]) => boolean) => {
      const started = Date.now();
      while (Date.now() - started < 8000) {
        if (wanted(await retrievedOnB())) return Date.now() - started;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error('B never caught up');
    };
    const seenAfter = await until((ids) => ids.includes(written.id));
    console.log(`[replicas-features] precedent written on A → retrieved on B after ${seenAfter} ms`);
    await admin(a, 'PATCH', `/api/precedents/${written.id}`, { retired: true });
    await until((ids) => !ids.includes(written.id));
  }, 60_000);

  it('the dashboard\'s spend series and /metrics read the shared ledger and budget store', async () => {
    const run = await admin<{ id: string; token: string }>(a, 'POST', '/api/runs', { project: 'series' });
    for (const replica of [a, b, a]) {
      await client(replica, run.token).chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'n' }] }, { headers: { 'x-sim-output-tokens': '30' } });
    }
    const calls = await admin<{ calls: { costUsd: string }[] }>(b, 'GET', `/api/runs/${run.id}/calls`);
    const spent = calls.calls.reduce((sum, call) => sum + Number(call.costUsd), 0);
    const series = await admin<{ points: { group: string; costUsd: string; calls: number }[] }>(b, 'GET', '/api/spend-series?by=project&bucket=day');
    const point = series.points.filter((candidate) => candidate.group === 'series');
    expect(point.reduce((sum, candidate) => sum + candidate.calls, 0)).toBe(3);
    expect(point.reduce((sum, candidate) => sum + Number(candidate.costUsd), 0)).toBeCloseTo(spent, 12);

    await admin(a, 'PUT', '/api/budgets', { scope: 'project:series', budgetUsd: '10' });
    const metrics = await (await fetch(`${a.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    const remaining = /intime_budget_remaining_usd\{scope="project:series",window="[a-z]+"\} (\S+)/.exec(metrics);
    expect(remaining, metrics.slice(0, 2000)).not.toBeNull();
    expect(Number(remaining![1])).toBeCloseTo(10 - spent, 9);
  }, 60_000);

  it('an ended run\'s budget counters leave Redis a day later; a replica that reads it afterwards rebuilds them from the ledger', async () => {
    const run = await admin<{ id: string; token: string }>(a, 'POST', '/api/runs', { name: 'retired', budgetUsd: 1 });
    await client(b, run.token).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    await admin(a, 'POST', `/api/runs/${run.id}/stop`, {});
    const redis = new Redis(REDIS_URL!);
    try {
      const key = `${cluster.prefix}scope:run:${run.id}`;
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan(86_000_000);
      expect(ttl).toBeLessThanOrEqual(86_400_000);
      // A day later the counters are gone; a replica that never saw the run reads its spend from the ledger.
      await redis.del(key);
      const spentBefore = (await admin<RunView>(b, 'GET', `/api/runs/${run.id}`)).spentUsd;
      const c = await cluster.start('c');
      const view = await admin<RunView>(c, 'GET', `/api/runs/${run.id}`);
      expect(view).toMatchObject({ state: 'stopped', spentUsd: spentBefore, reservedUsd: '0' });
      expect(Number(view.spentUsd)).toBeGreaterThan(0);
      expect(await redis.pttl(key)).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
  }, 60_000);
});
