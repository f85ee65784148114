import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callsOf, startStack, type Stack } from './harness.js';

/** The contract: a JSON document with a name and a count, nothing else. */
const SCHEMA = {
  type: 'object',
  properties: { name: { type: 'string' }, count: { type: 'integer' } },
  required: ['name', 'count'],
  additionalProperties: false,
};
const RESPONSE_FORMAT = { type: 'json_schema' as const, json_schema: { name: 'extract', schema: SCHEMA, strict: true } };
const MESSAGES = [{ role: 'user' as const, content: 'Extract the name and the count from: three apples for Ada.' }];

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    config: (config) => ({
      ...config,
      routing: { policies: { extract: { candidates: ['gpt-4o', 'gpt-4o-mini'], qualityTarget: 0.9, explorationShare: 0 } } },
    }),
  });
});
afterAll(async () => stack?.close());

const usd = (text: string) => Number(text);

describe('intime/auto:<policy> through the OpenAI client', () => {
  it('escalates when the cheap model breaks the contract, records the waste, and says who answered', async () => {
    const run = await stack.createRun({ budgetUsd: '1' });
    const { data, response } = await stack.openai(run.token).chat.completions.create(
      { model: 'intime/auto:extract', messages: MESSAGES, response_format: RESPONSE_FORMAT, max_tokens: 200 },
      { headers: { 'x-sim-fail-models': 'gpt-4o-mini' } },
    ).withResponse();
    const document = JSON.parse(data.choices[0]!.message.content!) as Record<string, unknown>;
    expect(Object.keys(document).sort()).toEqual(['count', 'name']);
    expect(response.headers.get('x-intime-model')).toBe('gpt-4o');
    expect(response.headers.get('x-intime-attempts')).toBe('2');
    expect(response.headers.get('x-intime-verdict')).toBe('passed');
    expect(response.headers.get('x-intime-route-order')).toBe('gpt-4o-mini,gpt-4o');
    const calls = await callsOf(stack, run.id);
    const [wasted, answered] = [calls.find((call) => call.model === 'gpt-4o-mini')!, calls.find((call) => call.model === 'gpt-4o')!];
    expect(wasted).toMatchObject({ status: 'ok', errorCode: 'contract_failed', routePolicy: 'extract' });
    expect(usd(wasted.costUsd)).toBeGreaterThan(0);
    expect(answered).toMatchObject({ status: 'ok', errorCode: null, routePolicy: 'extract' });
    expect(response.headers.get('x-intime-call-id')).toBe(answered.id);
    // The run paid for both attempts.
    const { body: runView } = await stack.admin<{ spentUsd: string }>('GET', `/api/runs/${run.id}`);
    expect(usd(runView.spentUsd)).toBeCloseTo(usd(wasted.costUsd) + usd(answered.costUsd), 12);
  });

  it('delivers the cheap answer at once when it passes', async () => {
    const run = await stack.createRun({ budgetUsd: '1' });
    const { response } = await stack.openai(run.token).chat.completions.create(
      { model: 'intime/auto:extract', messages: MESSAGES, response_format: RESPONSE_FORMAT, max_tokens: 200 },
    ).withResponse();
    expect(response.headers.get('x-intime-model')).toBe('gpt-4o-mini');
    expect(response.headers.get('x-intime-attempts')).toBe('1');
    expect((await callsOf(stack, run.id)).map((call) => call.model)).toEqual(['gpt-4o-mini']);
  });

  it('falls back to the next model when the provider fails (429/5xx), without billing the failure', async () => {
    const run = await stack.createRun({ budgetUsd: '1' });
    const { response } = await stack.openai(run.token, { maxRetries: 0 }).chat.completions.create(
      { model: 'intime/auto:extract', messages: MESSAGES, response_format: RESPONSE_FORMAT, max_tokens: 200 },
      { headers: { 'x-sim-fault': '500', 'x-sim-fault-models': 'gpt-4o-mini' } },
    ).withResponse();
    expect(response.headers.get('x-intime-model')).toBe('gpt-4o');
    const calls = await callsOf(stack, run.id);
    expect(calls.find((call) => call.model === 'gpt-4o-mini')).toMatchObject({ status: 'upstream_error', httpStatus: 500, costUsd: '0' });
  });

  it('stops the cascade with a clear error when the run cannot cover the next attempt, and never overshoots', async () => {
    // Refuse, not clamp: gpt-4o's worst case (200 tokens at $10/M) is more than the $0.0015 left after the first attempt.
    const run = await stack.createRun({ budgetUsd: '0.0015', overflowPolicy: 'refuse' });
    const failure = await stack.openai(run.token, { maxRetries: 0 }).chat.completions.create(
      { model: 'intime/auto:extract', messages: MESSAGES, response_format: RESPONSE_FORMAT, max_tokens: 200 },
      { headers: { 'x-sim-fail-models': 'gpt-4o-mini' } },
    ).then(() => { throw new Error('expected a refusal'); }, (error: unknown) => error as { status: number; code: string; message: string; headers: Headers });
    expect(failure).toMatchObject({ status: 402, code: 'budget_exhausted' });
    // The header names the model whose answer was paid for, not the one the budget refused.
    expect(failure.headers.get('x-intime-model')).toBe('gpt-4o-mini');
    expect(failure.message).toMatch(/cascade of intime\/auto:extract stopped before trying gpt-4o \(attempt 2 of 2\)/);
    const calls = await callsOf(stack, run.id);
    expect(calls.map((call) => [call.model, call.errorCode])).toEqual([['gpt-4o-mini', 'contract_failed']]);
    const { body: runView } = await stack.admin<{ spentUsd: string }>('GET', `/api/runs/${run.id}`);
    expect(usd(runView.spentUsd)).toBeLessThanOrEqual(0.0015);
  });

  it('keeps a clamping run within its budget over many escalating calls', async () => {
    const run = await stack.createRun({ budgetUsd: '0.001' });
    const client = stack.openai(run.token, { maxRetries: 0 });
    let refused = 0;
    for (let index = 0; index < 20; index++) {
      await client.chat.completions.create(
        { model: 'intime/auto:extract', messages: MESSAGES, response_format: RESPONSE_FORMAT, max_tokens: 40 },
        { headers: { 'x-sim-fail-models': 'gpt-4o-mini' } },
      ).catch(() => refused++);
      const { body } = await stack.admin<{ spentUsd: string }>('GET', `/api/runs/${run.id}`);
      expect(usd(body.spentUsd)).toBeLessThanOrEqual(0.001);
    }
    expect(refused).toBeGreaterThan(0);
  });

  it('streams through a routed model (no verdict on a stream, the model still named)', async () => {
    const run = await stack.createRun({ budgetUsd: '1' });
    const { data: stream, response } = await stack.openai(run.token).chat.completions.create(
      { model: 'intime/auto:extract', messages: MESSAGES, stream: true, max_tokens: 30 },
    ).withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text.length).toBeGreaterThan(0);
    expect(response.headers.get('x-intime-model')).toBe('gpt-4o-mini');
    expect(response.headers.get('x-intime-verdict')).toBe('none');
  });

  it('also routes the Responses API, judging text.format', async () => {
    const run = await stack.createRun({ budgetUsd: '1' });
    const { data, response } = await stack.openai(run.token).responses.create(
      { model: 'intime/auto:extract', input: 'three apples for Ada', text: { format: { type: 'json_schema', name: 'extract', schema: SCHEMA, strict: true } }, max_output_tokens: 200 },
      { headers: { 'x-sim-fail-models': 'gpt-4o-mini' } },
    ).withResponse();
    expect(Object.keys(JSON.parse(data.output_text) as object).sort()).toEqual(['count', 'name']);
    expect(response.headers.get('x-intime-model')).toBe('gpt-4o');
  });

  it('refuses an unknown policy by name', async () => {
    const run = await stack.createRun({ budgetUsd: '1' });
    const error = await stack.openai(run.token).chat.completions.create({ model: 'intime/auto:nope', messages: MESSAGES })
      .then(() => { throw new Error('expected a refusal'); }, (failure: unknown) => failure as { status: number; message: string });
    expect(error).toMatchObject({ status: 404 });
    expect(error.message).toMatch(/no routing policy "nope"/);
  });
});

