import { createServer, type Server } from 'node:http';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUsd, parseUsd } from '../src/core/money.js';
import { callsOf, sleep, startStack, type Stack } from './harness.js';

let stack: Stack;
let clock = Date.now();
const webhookHits: Record<string, unknown>[] = [];
let receiver: Server;
let receiverUrl: string;

beforeAll(async () => {
  receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      webhookHits.push(JSON.parse(body) as Record<string, unknown>);
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
  stack = await startStack({ now: () => clock });
});
afterAll(async () => {
  await stack.close();
  receiver.close();
});

interface RunView { spentUsd: string; reservedUsd: string; remainingUsd: string | null; budgetUsd: string | null; state: string; endedReason: string | null; calls: number }
const runView = async (id: string) => (await stack.admin<RunView>('GET', `/api/runs/${id}`)).body;

/** The ledger's own sum for a run, independently of the clock. */
async function ledgerSum(runId: string): Promise<bigint> {
  return (await callsOf(stack, runId)).reduce((sum, call) => sum + parseUsd(call.costUsd), 0n);
}

async function expectNoLeak(runId: string) {
  const view = await runView(runId);
  expect(view.reservedUsd).toBe('0');
  const settled = await ledgerSum(runId);
  expect(view.spentUsd).toBe(formatUsd(settled));
  expect(view.remainingUsd).toBe(formatUsd(parseUsd(view.budgetUsd!) - settled));
  return view;
}

// One gpt-4o-mini call here: ~10 prompt tokens and 100 output tokens, about $0.0000615.
const ONE_CALL = 0.0000615;

describe('overshoot is zero under concurrency', () => {
  it('256 concurrent streams from both official clients against a run budget worth about 20: settled <= budget to the unit', async () => {
    const budget = (ONE_CALL * 20).toFixed(7);
    const run = await stack.createRun({ budgetUsd: budget });
    const openai = stack.openai(run.token);
    const anthropic = stack.anthropic(run.token);
    const outcomes = await Promise.all(Array.from({ length: 256 }, async (_, index) => {
      try {
        if (index % 2 === 0) {
          const stream = await openai.chat.completions.create(
            { model: 'gpt-4o-mini', stream: true, max_tokens: 100, messages: [{ role: 'user', content: `call ${index}` }] },
            { headers: { 'x-sim-output-tokens': '100', 'x-sim-tokens-per-second': '2000' } });
          for await (const chunk of stream) void chunk;
        } else {
          await anthropic.messages.stream(
            { model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: `call ${index}` }] },
            { headers: { 'x-sim-output-tokens': '100', 'x-sim-tokens-per-second': '2000' } }).finalMessage();
        }
        return 'ok';
      } catch (error) {
        const status = (error as { status?: number }).status;
        const code = index % 2 === 0 ? (error as { code?: string }).code : (error as { error?: { error?: { code?: string } } }).error?.error?.code;
        return `${status} ${code}`;
      }
    }));
    const refused = outcomes.filter((outcome) => outcome !== 'ok');
    expect(new Set(refused), JSON.stringify([...new Set(refused)])).toEqual(new Set(['402 budget_exhausted']));
    expect(outcomes.filter((outcome) => outcome === 'ok').length).toBeGreaterThanOrEqual(15);
    const settled = await ledgerSum(run.id);
    expect(settled <= parseUsd(budget)).toBe(true);
    const view = await expectNoLeak(run.id);
    expect(view.state).toBe('exhausted');
    expect(view.endedReason).toBe('budget_exhausted');
  });

  it('a key budget shared by several runs is never overshot either', async () => {
    const { body: key } = await stack.admin<{ id: string }>('POST', '/api/keys', { name: 'shared' });
    const budget = (ONE_CALL * 20).toFixed(7);
    expect((await stack.admin('PUT', '/api/budgets', { scope: `key:${key.id}`, budgetUsd: budget })).status).toBe(200);
    const runs = await Promise.all(Array.from({ length: 4 }, () => stack.createRun({ key: key.id })));
    const outcomes = await Promise.all(Array.from({ length: 256 }, async (_, index) => {
      const client = stack.openai(runs[index % 4]!.token);
      try {
        const stream = await client.chat.completions.create(
          { model: 'gpt-4o-mini', stream: true, max_tokens: 100, messages: [{ role: 'user', content: `call ${index}` }] },
          { headers: { 'x-sim-output-tokens': '100' } });
        for await (const chunk of stream) void chunk;
        return 'ok';
      } catch (error) {
        return `${(error as { status?: number }).status} ${(error as { code?: string }).code}`;
      }
    }));
    expect(new Set(outcomes.filter((outcome) => outcome !== 'ok'))).toEqual(new Set(['402 budget_exhausted']));
    let settled = 0n;
    for (const run of runs) settled += await ledgerSum(run.id);
    expect(settled > 0n && settled <= parseUsd(budget)).toBe(true);
    const { body } = await stack.admin<{ budgets: { scope: string; spentUsd: string; reservedUsd: string }[] }>('GET', '/api/budgets');
    const keyBudget = body.budgets.find((entry) => entry.scope === `key:${key.id}`)!;
    expect(keyBudget).toMatchObject({ spentUsd: formatUsd(settled), reservedUsd: '0' });
  });
});

