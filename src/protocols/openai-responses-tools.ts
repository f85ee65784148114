import { randomBytes } from 'node:crypto';
import { asRecord } from './adapter.js';
import { arrayOf } from './openai-chat.js';
import type { SseEvent } from './sse.js';
import { jsonEvent, shiftPast, type ObservedEvent, type StreamToolWatcher, type ToolCallCodec, type ToolCallSeen } from './tool-calls.js';

/**
 * Tool calls in OpenAI Responses: `function_call` output items, streamed as
 * output_item.added / function_call_arguments.delta… / output_item.done at one
 * `output_index`. Keys are the output index.
 */
export const openAiResponsesTools: ToolCallCodec = {
  toolCallsOf(response) {
    const calls: ToolCallSeen[] = [];
    for (const [index, itemValue] of arrayOf(response.output).entries()) {
      const call = functionCall(asRecord(itemValue), String(index));
      if (call) calls.push(call);
    }
    return calls;
  },

  withoutToolCalls(response, denied, text) {
    const result = structuredClone(response);
    result.output = [...arrayOf(result.output).filter((_, index) => !denied.has(String(index))), messageItem(newMessageId(), 'completed', text)];
    return result;
  },

  watchStream(isGated) {
    return new ResponsesToolWatcher(isGated);
  },
};

function functionCall(item: Record<string, unknown> | undefined, key: string): ToolCallSeen | undefined {
  if (item?.type !== 'function_call') return undefined;
  return {
    key,
    id: typeof item.call_id === 'string' ? item.call_id : null,
    name: typeof item.name === 'string' ? item.name : '',
    arguments: typeof item.arguments === 'string' ? item.arguments : '',
  };
}

const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);

class ResponsesToolWatcher implements StreamToolWatcher {
  private holding = false;
  /** Output items so far: the denial's message item goes after the last. */
  private items = 0;
  /** The last sequence number the agent received: what follows must count up from it. */
  private lastSequence = -1;

  constructor(private readonly isGated: (toolName: string) => boolean) {}

  holds(_event: SseEvent, json: Record<string, unknown> | undefined): boolean {
    if (json?.type === 'response.output_item.added') {
      const index = typeof json.output_index === 'number' ? json.output_index : this.items;
      this.items = Math.max(this.items, index + 1);
      const item = asRecord(json.item);
      if (!this.holding && item?.type === 'function_call' && (typeof item.name !== 'string' || this.isGated(item.name))) this.holding = true;
    }
    if (!this.holding && typeof json?.sequence_number === 'number') this.lastSequence = json.sequence_number;
    return this.holding;
  }

  toolCalls(held: readonly ObservedEvent[]): ToolCallSeen[] {
    const calls = new Map<number, ToolCallSeen & { deltas: string[]; done: string | undefined }>();
    for (const { json } of held) {
      if (!json || typeof json.output_index !== 'number') continue;
      if (json.type === 'response.output_item.added') {
        const call = functionCall(asRecord(json.item), String(json.output_index));
        if (call) calls.set(json.output_index, { ...call, deltas: [], done: undefined });
      } else if (json.type === 'response.function_call_arguments.delta' && typeof json.delta === 'string') {
        calls.get(json.output_index)?.deltas.push(json.delta);
      } else if (json.type === 'response.function_call_arguments.done' && typeof json.arguments === 'string') {
        const call = calls.get(json.output_index);
        if (call) call.done = json.arguments;
      } else if (json.type === 'response.output_item.done') {
        const call = calls.get(json.output_index);
        const item = functionCall(asRecord(json.item), String(json.output_index));
        if (call && item) call.done = item.arguments;
      }
    }
    return [...calls.values()].map(({ deltas, done, ...call }) => ({ ...call, arguments: done ?? deltas.join('') }));
  }

  withoutToolCalls(held: readonly ObservedEvent[], denied: ReadonlySet<string>, text: string): SseEvent[] {
    const gone = [...denied].map(Number);
    const shift = shiftPast(gone);
    let sequence = this.lastSequence + 1;
    const events: SseEvent[] = [];
    const numbered = (event: SseEvent, json: Record<string, unknown>): SseEvent =>
      jsonEvent(event, 'sequence_number' in json ? { ...json, sequence_number: sequence++ } : json);
    for (const { event, json } of held) {
      if (!json) {
        events.push(event);
        continue;
      }
      const index = json.output_index;
      if (typeof index === 'number' && denied.has(String(index))) continue;
      if (typeof json.type === 'string' && TERMINAL.has(json.type)) {
        const message = messageItem(newMessageId(), 'completed', text);
        for (const added of messageEvents(message, this.items - gone.length, text)) events.push(numbered({ event: String(added.type), data: '' }, added));
        const response = asRecord(json.response) ?? {};
        const output = [...arrayOf(response.output).filter((_, position) => !denied.has(String(position))), message];
        events.push(numbered(event, { ...json, response: { ...response, output } }));
        continue;
      }
      events.push(numbered(event, typeof index === 'number' ? { ...json, output_index: shift(index) } : json));
    }
    return events;
  }
}

function newMessageId(): string {
  return `msg_intime_${randomBytes(12).toString('hex')}`;
}

function messageItem(id: string, status: 'in_progress' | 'completed', text: string | undefined) {
  const content = text === undefined ? [] : [outputText(text)];
  return { id, type: 'message', status, content, role: 'assistant' };
}

function outputText(text: string) {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}

/** A complete message output item, as the API streams one (sequence numbers are set by the caller). */
function messageEvents(message: { id: string }, outputIndex: number, text: string): Record<string, unknown>[] {
  const place = { item_id: message.id, output_index: outputIndex, content_index: 0 };
  return [
    { type: 'response.output_item.added', sequence_number: 0, output_index: outputIndex, item: messageItem(message.id, 'in_progress', undefined) },
    { type: 'response.content_part.added', sequence_number: 0, ...place, part: outputText('') },
    { type: 'response.output_text.delta', sequence_number: 0, ...place, delta: text, logprobs: [] },
    { type: 'response.output_text.done', sequence_number: 0, ...place, text, logprobs: [] },
    { type: 'response.content_part.done', sequence_number: 0, ...place, part: outputText(text) },
    { type: 'response.output_item.done', sequence_number: 0, output_index: outputIndex, item: messageItem(message.id, 'completed', text) },
  ];
}
