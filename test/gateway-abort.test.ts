import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callsOf, sleep, startStack, type CallView, type Stack } from './harness.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

async function settledCall(runId: string): Promise<CallView> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const [call] = await callsOf(stack, runId);
    if (call) return call;
    await sleep(10);
  }
  throw new Error('the aborted call never reached the ledger');
}

function nextClose(): Promise<{ at: number; completed: boolean; tokensSent: number }> {
  return new Promise((resolve) => stack.sim.events.once('closed', resolve));
}

describe('a client that aborts mid-stream', () => {
  it('OpenAI: the upstream socket closes within 50 ms and exactly what was delivered is billed', async () => {
    const run = await stack.createRun();
    const closed = nextClose();
    const stream = await stack.openai(run.token, { maxRetries: 0 }).chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Count slowly.' }] },
      { headers: { 'x-sim-output-tokens': '2000', 'x-sim-tokens-per-second': '100' } },
    );
    let received = 0;
    let abortedAt = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) received++;
      if (received === 25) {
        abortedAt = performance.now();
        stream.controller.abort();
        break;
      }
    }
    const close = await closed;
    expect(close.completed).toBe(false);
    expect(close.at - abortedAt).toBeLessThan(50);
    const call = await settledCall(run.id);
    expect(call).toMatchObject({ status: 'client_aborted', estimated: true });
    expect(Math.abs(call.outputTokens - received)).toBeLessThanOrEqual(1);
    expect(call.inputTokens).toBeGreaterThan(0);
  });

  it('Anthropic: same, with the real input count from message_start', async () => {
    const run = await stack.createRun();
    const closed = nextClose();
    const stream = stack.anthropic(run.token, { maxRetries: 0 }).messages.stream(
      { model: 'claude-haiku-4-5', max_tokens: 4000, messages: [{ role: 'user', content: 'Count slowly, please.' }] },
      { headers: { 'x-sim-output-tokens': '2000', 'x-sim-tokens-per-second': '100' } },
    );
    let received = 0;
    let inputTokens = 0;
    let abortedAt = 0;
    for await (const event of stream) {
      if (event.type === 'message_start') inputTokens = event.message.usage.input_tokens;
      if (event.type === 'content_block_delta') received++;
      if (received === 25) {
        abortedAt = performance.now();
        stream.abort();
        break;
      }
    }
    const close = await closed;
    expect(close.at - abortedAt).toBeLessThan(50);
    const call = await settledCall(run.id);
    expect(call).toMatchObject({ status: 'client_aborted', estimated: true, inputTokens });
    expect(Math.abs(call.outputTokens - received)).toBeLessThanOrEqual(1);
  });
});
