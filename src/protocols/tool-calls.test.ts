import { describe, expect, it } from 'vitest';
import { anthropicMessagesTools } from './anthropic-messages-tools.js';
import { openAiChatTools } from './openai-chat-tools.js';
import { openAiResponsesTools } from './openai-responses-tools.js';
import { eventJson, type SseEvent } from './sse.js';
import type { ObservedEvent, ToolCallCodec } from './tool-calls.js';

/**
 * Answers with two tool calls, the first gated (send_email) and the second not
 * (read_file): a denial takes out the first only, renumbering what follows it.
 */
const isGated = (name: string) => name.startsWith('send_');
const DENIAL = 'denied: no mail';

function run(codec: ToolCallCodec, events: SseEvent[]) {
  const watcher = codec.watchStream(isGated);
  const passed: SseEvent[] = [];
  const held: ObservedEvent[] = [];
  for (const event of events) {
    const json = eventJson(event);
    if (watcher.holds(event, json)) held.push({ event, json });
    else passed.push(event);
  }
  const calls = watcher.toolCalls(held);
  const denied = new Set(calls.filter((call) => isGated(call.name)).map((call) => call.key));
  const rewritten = watcher.withoutToolCalls(held, denied, DENIAL).map((event) => eventJson(event) ?? event.data);
  return { passed: passed.map((event) => eventJson(event)), calls, rewritten };
}

const data = (json: Record<string, unknown>, event?: string): SseEvent => ({ event, data: JSON.stringify(json) });

describe('openai chat tool calls', () => {
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => data({ id: 'c', choices: [{ index: 0, delta, finish_reason: finish }] });
  const events = [
    chunk({ role: 'assistant', content: 'Sure' }),
    chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'send_email', arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"to":"x"}' } }] }),
    chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'read_file', arguments: '{"p":1}' } }] }),
    chunk({}, 'tool_calls'),
    { data: '[DONE]' },
  ];

  it('holds from the gated call on, and keeps the other call, renumbered, when it is denied', () => {
    const { passed, calls, rewritten } = run(openAiChatTools, events);
    expect(passed).toHaveLength(1);
    expect(calls).toEqual([
      { key: '0:0', id: 'call_a', name: 'send_email', arguments: '{"to":"x"}' },
      { key: '0:1', id: 'call_b', name: 'read_file', arguments: '{"p":1}' },
    ]);
    expect(rewritten).toEqual([
      { id: 'c', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_b', type: 'function', function: { name: 'read_file', arguments: '{"p":1}' } }] }, finish_reason: null }] },
      { id: 'c', choices: [{ index: 0, delta: { content: `\n\n${DENIAL}` }, logprobs: null, finish_reason: null }] },
      { id: 'c', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
      '[DONE]',
    ]);
  });

  it('whole answers: the denied call goes, the other stays', () => {
    const response = { choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [
      { id: 'call_a', type: 'function', function: { name: 'send_email', arguments: '{}' } },
      { id: 'call_b', type: 'function', function: { name: 'read_file', arguments: '{}' } },
    ] }, finish_reason: 'tool_calls' }] };
    expect(openAiChatTools.withoutToolCalls(response, new Set(['0:0']), DENIAL)).toEqual({ choices: [{ index: 0, message: {
      role: 'assistant', content: DENIAL, tool_calls: [{ id: 'call_b', type: 'function', function: { name: 'read_file', arguments: '{}' } }],
    }, finish_reason: 'tool_calls' }] });
  });
});

describe('anthropic tool_use blocks', () => {
  const event = (json: Record<string, unknown>) => data(json, String(json.type));
  const events = [
    event({ type: 'message_start', message: { id: 'm' } }),
    event({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    event({ type: 'content_block_stop', index: 0 }),
    event({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_a', name: 'send_email', input: {} } }),
    event({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"to":"x"}' } }),
    event({ type: 'content_block_stop', index: 1 }),
    event({ type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_b', name: 'read_file', input: {} } }),
    event({ type: 'content_block_stop', index: 2 }),
    event({ type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9 } }),
    event({ type: 'message_stop' }),
  ];

  it('drops the denied block, moves the next one down, and adds the text block last', () => {
    const { passed, calls, rewritten } = run(anthropicMessagesTools, events);
    expect(passed).toHaveLength(3);
    expect(calls.map((call) => [call.key, call.name, call.arguments])).toEqual([['1', 'send_email', '{"to":"x"}'], ['2', 'read_file', '{}']]);
    expect(rewritten).toEqual([
      { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_b', name: 'read_file', input: {} } },
      { type: 'content_block_stop', index: 1 },
      { type: 'content_block_start', index: 2, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 2, delta: { type: 'text_delta', text: DENIAL } },
      { type: 'content_block_stop', index: 2 },
      { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9 } },
      { type: 'message_stop' },
    ]);
  });
});

describe('openai responses function_call items', () => {
  let sequence = 0;
  const event = (json: Record<string, unknown>) => data({ ...json, sequence_number: sequence++ }, String(json.type));
  const send = { id: 'fc_a', type: 'function_call', call_id: 'call_a', name: 'send_email', arguments: '{"to":"x"}' };
  const read = { id: 'fc_b', type: 'function_call', call_id: 'call_b', name: 'read_file', arguments: '{}' };
  const events = [
    event({ type: 'response.created', response: { id: 'r', output: [] } }),
    event({ type: 'response.output_item.added', output_index: 0, item: { ...send, arguments: '' } }),
    event({ type: 'response.function_call_arguments.delta', output_index: 0, delta: '{"to":"x"}' }),
    event({ type: 'response.output_item.done', output_index: 0, item: send }),
    event({ type: 'response.output_item.added', output_index: 1, item: { ...read, arguments: '' } }),
    event({ type: 'response.output_item.done', output_index: 1, item: read }),
    event({ type: 'response.completed', response: { id: 'r', status: 'completed', output: [send, read], usage: { output_tokens: 9 } } }),
  ];

  it('drops the denied item, renumbers output indexes and sequence numbers, and adds a message item', () => {
    const { passed, calls, rewritten } = run(openAiResponsesTools, events);
    expect(passed).toHaveLength(1);
    expect(calls.map((call) => [call.key, call.id, call.arguments])).toEqual([['0', 'call_a', '{"to":"x"}'], ['1', 'call_b', '{}']]);
    const records = rewritten as Record<string, unknown>[];
    expect(records.map((json) => json.sequence_number)).toEqual(records.map((_, index) => index + 1));
    expect(records.map((json) => [json.type, json.output_index])).toEqual([
      ['response.output_item.added', 0], ['response.output_item.done', 0],
      ['response.output_item.added', 1], ['response.content_part.added', 1], ['response.output_text.delta', 1],
      ['response.output_text.done', 1], ['response.content_part.done', 1], ['response.output_item.done', 1],
      ['response.completed', undefined],
    ]);
    const completed = records.at(-1)!.response as { output: { type: string; name?: string }[]; usage: unknown };
    expect(completed.output.map((item) => item.name ?? item.type)).toEqual(['read_file', 'message']);
    expect(completed.usage).toEqual({ output_tokens: 9 });
  });
});
