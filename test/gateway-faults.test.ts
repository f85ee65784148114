import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countPromptTokens } from '../src/core/tokenizer.js';
import { callsOf, startStack, type Stack } from './harness.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

const messages = [{ role: 'user' as const, content: 'Something will go wrong.' }];
const fault = (kind: string, outputTokens = 40) => ({ headers: { 'x-sim-fault': kind, 'x-sim-output-tokens': String(outputTokens) } });

async function onlyCall(runId: string) {
  const calls = await callsOf(stack, runId);
  expect(calls).toHaveLength(1);
  return calls[0]!;
}

describe('simulated upstream faults, metered and answered in the provider\'s shape', () => {
  it('429: the client sees a RateLimitError; nothing is billed', async () => {
    const run = await stack.createRun();
    const error = await stack.openai(run.token, { maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages }, fault('429')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(await onlyCall(run.id)).toMatchObject({ status: 'upstream_error', httpStatus: 429, costUsd: '0', outputTokens: 0 });
  });

  it('500: OpenAI and Anthropic clients see their server error class; nothing is billed', async () => {
    const run = await stack.createRun();
    const openAiError = await stack.openai(run.token, { maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages }, fault('500')).catch((e: unknown) => e);
    expect(openAiError).toBeInstanceOf(OpenAI.InternalServerError);
    const anthropicError = await stack.anthropic(run.token, { maxRetries: 0 }).messages.create({ model: 'claude-haiku-4-5', max_tokens: 50, messages }, fault('500')).catch((e: unknown) => e);
    expect(anthropicError).toBeInstanceOf(Anthropic.InternalServerError);
    const calls = await callsOf(stack, run.id);
    expect(calls.map((call) => [call.status, call.httpStatus, call.costUsd])).toEqual([['upstream_error', 500, '0'], ['upstream_error', 500, '0']]);
  });

  it('disconnect mid-stream: the stream ends with the protocol\'s error event and what was delivered is billed', async () => {
    const run = await stack.createRun();
    const stream = await stack.openai(run.token, { maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true }, fault('disconnect-mid-stream', 40));
    let received = 0;
    const error = await (async () => {
      for await (const chunk of stream) if (chunk.choices[0]?.delta.content) received++;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('upstream_disconnected');
    expect(received).toBe(20);
    expect(await onlyCall(run.id)).toMatchObject({ status: 'failed', errorCode: 'upstream_disconnected', estimated: true, outputTokens: 20 });
  });

  it('disconnect mid-stream, Anthropic: the SDK raises from the error event', async () => {
    const run = await stack.createRun();
    const stream = stack.anthropic(run.token, { maxRetries: 0 }).messages.stream({ model: 'claude-haiku-4-5', max_tokens: 100, messages }, fault('disconnect-mid-stream', 40));
    const error = await stream.finalMessage().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    const call = await onlyCall(run.id);
    expect(call).toMatchObject({ status: 'failed', estimated: true, outputTokens: 20 });
  });

  it('disconnect before a non-streamed answer: a 502 in OpenAI\'s shape, not retried, nothing billed', async () => {
    const run = await stack.createRun();
    const error = await stack.openai(run.token, { maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages }, fault('disconnect-mid-stream')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect(await onlyCall(run.id)).toMatchObject({ status: 'failed', costUsd: '0' });
  });

  it('no usage from the upstream: counted with the tokenizer and marked estimated, streamed or not', async () => {
    const run = await stack.createRun();
    const client = stack.openai(run.token);
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages }, fault('no-usage', 31));
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true }, fault('no-usage', 17));
    for await (const chunk of stream) void chunk;
    const anthropicStream = stack.anthropic(run.token).messages.stream({ model: 'claude-haiku-4-5', max_tokens: 100, messages }, fault('no-usage', 9));
    await anthropicStream.finalMessage();
    const calls = await callsOf(stack, run.id);
    const prompt = countPromptTokens('openai-chat', { messages });
    expect(calls.map((call) => [call.status, call.estimated, call.inputTokens, call.outputTokens])).toEqual([
      ['ok', true, prompt, 31],
      ['ok', true, prompt, 17],
      ['ok', true, countPromptTokens('anthropic-messages', { messages }), 9],
    ]);
  });

  it('slow drip: completes and is metered exactly', async () => {
    const run = await stack.createRun();
    const stream = await stack.openai(run.token).chat.completions.create(
      { model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } }, fault('slow-drip', 3));
    let usage;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    expect(usage?.completion_tokens).toBe(3);
    expect(await onlyCall(run.id)).toMatchObject({ status: 'ok', estimated: false, outputTokens: 3 });
  });

  it('malformed JSON: a non-streamed answer becomes a 502 the SDK understands; a garbled stream event is dropped', async () => {
    const run = await stack.createRun();
    const client = stack.openai(run.token, { maxRetries: 0 });
    const error = await client.chat.completions.create({ model: 'gpt-4o-mini', messages }, fault('malformed-json')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('upstream_malformed_response');
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } }, fault('malformed-json', 12));
    let usage;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    expect(usage?.completion_tokens).toBe(12);
    const calls = await callsOf(stack, run.id);
    expect(calls.map((call) => [call.status, call.errorCode, call.estimated])).toEqual([
      ['failed', 'upstream_malformed_response', true],
      ['ok', null, false],
    ]);
  });
});
