import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: the parser ships no types; its output is checked below.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { defaultConfig, loadConfig } from '../src/gateway/config.js';
import { DEFAULT_BURN_ANOMALY } from '../src/core/burn-anomaly.js';
import { startGateway } from '../src/gateway/gateway.js';
import { createLogger } from '../src/gateway/log.js';
import { loadPriceTable } from '../src/gateway/price-loader.js';
import { startSim } from '../src/sim/index.js';
import type { CallRecord } from '../src/stores/ledger.js';
import { ADMIN_TOKEN, callsOf, sleep, startStack, type Stack } from './harness.js';

interface Received { path: string; body: Record<string, any> }

const INVOICE_SCHEMA = {
  type: 'object', properties: { total: { type: 'integer' }, lines: { type: 'array', items: { type: 'integer' } } }, required: ['total', 'lines'], additionalProperties: false,
};

/** A local HTTP endpoint that records what is posted to it (webhooks, an OTLP collector). */
async function startReceiver(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ path: request.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The exposition format, line by line: comments, blank lines, or `name{labels} value`. */
const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.]+(e[+-]?[0-9]+)?|NaN|[+-]Inf)( -?[0-9]+)?$/;
const COMMENT = /^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))$/;

type Family = { name: string; type: string; metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string }[] };