describe('intime/auto:<policy> through the Anthropic client', () => {
  it('escalates on a forced tool whose input breaks its schema', async () => {
    const put = await stack.admin('PUT', '/api/routing-policies/tool-stage', {
      candidates: ['claude-3-5-sonnet-latest', 'claude-3-5-haiku-latest'], qualityTarget: 0.9, explorationShare: 0,
    });
    expect(put.status).toBe(200);
    const run = await stack.createRun({ budgetUsd: '1' });
    const { data, response } = await stack.anthropic(run.token).messages.create({
      model: 'intime/auto:tool-stage', max_tokens: 300, messages: MESSAGES,
      tools: [{ name: 'record', description: 'record the extraction', input_schema: SCHEMA as never }],
      tool_choice: { type: 'tool', name: 'record' },
    }, { headers: { 'x-sim-fail-models': 'claude-3-5-haiku-latest' } }).withResponse();
    const use = data.content.find((block) => block.type === 'tool_use');
    expect(Object.keys(use!.input as object).sort()).toEqual(['count', 'name']);
    expect(response.headers.get('x-intime-model')).toBe('claude-3-5-sonnet-latest');
    const calls = await callsOf(stack, run.id);
    expect(calls.map((call) => [call.model, call.errorCode])).toEqual(expect.arrayContaining([
      ['claude-3-5-haiku-latest', 'contract_failed'], ['claude-3-5-sonnet-latest', null],
    ]));
  });
});

