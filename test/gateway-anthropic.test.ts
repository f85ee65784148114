import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUsd } from '../src/core/money.js';
import { callsOf, startStack, type Stack } from './harness.js';

// claude-haiku-4-5: $1 / $5 per million tokens, in pico-dollars per token.
const expectedCost = (input: number, output: number) => formatUsd(BigInt(input) * 1_000_000n + BigInt(output) * 5_000_000n);

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

describe('Anthropic client through the gateway', () => {
  it('messages.create: ledger equals the usage the client saw, cost exact', async () => {
    const run = await stack.createRun();
    const message = await stack.anthropic(run.token).messages.create(
      { model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Wind the clock.' }] },
      { headers: { 'x-sim-output-tokens': '44', 'x-intime-step': 'wind' } },
    );
    expect(message.usage.output_tokens).toBe(44);
    const [call] = await callsOf(stack, run.id);
    expect(call).toMatchObject({
      model: 'claude-haiku-4-5', step: 'wind', status: 'ok', estimated: false,
      inputTokens: message.usage.input_tokens, outputTokens: 44, costUsd: expectedCost(message.usage.input_tokens, 44),
    });
  });

  it('messages.stream: final usage matches the ledger', async () => {
    const run = await stack.createRun();
    const stream = stack.anthropic(run.token).messages.stream(
      { model: 'claude-haiku-4-5', max_tokens: 200, messages: [{ role: 'user', content: 'Stream the seconds.' }] },
      { headers: { 'x-sim-output-tokens': '120' } },
    );
    const final = await stream.finalMessage();
    expect(final.usage.output_tokens).toBe(120);
    const [call] = await callsOf(stack, run.id);
    expect(call).toMatchObject({ stream: true, estimated: false, inputTokens: final.usage.input_tokens, outputTokens: 120, costUsd: expectedCost(final.usage.input_tokens, 120) });
  });

  it('tool_use, streamed: the tool call arrives whole and is billed', async () => {
    const run = await stack.createRun();
    const stream = stack.anthropic(run.token).messages.stream({
      model: 'claude-haiku-4-5', max_tokens: 200,
      tools: [{ name: 'send_email', input_schema: { type: 'object', properties: { to: { type: 'string' } }, required: ['to'] } }],
      tool_choice: { type: 'any' },
      messages: [{ role: 'user', content: 'Email the team.' }],
    });
    const final = await stream.finalMessage();
    expect(final.content.find((block) => block.type === 'tool_use')).toMatchObject({ name: 'send_email' });
    const [call] = await callsOf(stack, run.id);
    expect(call!.outputTokens).toBe(final.usage.output_tokens);
  });
});