async function scrape(stack: Stack, token: string | null = ADMIN_TOKEN): Promise<{ status: number; text: string; families: Family[] }> {
  const response = await fetch(`${stack.gateway.url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await response.text();
  if (response.status !== 200) return { status: response.status, text, families: [] };
  for (const line of text.split('\n')) if (line !== '') expect(line, `not Prometheus text: ${line}`).toMatch(line.startsWith('#') ? COMMENT : SAMPLE);
  return { status: response.status, text, families: parsePrometheusTextFormat(text) as Family[] };
}

function value(families: Family[], name: string, labels: Record<string, string>): number {
  const family = families.find((candidate) => candidate.name === name);
  const metric = family?.metrics.find((candidate) => Object.entries(labels).every(([key, wanted]) => candidate.labels?.[key] === wanted));
  return metric ? Number(metric.value ?? metric.count) : 0;
}

describe('/metrics', () => {
  let stack: Stack;
  beforeAll(async () => { stack = await startStack(); });
  afterAll(async () => { await stack.close(); });

  it('parses as Prometheus text and moves with traffic', async () => {
    const before = await scrape(stack);
    const spendLabels = { model: 'gpt-4o-mini', provider: 'openai', project: 'metrics' };
    expect(value(before.families, 'intime_spend_usd_total', spendLabels)).toBe(0);
    const run = await stack.createRun({ project: 'metrics', budgetUsd: '2' });
    const client = stack.openai(run.token, { maxRetries: 0 });
    for (let index = 0; index < 3; index++) {
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `n${index}` }] }, { headers: { 'x-sim-output-tokens': '50' } });
    }
    await stack.admin('PUT', '/api/budgets', { scope: 'project:metrics', budgetUsd: '10' });
    await stack.admin('POST', `/api/runs/${run.id}/stop`, {});
    const after = await scrape(stack);
    const calls = await callsOf(stack, run.id);
    const spent = calls.reduce((sum, call) => sum + Number(call.costUsd), 0);
    expect(value(after.families, 'intime_spend_usd_total', spendLabels)).toBeCloseTo(spent, 12);
    expect(value(after.families, 'intime_calls_total', { ...spendLabels, status: 'ok' })).toBe(3);
    expect(value(after.families, 'intime_tokens_total', { ...spendLabels, kind: 'output' })).toBe(150);
    expect(value(after.families, 'intime_waste_usd_total', spendLabels)).toBe(0);
    expect(value(after.families, 'intime_budget_remaining_usd', { scope: 'project:metrics' })).toBeCloseTo(10 - spent, 9);
    expect(value(after.families, 'intime_stop_latency_seconds', {})).toBe(1);
    expect(value(after.families, 'intime_gateway_overhead_seconds', {})).toBeGreaterThanOrEqual(3);
    expect(after.families.some((family) => family.name === 'intime_reservations_held')).toBe(true);
  });

  it('counts waste when a call fails its contract: judged by the gateway, or posted later by the library, once', async () => {
    const labels = { model: 'gpt-4o-mini', provider: 'openai', project: 'wasteful' };
    const wasteNow = async () => value((await scrape(stack)).families, 'intime_waste_usd_total', labels);
    expect(await wasteNow()).toBe(0);
    const run = await stack.createRun({ project: 'wasteful' });
    const client = stack.openai(run.token, { maxRetries: 0 });
    const extract = (headers: Record<string, string>, stream = false) => client.chat.completions.create({
      model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Read the invoice.' }], stream,
      response_format: { type: 'json_schema', json_schema: { name: 'invoice', schema: INVOICE_SCHEMA } },
    }, { headers }).withResponse();
    const cost = async (response: Response) => {
      const call = await stack.admin<{ costUsd: string; contract: { verdict: string } }>('GET', `/api/calls/${response.headers.get('x-intime-call-id')}`);
      return call.body;
    };
    // A valid output is not waste.
    const good = await extract({});
    expect((await cost(good.response)).contract.verdict).toBe('passed');
    expect(await wasteNow()).toBe(0);
    // A malformed one is, whole or streamed.
    const bad = await extract({ 'x-sim-output': 'malformed' });
    const badCall = await cost(bad.response);
    expect(badCall.contract.verdict).toBe('failed');
    await expect.poll(wasteNow).toBeCloseTo(Number(badCall.costUsd), 12);
    const streamed = await extract({ 'x-sim-output': 'truncated' }, true);
    for await (const chunk of streamed.data as AsyncIterable<unknown>) void chunk;
    const streamedCall = await cost(streamed.response);
    expect(streamedCall.contract.verdict).toBe('failed');
    await expect.poll(wasteNow).toBeCloseTo(Number(badCall.costUsd) + Number(streamedCall.costUsd), 12);
    // The library's own check fails a call the gateway could not judge: it becomes waste then, once.
    const plain = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Sum.' }] }).withResponse();
    const plainCall = await cost(plain.response);
    expect(plainCall.contract.verdict).toBe('none');
    const before = await wasteNow();
    const judge = (verdict: string) => fetch(`${stack.gateway.url}/api/calls/${plain.response.headers.get('x-intime-call-id')}/verdict`, {
      method: 'POST', headers: { authorization: `Bearer ${run.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ verdict, contract: 'sums', violation: verdict === 'failed' ? 'total is not the sum' : undefined }),
    });
    expect((await Promise.all([judge('failed'), judge('failed'), judge('passed')])).map((response) => response.status)).toEqual([200, 200, 200]);
    expect(await wasteNow()).toBeCloseTo(before + Number(plainCall.costUsd), 12);
    const { body: waste } = await stack.admin<{ total: { wastedUsd: string } }>('GET', `/api/waste?by=run&run=${run.id}`);
    expect(await wasteNow()).toBeCloseTo(Number(waste.total.wastedUsd), 12);
  });

  it('needs a token that sees every project', async () => {
    expect((await scrape(stack, null)).status).toBe(401);
    const { body: scoped } = await stack.admin<{ token: string }>('POST', '/api/principals', { name: 'ops-metrics', role: 'operator', projects: ['metrics'] });
    expect((await scrape(stack, scoped.token)).status).toBe(403);
    const { body: viewer } = await stack.admin<{ token: string }>('POST', '/api/principals', { name: 'all-viewer', role: 'viewer' });
    expect((await scrape(stack, viewer.token)).status).toBe(200);
  });
});