describe('errors agents understand', () => {
  it('the official clients, with their default retries, send a budget-refused call exactly once', async () => {
    const run = await stack.createRun({ budgetUsd: '0.0000001' });
    let requests = 0;
    const count = () => requests++;
    stack.gateway.server.on('request', count);
    try {
      const openAiError = await stack.openai(run.token).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
      expect(openAiError).toBeInstanceOf(OpenAI.APIError);
      expect(openAiError).toMatchObject({ status: 402, code: 'budget_exhausted' });
      expect(requests).toBe(1);
      const anthropicError = await stack.anthropic(run.token).messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
      expect(anthropicError).toBeInstanceOf(Anthropic.APIError);
      expect((anthropicError as InstanceType<typeof Anthropic.APIError>).status).toBe(402);
      expect((anthropicError as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'budget_exhausted', code: 'budget_exhausted' } });
      expect(requests).toBe(2);
      const raw = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${run.token}` }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }),
      });
      expect(raw.headers.get('x-should-retry')).toBe('false');
    } finally {
      stack.gateway.server.off('request', count);
    }
    expect(stack.sim.stats().byPath['/v1/chat/completions'] ?? 0).toBeGreaterThan(0); // the sim is live; it just never saw these
  });

  it('every response carries the clock in headers', async () => {
    const run = await stack.createRun({ budgetUsd: '1' });
    const { response } = await stack.openai(run.token).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    const spent = response.headers.get('x-intime-spent-usd')!;
    expect(parseUsd(spent)).toBeGreaterThan(0n);
    expect(parseUsd(response.headers.get('x-intime-remaining-usd')!)).toBe(parseUsd('1') - parseUsd(spent));
    expect(response.headers.get('x-intime-cost-usd')).toBe(spent);
  });

  it('distinct codes for tokens and calls budgets', async () => {
    const tokens = await stack.createRun({ budgetTokens: 5 });
    await expect(stack.openai(tokens.token).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a long enough prompt' }] }))
      .rejects.toMatchObject({ status: 402, code: 'tokens_exhausted' });
    const calls = await stack.createRun({ maxCalls: 1 });
    const client = stack.openai(calls.token);
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'one' }] });
    await expect(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'two' }] }))
      .rejects.toMatchObject({ status: 402, code: 'calls_exhausted' });
  });
});

describe('clamping', () => {
  it('a call whose max output would overshoot is clamped and succeeds within the budget', async () => {
    // Room for the prompt and about 50 output tokens, not the 1000 asked for.
    const run = await stack.createRun({ budgetUsd: '0.00004' });
    const completion = await stack.openai(run.token).chat.completions.create(
      { model: 'gpt-4o-mini', max_tokens: 1000, messages: [{ role: 'user', content: 'Write a lot.' }] },
      { headers: { 'x-sim-output-tokens': '1000' } });
    expect(completion.choices[0]!.finish_reason).toBe('length');
    expect(completion.usage!.completion_tokens).toBeGreaterThan(20);
    expect(completion.usage!.completion_tokens).toBeLessThan(66);
    const view = await expectNoLeak(run.id);
    expect(parseUsd(view.spentUsd) <= parseUsd('0.00004')).toBe(true);
  });

  it('with the refuse policy the same call is refused, and a call without max tokens under a budget is capped', async () => {
    const refusing = await stack.createRun({ budgetUsd: '0.00004', overflowPolicy: 'refuse' });
    await expect(stack.openai(refusing.token).chat.completions.create(
      { model: 'gpt-4o-mini', max_tokens: 1000, messages: [{ role: 'user', content: 'Write a lot.' }] }))
      .rejects.toMatchObject({ status: 402, code: 'budget_exhausted' });
    expect((await runView(refusing.id)).state).toBe('running'); // refusing one large call does not end the run
    const uncapped = await stack.createRun({ budgetUsd: '0.00004' });
    const response = await stack.anthropic(uncapped.token).messages.create(
      { model: 'gpt-4o-mini', max_tokens: 16_000, messages: [{ role: 'user', content: 'Go on.' }] }, { headers: { 'x-sim-output-tokens': '5000' } });
    expect(response.stop_reason).toBe('max_tokens');
    await expectNoLeak(uncapped.id);
  });
});

describe('no leaked reservation on any exit path', () => {
  it('success, upstream 500, disconnect mid-stream, client abort', async () => {
    const run = await stack.createRun({ budgetUsd: '1' });
    const client = stack.openai(run.token, { maxRetries: 0 });
    const messages = [{ role: 'user' as const, content: 'paths' }];
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    await expectNoLeak(run.id);
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages }, { headers: { 'x-sim-fault': '500' } }).catch(() => undefined);
    await expectNoLeak(run.id);
    const cut = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true }, { headers: { 'x-sim-fault': 'disconnect-mid-stream' } });
    await (async () => { for await (const chunk of cut) void chunk; })().catch(() => undefined);
    await expectNoLeak(run.id);
    const slow = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true },
      { headers: { 'x-sim-output-tokens': '500', 'x-sim-tokens-per-second': '100' } });
    let received = 0;
    for await (const chunk of slow) if (++received === 5) { slow.controller.abort(); void chunk; break; }
    for (let i = 0; i < 50 && (await callsOf(stack, run.id)).length < 4; i++) await sleep(10);
    await expectNoLeak(run.id);
    expect((await callsOf(stack, run.id)).map((call) => call.status)).toEqual(['ok', 'upstream_error', 'failed', 'client_aborted']);
  });

  it('a deadline cuts the stream in flight with the protocol\'s error event, bills what was delivered, and refuses later calls', async () => {
    const run = await stack.createRun({ budgetUsd: '1', deadlineMs: 600 });
    const client = stack.openai(run.token, { maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'long' }] },
      { headers: { 'x-sim-output-tokens': '5000', 'x-sim-tokens-per-second': '100' } });
    let received = 0;
    const error = await (async () => { for await (const chunk of stream) if (chunk.choices[0]?.delta.content) received++; })().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'deadline_exceeded' });
    expect(received).toBeGreaterThan(10);
    const [call] = await callsOf(stack, run.id);
    expect(call).toMatchObject({ status: 'cut', errorCode: 'deadline_exceeded', estimated: true });
    expect(Math.abs(call!.outputTokens - received)).toBeLessThanOrEqual(1);
    await expect(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'more' }] }))
      .rejects.toMatchObject({ status: 402, code: 'deadline_exceeded' });
    const view = await expectNoLeak(run.id);
    expect(view).toMatchObject({ state: 'exhausted', endedReason: 'deadline_exceeded' });
  });
});

describe('sub-agents', () => {
  it('a child run draws from its parent\'s budget, capped by its own; the parent\'s clock includes the child', async () => {
    const parent = await stack.createRun({ budgetUsd: '0.0002' });
    const child = await stack.createRun({ parent: parent.id, budgetUsd: '0.00015' });
    const childClient = stack.openai(child.token);
    const call = () => childClient.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'sub' }] }, { headers: { 'x-sim-output-tokens': '100' } });
    let refusal: unknown;
    for (let i = 0; i < 5 && !refusal; i++) await call().catch((error: unknown) => (refusal = error));
    expect(refusal).toMatchObject({ status: 402, code: 'budget_exhausted' }); // the child's own cap
    const childSpent = await ledgerSum(child.id);
    expect(childSpent <= parseUsd('0.00015')).toBe(true);
    expect((await callsOf(stack, child.id)).length).toBe(3); // two whole calls and a clamped third
    const parentView = await runView(parent.id);
    expect(parentView.spentUsd).toBe(formatUsd(childSpent));
    // The parent pays for itself from what is left, then runs out, and takes its children with it.
    const parentClient = stack.openai(parent.token);
    await parentClient.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'p' }] }, { headers: { 'x-sim-output-tokens': '40' } }).catch(() => undefined);
    const total = childSpent + (await ledgerSum(parent.id));
    expect(total <= parseUsd('0.0002')).toBe(true);
  });
});

describe('windows and soft thresholds', () => {
  it('a daily key budget fires its soft-threshold webhook once, and starts over the next day', async () => {
    const { body: key } = await stack.admin<{ id: string; key: string }>('POST', '/api/keys', { name: 'daily' });
    const scope = `key:${key.id}`;
    await stack.admin('PUT', '/api/budgets', { scope, budgetUsd: (ONE_CALL * 10).toFixed(7), window: 'day', webhook: receiverUrl });
    const client = stack.openai(key.key, { maxRetries: 0 });
    const call = () => client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'd' }] }, { headers: { 'x-sim-output-tokens': '100' } });
    for (let i = 0; i < 12; i++) await call().catch(() => undefined);
    await sleep(200);
    const hits = webhookHits.filter((hit) => hit.scope === scope);
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ type: 'budget.soft_threshold', dimension: 'money', text: expect.stringContaining('soft threshold') });
    await expect(call()).rejects.toMatchObject({ code: 'budget_exhausted' });
    clock += 24 * 3600 * 1000; // the next UTC day
    await expect(call()).resolves.toBeTruthy();
    for (let i = 0; i < 9; i++) await call().catch(() => undefined);
    await sleep(200);
    expect(webhookHits.filter((hit) => hit.scope === scope)).toHaveLength(2);
  });
});
