import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countPromptTokens, countTextTokens } from '../src/core/tokenizer.js';
import { startSim, type SimServer } from '../src/sim/index.js';

let sim: SimServer;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  sim = await startSim();
  openai = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'x' });
  anthropic = new Anthropic({ baseURL: sim.url, apiKey: 'x' });
});
afterAll(() => sim.close());

const messages = [
  { role: 'system' as const, content: 'You are a careful assistant.' },
  { role: 'user' as const, content: 'Tell me about metering AI agents.' },
];
const tokens = (count: number) => ({ headers: { 'x-sim-output-tokens': String(count) } });

describe('OpenAI Chat Completions', () => {
  it('answers with usage equal to the tokens of its text and of its prompt', async () => {
    const body = { model: 'gpt-4o-mini', messages };
    const { data, response } = await openai.chat.completions.create(body).withResponse();
    const text = data.choices[0]?.message.content ?? '';
    expect(data.object).toBe('chat.completion');
    expect(data.choices[0]?.finish_reason).toBe('stop');
    expect(data.usage?.completion_tokens).toBe(countTextTokens(text));
    expect(data.usage?.completion_tokens).toBeGreaterThanOrEqual(16);
    expect(data.usage?.completion_tokens).toBeLessThanOrEqual(64);
    expect(data.usage?.prompt_tokens).toBe(countPromptTokens('openai-chat', body));
    expect(data.usage?.total_tokens).toBe(data.usage!.prompt_tokens + data.usage!.completion_tokens);
    expect(response.headers.get('x-intime-simulated')).toBe('true');
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    expect(data.id).toMatch(/^chatcmpl-/);
  });

  it('gives the same text for the same request, and fresh ids', async () => {
    const body = { model: 'gpt-4o-mini', messages };
    const [first, second] = await Promise.all([openai.chat.completions.create(body), openai.chat.completions.create(body)]);
    expect(first.choices[0]?.message.content).toBe(second.choices[0]?.message.content);
    expect(first.id).not.toBe(second.id);
  });

  it('honours x-sim-output-tokens exactly, and caps it by max_tokens with finish_reason length', async () => {
    const exact = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages }, tokens(200));
    expect(exact.usage?.completion_tokens).toBe(200);
    expect(countTextTokens(exact.choices[0]?.message.content ?? '')).toBe(200);
    const capped = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, max_completion_tokens: 7 }, tokens(200));
    expect(capped.usage?.completion_tokens).toBe(7);
    expect(capped.choices[0]?.finish_reason).toBe('length');
    const legacyCap = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 5 }, tokens(200));
    expect(legacyCap.usage?.completion_tokens).toBe(5);
  });

  it('streams one token per delta, then a usage chunk when include_usage is set', async () => {
    const body = { model: 'gpt-4o-mini', messages, stream: true as const, stream_options: { include_usage: true } };
    const stream = await openai.chat.completions.create(body, tokens(40));
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]?.choices[0]?.delta).toMatchObject({ role: 'assistant', content: '' });
    const deltas = chunks.slice(1).flatMap((chunk) => (chunk.choices[0]?.delta.content ? [chunk.choices[0].delta.content] : []));
    expect(deltas).toHaveLength(40);
    for (const delta of deltas) expect(countTextTokens(delta)).toBe(1);
    const usageChunk = chunks.at(-1)!;
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage?.completion_tokens).toBe(countTextTokens(deltas.join('')));
    expect(usageChunk.usage?.prompt_tokens).toBe(countPromptTokens('openai-chat', body));
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
  });

  it('streams without any usage field when include_usage is not set', async () => {
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true }, tokens(5));
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((chunk) => !('usage' in chunk))).toBe(true);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
  });

  it('works with the SDK stream helper', async () => {
    const stream = openai.chat.completions.stream({ model: 'gpt-4o-mini', messages, stream_options: { include_usage: true } }, tokens(12));
    const final = await stream.finalChatCompletion();
    expect(final.usage?.completion_tokens).toBe(12);
    expect(countTextTokens(final.choices[0]?.message.content ?? '')).toBe(12);
  });

  it('calls a tool when tool_choice requires one, streamed as argument deltas', async () => {
    const tools = [weatherTool];
    const stream = openai.chat.completions.stream({ model: 'gpt-4o-mini', messages, tools, tool_choice: 'required', stream_options: { include_usage: true } });
    const final = await stream.finalChatCompletion();
    const call = final.choices[0]?.message.tool_calls?.[0];
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call?.type).toBe('function');
    if (call?.type !== 'function') throw new Error('expected a function call');
    expect(call.id).toMatch(/^call_/);
    expect(call.function.name).toBe('get_weather');
    const args = JSON.parse(call.function.arguments) as { city: string; unit?: string };
    expect(typeof args.city).toBe('string');
    expect(final.usage?.completion_tokens).toBe(countTextTokens(call.function.arguments) + countTextTokens('get_weather'));
  });

  it('calls the tool named by x-sim-tool-call, with x-sim-tool-args, after x-sim-text-before-tool tokens', async () => {
    const headers = { 'x-sim-tool-call': 'send_email', 'x-sim-tool-args': '{"to":"a@example.com"}', 'x-sim-text-before-tool': '3' };
    const response = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages }, { headers });
    const message = response.choices[0]!.message;
    expect(countTextTokens(message.content ?? '')).toBe(3);
    const call = message.tool_calls?.[0];
    if (call?.type !== 'function') throw new Error('expected a function call');
    expect(call.function).toEqual({ name: 'send_email', arguments: '{"to":"a@example.com"}' });
    expect(response.usage?.completion_tokens).toBe(3 + countTextTokens('send_email') + countTextTokens(call.function.arguments));
  });
});

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } }, required: ['city'], additionalProperties: false },
  },
};