describe('learning and the policies API', () => {
  it('learns from failures to skip a cheap model that keeps breaking the contract', async () => {
    await stack.admin('PUT', '/api/routing-policies/learner', { candidates: ['gpt-4o-mini', 'gpt-4o'], qualityTarget: 0.8, explorationShare: 0 });
    const run = await stack.createRun({ budgetUsd: '5' });
    const client = stack.openai(run.token);
    const answeredBy: string[] = [];
    for (let index = 0; index < 30; index++) {
      const { response } = await client.chat.completions.create(
        { model: 'intime/auto:learner', messages: MESSAGES, response_format: RESPONSE_FORMAT, max_tokens: 200 },
        { headers: { 'x-sim-fail-models': 'gpt-4o-mini' } },
      ).withResponse();
      answeredBy.push(response.headers.get('x-intime-route-order')!);
    }
    expect(answeredBy[0]).toBe('gpt-4o-mini,gpt-4o');
    expect(answeredBy.at(-1)).toBe('gpt-4o');
    const { body } = await stack.admin<{ order: string[]; stats: { model: string; failed: number; passed: number }[] }>('GET', '/api/routing-policies/learner');
    expect(body.order).toEqual(['gpt-4o']);
    expect(body.stats.find((entry) => entry.model === 'gpt-4o-mini')!.passed).toBe(0);
    expect(body.stats.find((entry) => entry.model === 'gpt-4o-mini')!.failed).toBeGreaterThanOrEqual(5);
  });

  it('validates policies and lists config and API ones', async () => {
    const bad = await stack.admin<{ error: { message: string } }>('PUT', '/api/routing-policies/bad', { candidates: ['no-such-model'] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/no-such-model has no price/);
    const target = await stack.admin('PUT', '/api/routing-policies/bad', { candidates: ['gpt-4o'], qualityTarget: 2 });
    expect(target.status).toBe(400);
    const configured = await stack.admin('PUT', '/api/routing-policies/extract', { candidates: ['gpt-4o'] });
    expect(configured.status).toBe(400);
    const { body } = await stack.admin<{ policies: { name: string; source: string }[] }>('GET', '/api/routing-policies');
    expect(body.policies.map((policy) => [policy.name, policy.source])).toEqual(expect.arrayContaining([['extract', 'config'], ['learner', 'api']]));
    expect((await stack.admin('DELETE', '/api/routing-policies/learner')).status).toBe(200);
    expect((await stack.admin('GET', '/api/routing-policies/learner')).status).toBe(404);
  });
});
