import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTextTokens } from '../src/core/tokenizer.js';
import { startSim, type SimRequestEvent, type SimServer } from '../src/sim/index.js';

let sim: SimServer;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  sim = await startSim();
  openai = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'x', maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: sim.url, apiKey: 'x', maxRetries: 0 });
});
afterAll(() => sim.close());

const toolHeaders = { 'x-sim-tool-call': 'send_email', 'x-sim-tool-args': '{"to":"ops@example.com","subject":"Deploy done"}', 'x-sim-text-before-tool': '4' };
const toolTokens = countTextTokens('send_email') + countTextTokens('{"to":"ops@example.com","subject":"Deploy done"}');

describe('text before a tool call', () => {
  it('chat: every text delta arrives before the first tool-call delta', async () => {
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mail' }], stream: true, stream_options: { include_usage: true } }, { headers: toolHeaders });
    const order: string[] = [];
    let args = '';
    let usage = -1;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta;
      if (delta?.content) order.push('text');
      if (delta?.tool_calls) {
        order.push('tool');
        args += delta.tool_calls[0]?.function?.arguments ?? '';
      }
      if (chunk.usage) usage = chunk.usage.completion_tokens;
    }
    expect(order.indexOf('tool')).toBe(4);
    expect(order.slice(4).every((kind) => kind === 'tool')).toBe(true);
    expect(args).toBe(toolHeaders['x-sim-tool-args']);
    expect(usage).toBe(4 + toolTokens);
  });

  it('responses: a message item, then a function_call item', async () => {
    const response = await openai.responses.create({ model: 'gpt-4o-mini', input: 'mail' }, { headers: toolHeaders });
    expect(response.output.map((item) => item.type)).toEqual(['message', 'function_call']);
    expect(countTextTokens(response.output_text)).toBe(4);
    expect(response.usage?.output_tokens).toBe(4 + toolTokens);
  });

  it('anthropic: a text block, then a tool_use block', async () => {
    const message = await anthropic.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'mail' }] }, { headers: toolHeaders }).finalMessage();
    expect(message.content.map((block) => block.type)).toEqual(['text', 'tool_use']);
    expect(message.content[1]).toMatchObject({ name: 'send_email', input: { to: 'ops@example.com', subject: 'Deploy done' } });
    expect(message.usage.output_tokens).toBe(4 + toolTokens);
  });
});

describe('tool choice', () => {
  const parameters = { type: 'object', properties: { path: { type: 'string' }, force: { type: 'boolean' } }, required: ['path', 'force'] };

  it('chat: a named tool_choice picks that tool; auto answers with text', async () => {
    const tools = [
      { type: 'function' as const, function: { name: 'read_file', parameters } },
      { type: 'function' as const, function: { name: 'delete_file', parameters } },
    ];
    const named = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], tools, tool_choice: { type: 'function', function: { name: 'delete_file' } } });
    const call = named.choices[0]?.message.tool_calls?.[0];
    if (call?.type !== 'function') throw new Error('expected a function call');
    expect(call.function.name).toBe('delete_file');
    expect(named.choices[0]?.message.content).toBeNull();
    expect(Object.keys(JSON.parse(call.function.arguments) as object).sort()).toEqual(['force', 'path']);
    const auto = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], tools });
    expect(auto.choices[0]?.message.tool_calls).toBeUndefined();
    expect(auto.choices[0]?.finish_reason).toBe('stop');
  });

  it('anthropic: tool_choice {type:"tool"} picks that tool, non-streaming', async () => {
    const tools = [{ name: 'read_file', input_schema: { ...parameters, type: 'object' as const } }, { name: 'deploy', input_schema: { type: 'object' as const } }];
    const message = await anthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'x' }], tools, tool_choice: { type: 'tool', name: 'deploy' } });
    expect(message.content).toEqual([{ type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'deploy', input: {} }]);
    expect(message.stop_reason).toBe('tool_use');
  });

  it('max tokens can cut a tool call short, with a length finish', async () => {
    const completion = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 8 }, { headers: toolHeaders });
    expect(completion.choices[0]?.finish_reason).toBe('length');
    expect(completion.usage?.completion_tokens).toBeLessThanOrEqual(8);
  });
});

describe('observability', () => {
  it('emits a request event and counts requests by path, over HTTP too', async () => {
    await fetch(`${sim.url}/sim/reset`, { method: 'POST' });
    const seen = new Promise<SimRequestEvent>((resolve) => sim.events.once('request', resolve));
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], stream: true }).then(async (stream) => {
      for await (const _chunk of stream);
    });
    expect(await seen).toMatchObject({ id: expect.stringMatching(/^req_/), path: '/v1/chat/completions', model: 'gpt-4o-mini', stream: true });
    const stats = (await (await fetch(`${sim.url}/sim/stats`)).json()) as { requests: number; byPath: Record<string, number> };
    expect(stats).toMatchObject({ requests: 1, byPath: { '/v1/chat/completions': 1 }, activeStreams: 0 });
  });
});