describe('OTLP export', () => {
  it('sends runs, steps and calls as spans with the GenAI attributes and the cost', async () => {
    const collector = await startReceiver();
    const stack = await startStack({ config: (config) => ({ ...config, otlp: { ...config.otlp, endpoint: collector.url, serviceName: 'intime-test' } }) });
    try {
      const run = await stack.createRun({ name: 'traced', project: 'otel' });
      const client = stack.openai(run.token, { maxRetries: 0 });
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'one' }] }, { headers: { 'x-intime-step': 'plan', 'x-sim-output-tokens': '20' } });
      await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'two' }] }, { headers: { 'x-intime-step': 'act', 'x-sim-output-tokens': '30' } });
      await stack.admin('POST', `/api/runs/${run.id}/complete`, {});
      await stack.gateway.gateway.otlp!.flush();
      const spans = collector.received.flatMap((post) => {
        expect(post.path).toBe('/v1/traces');
        expect(post.body.resourceSpans[0].resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'intime-test' } });
        return post.body.resourceSpans[0].scopeSpans[0].spans as { traceId: string; spanId: string; parentSpanId?: string; name: string; attributes: { key: string; value: Record<string, unknown> }[] }[];
      });
      const attribute = (span: (typeof spans)[number], key: string) => {
        const found = span.attributes.find((candidate) => candidate.key === key)?.value;
        return found && Object.values(found)[0];
      };
      const calls = await callsOf(stack, run.id);
      const runSpan = spans.find((span) => span.name === 'run traced')!;
      const stepSpan = spans.find((span) => span.name === 'step act')!;
      const callSpan = spans.find((span) => span.name === 'chat gpt-4o')!;
      expect(runSpan && stepSpan && callSpan).toBeTruthy();
      expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([runSpan.traceId]));
      expect(runSpan.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(stepSpan.parentSpanId).toBe(runSpan.spanId);
      expect(callSpan.parentSpanId).toBe(stepSpan.spanId);
      const ledgerCall = calls.find((call) => call.model === 'gpt-4o')!;
      expect(attribute(callSpan, 'gen_ai.request.model')).toBe('gpt-4o');
      expect(attribute(callSpan, 'gen_ai.system')).toBe('openai');
      expect(attribute(callSpan, 'gen_ai.operation.name')).toBe('chat');
      expect(attribute(callSpan, 'gen_ai.usage.input_tokens')).toBe(String(ledgerCall.inputTokens));
      expect(attribute(callSpan, 'gen_ai.usage.output_tokens')).toBe('30');
      expect(attribute(callSpan, 'intime.cost_usd')).toBeCloseTo(Number(ledgerCall.costUsd), 12);
      expect(attribute(callSpan, 'intime.run.id')).toBe(run.id);
      expect(attribute(callSpan, 'intime.contract.verdict')).toBe('none');
      expect(attribute(callSpan, 'intime.waste_usd')).toBe(0);
      expect(attribute(callSpan, 'intime.attempt')).toBe('1');
      expect(attribute(runSpan, 'intime.run.state')).toBe('completed');
      expect(attribute(runSpan, 'intime.cost_usd')).toBeCloseTo(calls.reduce((sum, call) => sum + Number(call.costUsd), 0), 12);
    } finally {
      await stack.close();
      await collector.close();
    }
  });

  it('carries contract verdicts and waste: on the call span when the gateway judged, as a verdict span when the library did later', async () => {
    const collector = await startReceiver();
    const stack = await startStack({ config: (config) => ({ ...config, otlp: { ...config.otlp, endpoint: collector.url, serviceName: 'intime-test' } }) });
    try {
      const run = await stack.createRun({ name: 'judged', project: 'otel' });
      const client = stack.openai(run.token, { maxRetries: 0 });
      const bad = await client.chat.completions.create({
        model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Read the invoice.' }],
        response_format: { type: 'json_schema', json_schema: { name: 'invoice', schema: INVOICE_SCHEMA } },
      }, { headers: { 'x-sim-output': 'malformed', 'x-intime-step': 'extract' } }).withResponse();
      const later = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'check' }] }, {
        headers: { 'x-intime-step': 'check', 'x-intime-attempt': '2', 'x-intime-retry-of': bad.response.headers.get('x-intime-call-id')! },
      }).withResponse();
      const laterId = later.response.headers.get('x-intime-call-id')!;
      const judged = await fetch(`${stack.gateway.url}/api/calls/${laterId}/verdict`, {
        method: 'POST', headers: { authorization: `Bearer ${run.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ verdict: 'failed', contract: 'checks', version: 2, violation: 'no citation' }),
      });
      expect(judged.status).toBe(200);
      await stack.admin('POST', `/api/runs/${run.id}/complete`, {});
      await sleep(50);
      await stack.gateway.gateway.otlp!.flush();
      type Span = { spanId: string; parentSpanId?: string; name: string; status: { code: number; message?: string }; attributes: { key: string; value: Record<string, unknown> }[] };
      const spans = collector.received.flatMap((post) => post.body.resourceSpans[0].scopeSpans[0].spans as Span[]);
      const attribute = (span: Span, key: string) => {
        const found = span.attributes.find((candidate) => candidate.key === key)?.value;
        return found && Object.values(found)[0];
      };
      const calls = await callsOf(stack, run.id);
      const costOf = (model: string) => Number(calls.find((call) => call.model === model)!.costUsd);
      const badSpan = spans.find((span) => span.name === 'chat gpt-4o-mini')!;
      expect(attribute(badSpan, 'intime.contract.verdict')).toBe('failed');
      expect(attribute(badSpan, 'intime.contract.name')).toBe('invoice');
      expect(attribute(badSpan, 'intime.contract.violation')).toMatch(/not valid JSON/);
      expect(attribute(badSpan, 'intime.waste_usd')).toBeCloseTo(costOf('gpt-4o-mini'), 12);
      // Settled before the library judged it: its own span says none; the verdict span under it says failed.
      const laterSpan = spans.find((span) => span.name === 'chat gpt-4o')!;
      expect(attribute(laterSpan, 'intime.contract.verdict')).toBe('none');
      expect(attribute(laterSpan, 'intime.attempt')).toBe('2');
      expect(attribute(laterSpan, 'intime.retry_of')).toBe(bad.response.headers.get('x-intime-call-id'));
      const verdictSpan = spans.find((span) => span.name === 'contract verdict checks')!;
      expect(verdictSpan.parentSpanId).toBe(laterSpan.spanId);
      expect(attribute(verdictSpan, 'intime.contract.verdict')).toBe('failed');
      expect(attribute(verdictSpan, 'intime.contract.version')).toBe('2');
      expect(attribute(verdictSpan, 'intime.waste_usd')).toBeCloseTo(costOf('gpt-4o'), 12);
      expect(verdictSpan.status).toEqual({ code: 2, message: 'no citation' });
      // The run's span, sent when it ended, counts both.
      const runSpan = spans.find((span) => span.name === 'run judged')!;
      expect(attribute(runSpan, 'intime.waste_usd')).toBeCloseTo(costOf('gpt-4o-mini') + costOf('gpt-4o'), 12);
      expect(attribute(runSpan, 'intime.contract.failed_calls')).toBe('2');
      expect(attribute(spans.find((span) => span.name === 'step extract')!, 'intime.waste_usd')).toBeCloseTo(costOf('gpt-4o-mini'), 12);
    } finally {
      await stack.close();
      await collector.close();
    }
  });

  it('is off unless configured', async () => {
    const stack = await startStack();
    try {
      expect(stack.gateway.gateway.otlp).toBeUndefined();
    } finally {
      await stack.close();
    }
  });
});

describe('alerts', () => {
  it('a burn-rate anomaly of a project fires once, reaches the webhook Slack-compatible and the dashboard API', async () => {
    const hook = await startReceiver();
    let now = Date.parse('2026-03-02T10:00:00Z');
    const stack = await startStack({
      now: () => now,
      config: (config) => ({
        ...config,
        alerts: { webhook: hook.url, burnRate: { alpha: 0.2, factor: 3, spread: 4, floorUsd: 0, warmupBuckets: 4, quietBuckets: 2, bucketMs: 60_000 } },
      }),
    });
    try {
      const run = await stack.createRun({ project: 'burny' });
      const client = stack.openai(run.token, { maxRetries: 0 });
      const call = () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sim-output-tokens': '40' } });
      for (let minute = 0; minute < 6; minute++) {
        await call();
        now += 60_000;
      }
      const burnAlerts = async () => (await stack.admin<{ alerts: { type: string; scope: string }[] }>('GET', '/api/alerts')).body.alerts.filter((alert) => alert.type === 'burn_rate');
      await sleep(50);
      expect(await burnAlerts()).toEqual([]);
      for (let index = 0; index < 12; index++) await call(); // a dozen times the usual minute
      now += 60_000;
      for (let index = 0; index < 12; index++) await call(); // still burning: the same episode
      await sleep(50);
      const alerts = await burnAlerts();
      expect(alerts).toEqual([expect.objectContaining({ type: 'burn_rate', scope: 'project:burny' })]);
      await expect.poll(() => hook.received.filter((post) => post.body.type === 'alert.burn_rate').length).toBe(1);
      const payload = hook.received.find((post) => post.body.type === 'alert.burn_rate')!.body;
      expect(payload.text).toMatch(/^InTime · Burn-rate anomaly: project:burny is burning about \$[\d.]+\/h/);
      expect(payload.blocks[0]).toMatchObject({ type: 'header' });
      // An operator of another project does not see it.
      const { body: other } = await stack.admin<{ token: string }>('POST', '/api/principals', { name: 'ops-other', role: 'operator', projects: ['other'] });
      const seen = await fetch(`${stack.gateway.url}/api/alerts`, { headers: { authorization: `Bearer ${other.token}` } });
      expect(((await seen.json()) as { alerts: unknown[] }).alerts).toEqual([]);
    } finally {
      await stack.close();
      await hook.close();
    }
  });

  it('a restarted gateway rebuilds burn baselines from the ledger: a burst right after start is caught', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'intime-burn-'));
    const config = { ...defaultConfig(), alerts: { burnRate: { ...DEFAULT_BURN_ANOMALY, floorUsd: 0, bucketMs: 300_000 } } };
    const sim = await startSim({ priceTable: loadPriceTable(config) });
    const start = () => startGateway({ dataDir, config, simUrl: sim.url, adminToken: ADMIN_TOKEN, log: createLogger('silent') });
    const first = await start();
    // Two hours of steady spend in project "steady": one small call every five minutes.
    const now = Date.now();
    for (let index = 24; index >= 1; index--) await first.gateway.ledger.recordCall(pastCall(`call_hist_${index}`, 'steady', now - index * 300_000));
    await first.close();
    const second = await start();
    try {
      const admin = (method: string, path: string, body?: unknown) => fetch(`${second.url}${path}`, {
        method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
      }).then((response) => response.json() as Promise<Record<string, any>>);
      for (const project of ['steady', 'fresh']) {
        const run = await admin('POST', '/api/runs', { project });
        const client = new (await import('openai')).default({ baseURL: `${second.url}/v1`, apiKey: run.token, maxRetries: 0 });
        for (let index = 0; index < 15; index++) {
          await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sim-output-tokens': '40' } });
        }
      }
      await sleep(50);
      const { alerts } = await admin('GET', '/api/alerts');
      // "steady" has a baseline from before the restart; "fresh" is still warming up.
      expect(alerts.map((alert: { scope: string }) => alert.scope)).toEqual(['project:steady']);
    } finally {
      await second.close();
      await sim.close();
    }
  });

  it('a run burning most of its spend on failed outputs raises one silent-burn alert; a run with one failure among passes does not', async () => {
    const hook = await startReceiver();
    const stack = await startStack({ config: (config) => ({ ...config, alerts: { ...config.alerts, webhook: hook.url, waste: { share: 0.5, minFailedCalls: 3, minUsd: 0 } } }) });
    try {
      const extract = (client: ReturnType<Stack['openai']>, output?: string) => client.chat.completions.create({
        model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Read the invoice.' }],
        response_format: { type: 'json_schema', json_schema: { name: 'invoice', schema: INVOICE_SCHEMA } },
      }, { headers: output ? { 'x-sim-output': output } : {} });
      const healthy = await stack.createRun({ project: 'careful' });
      const healthyClient = stack.openai(healthy.token, { maxRetries: 0 });
      await extract(healthyClient, 'malformed');
      for (let index = 0; index < 4; index++) await extract(healthyClient);
      const burning = await stack.createRun({ project: 'burning' });
      const burningClient = stack.openai(burning.token, { maxRetries: 0 });
      await extract(burningClient);
      for (let index = 0; index < 5; index++) await extract(burningClient, index % 2 ? 'malformed' : 'empty-object');
      await sleep(50);
      const { body } = await stack.admin<{ alerts: { type: string; scope: string; project: string; runId: string; message: string; details: { failedCalls: number } }[] }>('GET', '/api/alerts');
      const waste = body.alerts.filter((alert) => alert.type === 'waste');
      expect(waste).toEqual([expect.objectContaining({ scope: `run:${burning.id}`, project: 'burning', runId: burning.id })]);
      // Fired at the third failure (3 of 4 calls' spend), not again at the fourth or fifth.
      expect(waste[0]!.details.failedCalls).toBe(3);
      expect(waste[0]!.message).toMatch(new RegExp(`^run ${burning.id} has spent \\$[\\d.]+ on outputs that failed their contract: \\d+% of its \\$[\\d.]+ \\(3 failed calls\\)$`));
      await expect.poll(() => hook.received.filter((post) => post.body.type === 'alert.waste').length).toBe(1);
      expect(hook.received.find((post) => post.body.type === 'alert.waste')!.body.text).toMatch(/^InTime · Silent burn: run /);
    } finally {
      await stack.close();
      await hook.close();
    }
  });

  it('a soft budget threshold becomes an alert', async () => {
    const stack = await startStack();
    try {
      const run = await stack.createRun({ project: 'thin', budgetUsd: '0.0005' });
      const client = stack.openai(run.token, { maxRetries: 0 });
      for (let index = 0; index < 8; index++) {
        const answer = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sim-output-tokens': '200' } })
          .catch((error: Error) => error.message);
        if (index === 0) expect(answer).not.toBeTypeOf('string');
      }
      const { body: spent } = await stack.admin<{ spentUsd: string }>('GET', `/api/runs/${run.id}`);
      expect(Number(spent.spentUsd)).toBeGreaterThan(0.0004);
      await expect.poll(async () => (await stack.admin<{ alerts: { type: string; scope: string; project: string }[] }>('GET', '/api/alerts')).body.alerts)
        .toContainEqual(expect.objectContaining({ type: 'budget_threshold', scope: `run:${run.id}`, project: 'thin' }));
    } finally {
      await stack.close();
    }
  });
});

describe('the live event stream', () => {
  it('needs a token, and shows each principal only its projects\' runs, with the buttons it may press', async () => {
    const stack = await startStack();
    try {
      const mine = await stack.createRun({ name: 'mine', project: 'alpha' });
      const theirs = await stack.createRun({ name: 'theirs', project: 'beta' });
      const { body: operator } = await stack.admin<{ token: string }>('POST', '/api/principals', { name: 'ops-alpha', role: 'operator', projects: ['alpha'] });
      const { body: viewer } = await stack.admin<{ token: string }>('POST', '/api/principals', { name: 'looker', role: 'viewer' });
      expect((await fetch(`${stack.gateway.url}/api/events`)).status).toBe(401);
      const firstRuns = async (token: string) => {
        const controller = new AbortController();
        const response = await fetch(`${stack.gateway.url}/api/events`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
        expect(response.headers.get('content-type')).toContain('text/event-stream');
        expect(response.headers.get('cache-control')).toBe('no-store');
        const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
        let text = '';
        while (!/event: runs\ndata: .*\n\n/.test(text)) text += (await reader.read()).value ?? '';
        controller.abort();
        const data = /event: runs\ndata: (.*)\n\n/.exec(text)![1]!;
        return (JSON.parse(data) as { runs: { id: string; actions: string[] }[] }).runs;
      };
      const operatorRuns = await firstRuns(operator.token);
      expect(operatorRuns.map((run) => run.id)).toEqual([mine.id]);
      expect(operatorRuns[0]!.actions).toEqual(['stop', 'pause']);
      const viewerRuns = await firstRuns(viewer.token);
      expect(viewerRuns.map((run) => run.id).sort()).toEqual([mine.id, theirs.id].sort());
      expect(viewerRuns.every((run) => run.actions.length === 0)).toBe(true);
    } finally {
      await stack.close();
    }
  });
});

describe('signals config', () => {
  const load = (file: unknown) => {
    const dir = mkdtempSync(join(tmpdir(), 'intime-config-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(file));
    return loadConfig(join(dir, 'config.json'));
  };
  it('reads alerts, metrics and otlp, and refuses nonsense clearly', () => {
    const config = load({ alerts: { burnRate: { factor: 5 }, webhook: 'http://127.0.0.1:9/hook' }, metrics: { public: true }, otlp: { endpoint: 'http://127.0.0.1:4318' } });
    expect(config.alerts.burnRate).toMatchObject({ factor: 5, alpha: 0.1, bucketMs: 300_000 });
    expect(config.metrics.public).toBe(true);
    expect(config.otlp).toMatchObject({ endpoint: 'http://127.0.0.1:4318', serviceName: 'intime' });
    expect(load({ alerts: { burnRate: false } }).alerts.burnRate).toBe(false);
    expect(() => load({ otlp: { endpoint: 'collector:4318' } })).toThrow(/otlp.endpoint must be an http\(s\) URL/);
    expect(() => load({ metrics: { public: 'yes' } })).toThrow(/metrics.public must be true or false/);
    expect(() => load({ alerts: { burnRate: { factor: 'high' } } })).toThrow(/alerts.burnRate.factor must be a non-negative number/);
    expect(() => load({ alerts: { webhook: 'slack' } })).toThrow(/alerts.webhook must be an http\(s\) URL/);
    expect(config.alerts.waste).toBeUndefined();
    expect(load({ alerts: { waste: { share: 0.3 } } }).alerts.waste).toEqual({ share: 0.3, minFailedCalls: 3, minUsd: 0 });
    expect(load({ alerts: { waste: false } }).alerts.waste).toBe(false);
    expect(() => load({ alerts: { waste: { share: 1.5 } } })).toThrow(/alerts.waste.share must be in \[0, 1\]/);
    expect(() => load({ alerts: { waste: { shares: 0.5 } } })).toThrow(/alerts.waste.shares is not a setting/);
    expect(() => load({ alerts: { waste: 'on' } })).toThrow(/alerts.waste must be an object or false/);
  });
});

function pastCall(id: string, project: string, startedAt: number): CallRecord {
  return {
    id, runId: null, keyId: null, project, step: null, agent: null, provider: 'openai', model: 'gpt-4o-mini', protocol: 'openai-chat', stream: false,
    inputTokens: 8, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 40, reasoningTokens: 0, cost: 25_200_000n, estimated: false,
    status: 'ok', httpStatus: 200, errorCode: null, upstreamRequestId: null, startedAt, latencyMs: 20, timeToFirstTokenMs: null,
  };
}
