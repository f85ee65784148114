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
    expect(response.headers.get('x-intime-contract-verdict')).toBe('passed');
    expect(response.headers.get('x-intime-route-order')).toBe('gpt-4o-mini,gpt-4o');
    const calls = await callsOf(stack, run.id);
    const [wasted, answered] = [calls.find((call) => call.model === 'gpt-4o-mini')!, calls.find((call) => call.model === 'gpt-4o')!];
    // The failed attempt carries the contract's verdict, so issue 5's waste accounting counts it.
    expect(wasted).toMatchObject({ status: 'ok', errorCode: null, routePolicy: 'extract', attempt: 1, contract: { verdict: 'failed', name: 'extract' } });
    expect(wasted.contract.violation).toMatch(/not valid JSON/);
    expect(usd(wasted.costUsd)).toBeGreaterThan(0);
    expect(answered).toMatchObject({ status: 'ok', errorCode: null, routePolicy: 'extract', attempt: 2, retryOf: wasted.id, contract: { verdict: 'passed', name: 'extract' } });
    expect(response.headers.get('x-intime-call-id')).toBe(answered.id);
    expect(usd(response.headers.get('x-intime-route-spent-usd')!)).toBeCloseTo(usd(wasted.costUsd) + usd(answered.costUsd), 12);
    // The run paid for both attempts; the failed one is its waste.
    const { body: runView } = await stack.admin<{ spentUsd: string; wastedUsd: string }>('GET', `/api/runs/${run.id}`);
    expect(usd(runView.spentUsd)).toBeCloseTo(usd(wasted.costUsd) + usd(answered.costUsd), 12);
    expect(runView.wastedUsd).toBe(wasted.costUsd);
    const waste = await stack.admin<{ rows: { group: string; wastedUsd: string; failedCalls: number; retries: number }[] }>('GET', `/api/waste?by=model&run=${run.id}`);
    expect(waste.body.rows).toEqual(expect.arrayContaining([
      expect.objectContaining({ group: 'gpt-4o-mini', wastedUsd: wasted.costUsd, failedCalls: 1, retries: 0 }),
      expect.objectContaining({ group: 'gpt-4o', wastedUsd: '0', failedCalls: 0, retries: 1 }),
    ]));
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
    expect(calls.map((call) => [call.model, call.contract.verdict])).toEqual([['gpt-4o-mini', 'failed']]);
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

  it('streams through a routed model (no escalation on a stream, the model still named)', async () => {
    const run = await stack.createRun({ budgetUsd: '1' });
    const { data: stream, response } = await stack.openai(run.token).chat.completions.create(
      { model: 'intime/auto:extract', messages: MESSAGES, stream: true, max_tokens: 30 },
    ).withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text.length).toBeGreaterThan(0);
    expect(response.headers.get('x-intime-model')).toBe('gpt-4o-mini');
    expect(response.headers.get('x-intime-contract-verdict')).toBeNull();
  });

  it('judges a routed stream at its end: the verdict is on the ledger', async () => {
    const run = await stack.createRun({ budgetUsd: '1' });
    const { data: stream, response } = await stack.openai(run.token).chat.completions.create(
      { model: 'intime/auto:extract', messages: MESSAGES, response_format: RESPONSE_FORMAT, stream: true, max_tokens: 200 },
    ).withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(Object.keys(JSON.parse(text) as object).sort()).toEqual(['count', 'name']);
    expect(response.headers.get('x-intime-contract-verdict')).toBe('pending');
    const calls = await callsOf(stack, run.id);
    expect(calls.map((call) => [call.model, call.contract.verdict, call.routePolicy])).toEqual([['gpt-4o-mini', 'passed', 'extract']]);
  });

  it('escalates on a registered contract named by x-intime-contract, and records its version', async () => {
    const registered = await stack.admin('POST', '/api/contracts', { name: 'routed-person', schema: SCHEMA });
    expect(registered.status).toBe(201);
    const run = await stack.createRun({ budgetUsd: '1' });
    // No schema in the request: the sim answers the scripted document, hollowed to {} by the cheap model only.
    const { data, response } = await stack.openai(run.token).chat.completions.create(
      { model: 'intime/auto:extract', messages: MESSAGES, max_tokens: 200 },
      { headers: { 'x-intime-contract': 'routed-person', 'x-sim-output-json': '{"name":"Ada","count":3}', 'x-sim-output': 'empty-object', 'x-sim-fault-models': 'gpt-4o-mini' } },
    ).withResponse();
    expect(JSON.parse(data.choices[0]!.message.content!)).toEqual({ name: 'Ada', count: 3 });
    expect(response.headers.get('x-intime-model')).toBe('gpt-4o');
    expect(response.headers.get('x-intime-contract')).toBe('routed-person%401');
    const calls = await callsOf(stack, run.id);
    expect(calls.map((call) => [call.model, call.contract.verdict, call.contract.name, call.contract.version])).toEqual(expect.arrayContaining([
      ['gpt-4o-mini', 'failed', 'routed-person', 1], ['gpt-4o', 'passed', 'routed-person', 1],
    ]));
    expect(calls.find((call) => call.model === 'gpt-4o-mini')!.contract.violation).toMatch(/required/);
  });

  it('refuses a routed call naming an unknown contract before any attempt is paid for', async () => {
    const run = await stack.createRun({ budgetUsd: '1' });
    const error = await stack.openai(run.token, { maxRetries: 0 }).chat.completions.create(
      { model: 'intime/auto:extract', messages: MESSAGES }, { headers: { 'x-intime-contract': 'no-such-contract' } },
    ).then(() => { throw new Error('expected a refusal'); }, (failure: unknown) => failure as { status: number; message: string });
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/no contract "no-such-contract"/);
    expect(await callsOf(stack, run.id)).toEqual([]);
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
    expect(calls.map((call) => [call.model, call.contract.verdict, call.contract.name])).toEqual(expect.arrayContaining([
      ['claude-3-5-haiku-latest', 'failed', 'tool:record'], ['claude-3-5-sonnet-latest', 'passed', 'tool:record'],
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
