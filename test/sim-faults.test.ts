import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { countTextTokens } from '../src/core/tokenizer.js';
import { PriceTable, type PriceFile } from '../src/core/prices.js';
import prices from '../prices/prices.json' with { type: 'json' };
import { startSim, type SimServer } from '../src/sim/index.js';

let sim: SimServer;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  sim = await startSim({ priceTable: new PriceTable().add(prices as PriceFile, 'builtin') });
  // logLevel off: the SDKs log every unparseable event, which these tests provoke on purpose.
  openai = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'x', logLevel: 'off' });
  anthropic = new Anthropic({ baseURL: sim.url, apiKey: 'x', logLevel: 'off' });
});
afterAll(() => sim.close());
beforeEach(() => sim.resetStats());

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };
const claude = { model: 'claude-haiku-4-5', max_tokens: 1024, messages: [{ role: 'user' as const, content: 'hi' }] };
const fault = (name: string, extra: Record<string, string> = {}) => ({ headers: { 'x-sim-fault': name, ...extra } });

describe('faults', () => {
  it('429 is a rate limit error the SDK retries (quickly, via retry-after-ms)', async () => {
    const started = performance.now();
    await expect(openai.chat.completions.create(chat, fault('429'))).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(sim.stats().byPath['/v1/chat/completions']).toBe(3);
    const error = await anthropic.messages.create(claude, { ...fault('429'), maxRetries: 0 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.RateLimitError);
    expect((error as InstanceType<typeof Anthropic.RateLimitError>).error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
  });

  it('500 is a server error in each protocol shape', async () => {
    const openAiError = await openai.responses.create({ model: 'gpt-4o-mini', input: 'hi' }, { ...fault('500'), maxRetries: 0 }).catch((caught: unknown) => caught);
    expect(openAiError).toBeInstanceOf(OpenAI.InternalServerError);
    expect((openAiError as InstanceType<typeof OpenAI.InternalServerError>).type).toBe('server_error');
    const anthropicError = await anthropic.messages.create(claude, { ...fault('500'), maxRetries: 0 }).catch((caught: unknown) => caught);
    expect(anthropicError).toBeInstanceOf(Anthropic.InternalServerError);
    expect((anthropicError as InstanceType<typeof Anthropic.InternalServerError>).error).toMatchObject({ error: { type: 'api_error' } });
  });

  it('disconnect-mid-stream drops the connection after half the tokens', async () => {
    const closed = nextClosed();
    const stream = await openai.chat.completions.create({ ...chat, stream: true }, { ...fault('disconnect-mid-stream', { 'x-sim-output-tokens': '20' }), maxRetries: 0 });
    const deltas: string[] = [];
    const error = await (async () => {
      for await (const chunk of stream) deltas.push(chunk.choices[0]?.delta.content ?? '');
    })().catch((caught: unknown) => caught);
    // Mid-body, the SDK surfaces undici's own error, not an APIConnectionError.
    expect(error).toBeInstanceOf(TypeError);
    expect((error as TypeError).message).toBe('terminated');
    expect(countTextTokens(deltas.join(''))).toBe(10);
    expect(await closed).toMatchObject({ completed: false, tokensSent: 10 });
  });

  it('disconnect-mid-stream on a non-streaming request is a connection error', async () => {
    await expect(openai.chat.completions.create(chat, { ...fault('disconnect-mid-stream'), maxRetries: 0 })).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    await expect(anthropic.messages.create(claude, { ...fault('disconnect-mid-stream'), maxRetries: 0 })).rejects.toBeInstanceOf(Anthropic.APIConnectionError);
  });

  it('no-usage leaves usage out everywhere', async () => {
    const complete = await openai.chat.completions.create(chat, fault('no-usage'));
    expect(complete.usage).toBeUndefined();
    const stream = await openai.chat.completions.create({ ...chat, stream: true, stream_options: { include_usage: true } }, fault('no-usage'));
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.some((chunk) => chunk.usage)).toBe(false);
    const responses = openai.responses.stream({ model: 'gpt-4o-mini', input: 'hi' }, fault('no-usage'));
    expect((await responses.finalResponse()).usage).toBeUndefined();
    const message = await anthropic.messages.stream(claude, fault('no-usage')).finalMessage();
    expect(message.usage.output_tokens).toBeUndefined();
    expect(message.content[0]?.type).toBe('text');
  });

  it('slow-drip streams at about 4 tokens a second', async () => {
    const started = performance.now();
    const stream = await openai.chat.completions.create({ ...chat, stream: true }, fault('slow-drip', { 'x-sim-output-tokens': '3' }));
    for await (const _chunk of stream);
    // Token 1 goes at once, tokens 2 and 3 at 250 ms and 500 ms.
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThan(450);
    expect(elapsed).toBeLessThan(1500);
  });

  it('malformed-json: a non-streaming body that is not JSON, a stream event that is not JSON', async () => {
    await expect(openai.chat.completions.create(chat, { ...fault('malformed-json'), maxRetries: 0 })).rejects.toBeInstanceOf(SyntaxError);
    const stream = await openai.chat.completions.create({ ...chat, stream: true }, fault('malformed-json'));
    const iterate = async () => {
      for await (const _chunk of stream);
    };
    await expect(iterate()).rejects.toBeInstanceOf(SyntaxError);
    // The Anthropic SDK's MessageStream wraps the SyntaxError in an AnthropicError.
    await expect(anthropic.messages.stream(claude, fault('malformed-json')).finalMessage()).rejects.toThrow(/JSON/);
  });

  it('an unknown fault name is a 400, not silence', async () => {
    await expect(openai.chat.completions.create(chat, fault('nonsense'))).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });
});

describe('bad input', () => {
  it('unknown models are 404 model_not_found in each protocol shape', async () => {
    const openAiError = await openai.chat.completions.create({ ...chat, model: 'no-such-model' }).catch((caught: unknown) => caught);
    expect(openAiError).toBeInstanceOf(OpenAI.NotFoundError);
    expect((openAiError as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    const anthropicError = await anthropic.messages.create({ ...claude, model: 'no-such-model' }).catch((caught: unknown) => caught);
    expect(anthropicError).toBeInstanceOf(Anthropic.NotFoundError);
    expect((anthropicError as InstanceType<typeof Anthropic.NotFoundError>).error).toMatchObject({ error: { type: 'not_found_error' } });
  });

  it('invalid JSON, a missing model and garbage never crash the server', async () => {
    const post = (path: string, body: string) => fetch(`${sim.url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const invalid = await post('/v1/chat/completions', '{"model":');
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    const noModel = await post('/v1/messages', '{"max_tokens":10,"messages":[]}');
    expect(noModel.status).toBe(400);
    expect(await noModel.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    for (const body of ['[]', 'null', '"x"', '{"model":5}', '{"model":"gpt-4o","messages":"x","max_tokens":-1}']) {
      expect((await post('/v1/chat/completions', body)).status).toBe(400);
    }
    // Special-token text is only text: counted, not refused (regression: the tokenizer threw on it).
    expect((await post('/v1/chat/completions', '{"model":"gpt-4o","messages":[{"role":"user","content":"<|endoftext|>"}]}')).status).toBe(200);
    expect((await fetch(`${sim.url}/v1/chat/completions`)).status).toBe(405);
    expect((await post('/v1/nothing', '{}')).status).toBe(404);
    expect((await fetch(`${sim.url}/sim/stats`)).status).toBe(200);
  });
});

function nextClosed() {
  return new Promise<{ completed: boolean; tokensSent: number }>((resolve) => sim.events.once('closed', resolve));
}