describe('OpenAI Responses', () => {
  it('answers with an output message and usage; output_text is derived by the SDK', async () => {
    const body = { model: 'gpt-4o-mini', input: 'Tell me about metering.', instructions: 'Be brief.' };
    const response = await openai.responses.create(body, tokens(30));
    expect(response.object).toBe('response');
    expect(response.status).toBe('completed');
    expect(response.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed' });
    expect(countTextTokens(response.output_text)).toBe(30);
    expect(response.usage?.output_tokens).toBe(30);
    expect(response.usage?.input_tokens).toBe(countPromptTokens('openai-responses', body));
  });

  it('is incomplete when max_output_tokens caps the output', async () => {
    const response = await openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', max_output_tokens: 16 }, tokens(100));
    expect(response.status).toBe('incomplete');
    expect(response.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(response.usage?.output_tokens).toBe(16);
  });

  it('streams the real event sequence, one token per delta', async () => {
    const stream = await openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', stream: true }, tokens(8));
    const types: string[] = [];
    const deltas: string[] = [];
    let usage: number | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') deltas.push(event.delta);
      if (event.type === 'response.completed') usage = event.response.usage?.output_tokens;
    }
    expect([...new Set(types)]).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(deltas).toHaveLength(8);
    expect(usage).toBe(countTextTokens(deltas.join('')));
  });

  it('works with the SDK stream helper, including function calls', async () => {
    const tools = [{ type: 'function' as const, name: 'get_weather', parameters: weatherTool.function.parameters, strict: true }];
    const stream = openai.responses.stream({ model: 'gpt-4o-mini', input: 'weather?', tools, tool_choice: 'required' });
    const argumentDeltas: string[] = [];
    stream.on('response.function_call_arguments.delta', (event) => argumentDeltas.push(event.delta));
    const final = await stream.finalResponse();
    const call = final.output.find((item) => item.type === 'function_call');
    if (call?.type !== 'function_call') throw new Error('expected a function call');
    expect(call.name).toBe('get_weather');
    expect(call.call_id).toMatch(/^call_/);
    expect(argumentDeltas.length).toBeGreaterThan(2);
    expect(argumentDeltas.join('')).toBe(call.arguments);
    expect(final.usage?.output_tokens).toBe(countTextTokens(call.arguments) + countTextTokens('get_weather'));
  });
});

describe('Anthropic Messages', () => {
  it('answers with a text block and usage', async () => {
    const body = { model: 'claude-haiku-4-5', max_tokens: 1024, system: 'Be brief.', messages: [{ role: 'user' as const, content: 'hi' }] };
    const { data, response } = await anthropic.messages.create(body, tokens(25)).withResponse();
    const block = data.content[0];
    if (block?.type !== 'text') throw new Error('expected text');
    expect(data.stop_reason).toBe('end_turn');
    expect(data.usage.output_tokens).toBe(25);
    expect(countTextTokens(block.text)).toBe(25);
    expect(data.usage.input_tokens).toBe(countPromptTokens('anthropic-messages', body));
    expect(data.id).toMatch(/^msg_/);
    expect(response.headers.get('request-id')).toMatch(/^req_/);
  });

  it('stops at max_tokens', async () => {
    const message = await anthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] }, tokens(50));
    expect(message.stop_reason).toBe('max_tokens');
    expect(message.usage.output_tokens).toBe(4);
  });

  it('refuses a request without max_tokens', async () => {
    const body = { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'hi' }] } as unknown as Anthropic.MessageCreateParamsNonStreaming;
    await expect(anthropic.messages.create(body)).rejects.toBeInstanceOf(Anthropic.BadRequestError);
  });

  it('streams text deltas and a final cumulative usage the SDK accumulates', async () => {
    const stream = anthropic.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'hi' }] }, tokens(33));
    const deltas: string[] = [];
    stream.on('text', (delta) => deltas.push(delta));
    const final = await stream.finalMessage();
    expect(deltas).toHaveLength(33);
    expect(final.usage.output_tokens).toBe(countTextTokens(deltas.join('')));
    expect(final.stop_reason).toBe('end_turn');
  });

  it('streams a forced tool_use block as input_json_delta', async () => {
    const tools = [{ name: 'get_weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } }];
    const stream = anthropic.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'hi' }], tools, tool_choice: { type: 'any' } });
    const final = await stream.finalMessage();
    const block = final.content.find((entry) => entry.type === 'tool_use');
    if (block?.type !== 'tool_use') throw new Error('expected tool_use');
    expect(block.id).toMatch(/^toolu_/);
    expect(block.name).toBe('get_weather');
    expect(typeof (block.input as { city: unknown }).city).toBe('string');
    expect(final.stop_reason).toBe('tool_use');
    expect(final.usage.output_tokens).toBe(countTextTokens(JSON.stringify(block.input)) + countTextTokens('get_weather'));
  });
});
