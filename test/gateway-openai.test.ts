import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUsd } from '../src/core/money.js';
import { callsOf, startStack, type Stack } from './harness.js';

// gpt-4o-mini list prices in pico-dollars per token: $0.15 / $0.60 per million.
const INPUT = 150_000n;
const OUTPUT = 600_000n;
const expectedCost = (prompt: number, completion: number) => formatUsd(BigInt(prompt) * INPUT + BigInt(completion) * OUTPUT);

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

describe('OpenAI clients through the gateway', () => {
  it('chat completions, not streamed: ledger equals the usage the client saw, cost exact', async () => {
    const run = await stack.createRun({ name: 'chat' });
    const client = stack.openai(run.token);
    const completion = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Count the clocks in the tower.' }] },
      { headers: { 'x-sim-output-tokens': '37', 'x-intime-step': 'count' } },
    );
    expect(completion.usage!.completion_tokens).toBe(37);
    const [call] = await callsOf(stack, run.id);
    expect(call).toMatchObject({
      model: 'gpt-4o-mini', step: 'count', status: 'ok', estimated: false, stream: false,
      inputTokens: completion.usage!.prompt_tokens, outputTokens: 37,
      costUsd: expectedCost(completion.usage!.prompt_tokens, 37),
    });
  });

  it('chat completions, streamed with include_usage: the usage chunk reaches the client and matches the ledger', async () => {
    const run = await stack.createRun();
    const stream = await stack.openai(run.token).chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Tick.' }] },
      { headers: { 'x-sim-output-tokens': '50' } },
    );
    let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
    let text = '';
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(usage?.completion_tokens).toBe(50);
    expect(text.length).toBeGreaterThan(0);
    const [call] = await callsOf(stack, run.id);
    expect(call).toMatchObject({ stream: true, estimated: false, inputTokens: usage!.prompt_tokens, outputTokens: 50, costUsd: expectedCost(usage!.prompt_tokens, 50) });
  });

  it('chat completions, streamed without include_usage: metered exactly, and the client gets no usage chunk it did not ask for', async () => {
    const run = await stack.createRun();
    const stream = await stack.openai(run.token).chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Tock.' }] },
      { headers: { 'x-sim-output-tokens': '21' } },
    );
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.some((chunk) => chunk.usage)).toBe(false);
    expect(chunks.every((chunk) => chunk.choices.length > 0)).toBe(true);
    const [call] = await callsOf(stack, run.id);
    expect(call).toMatchObject({ estimated: false, outputTokens: 21 });
    expect(call!.costUsd).toBe(expectedCost(call!.inputTokens, 21));
  });

  it('responses, not streamed and streamed', async () => {
    const run = await stack.createRun();
    const client = stack.openai(run.token);
    const response = await client.responses.create(
      { model: 'gpt-4o-mini', input: 'What time is it?' },
      { headers: { 'x-sim-output-tokens': '12' } },
    );
    expect(response.usage!.output_tokens).toBe(12);
    const stream = await client.responses.create(
      { model: 'gpt-4o-mini', input: [{ role: 'user', content: 'And now?' }], stream: true },
      { headers: { 'x-sim-output-tokens': '33' } },
    );
    let streamedUsage: { input_tokens: number; output_tokens: number } | undefined;
    for await (const event of stream) if (event.type === 'response.completed') streamedUsage = event.response.usage!;
    expect(streamedUsage?.output_tokens).toBe(33);
    const calls = await callsOf(stack, run.id);
    expect(calls.map((call) => [call.inputTokens, call.outputTokens, call.costUsd, call.estimated])).toEqual([
      [response.usage!.input_tokens, 12, expectedCost(response.usage!.input_tokens, 12), false],
      [streamedUsage!.input_tokens, 33, expectedCost(streamedUsage!.input_tokens, 33), false],
    ]);
  });

  it('tool calls pass through and their tokens are billed', async () => {
    const run = await stack.createRun();
    const completion = await stack.openai(run.token).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Find order 7.' }],
      tools: [{ type: 'function', function: { name: 'lookup_order', parameters: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } } }],
      tool_choice: 'required',
    });
    expect(completion.choices[0]!.message.tool_calls?.[0]).toMatchObject({ type: 'function', function: { name: 'lookup_order' } });
    const [call] = await callsOf(stack, run.id);
    expect(call!.outputTokens).toBe(completion.usage!.completion_tokens);
    expect(call!.outputTokens).toBeGreaterThan(0);
  });

  it('shows the run with its totals', async () => {
    const run = await stack.createRun({ name: 'totals', budgetUsd: '2.5' });
    const client = stack.openai(run.token);
    for (let i = 0; i < 3; i++) {
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `call ${i}` }] }, { headers: { 'x-sim-output-tokens': '10' } });
    }
    const { body } = await stack.admin<Record<string, unknown>>('GET', `/api/runs/${run.id}`);
    expect(body).toMatchObject({ id: run.id, name: 'totals', state: 'running', calls: 3, outputTokens: 30, budgetUsd: '2.5' });
    const calls = await callsOf(stack, run.id);
    const total = calls.reduce((sum, call) => sum + BigInt(call.inputTokens) * INPUT + BigInt(call.outputTokens) * OUTPUT, 0n);
    expect(body.spentUsd).toBe(formatUsd(total));
  });
});
