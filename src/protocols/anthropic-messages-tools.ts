import { asRecord } from './adapter.js';
import { arrayOf } from './openai-chat.js';
import type { SseEvent } from './sse.js';
import { jsonEvent, shiftPast, type ObservedEvent, type StreamToolWatcher, type ToolCallCodec, type ToolCallSeen } from './tool-calls.js';

/**
 * Tool calls in Anthropic Messages: `tool_use` content blocks, streamed as
 * content_block_start / input_json_delta deltas / content_block_stop at one `index`.
 * Keys are the block index.
 */
export const anthropicMessagesTools: ToolCallCodec = {
  toolCallsOf(response) {
    const calls: ToolCallSeen[] = [];
    for (const [index, blockValue] of arrayOf(response.content).entries()) {
      const block = asRecord(blockValue);
      if (block?.type !== 'tool_use') continue;
      calls.push({
        key: String(index),
        id: typeof block.id === 'string' ? block.id : null,
        name: typeof block.name === 'string' ? block.name : '',
        arguments: JSON.stringify(block.input ?? {}),
      });
    }
    return calls;
  },

  withoutToolCalls(response, denied, text) {
    const result = structuredClone(response);
    const content = arrayOf(result.content).filter((_, index) => !denied.has(String(index)));
    content.push({ type: 'text', text });
    result.content = content;
    if (!content.some((block) => asRecord(block)?.type === 'tool_use')) result.stop_reason = 'end_turn';
    return result;
  },

  watchStream(isGated) {
    return new MessagesToolWatcher(isGated);
  },
};

const BLOCK_EVENTS = new Set(['content_block_start', 'content_block_delta', 'content_block_stop']);

class MessagesToolWatcher implements StreamToolWatcher {
  private holding = false;
  /** Blocks in the message so far: the denial's text block goes after the last. */
  private blocks = 0;
  private readonly toolUseBlocks = new Set<number>();

  constructor(private readonly isGated: (toolName: string) => boolean) {}

  holds(_event: SseEvent, json: Record<string, unknown> | undefined): boolean {
    if (json?.type !== 'content_block_start') return this.holding;
    const index = typeof json.index === 'number' ? json.index : this.blocks;
    this.blocks = Math.max(this.blocks, index + 1);
    const block = asRecord(json.content_block);
    if (block?.type === 'tool_use') {
      this.toolUseBlocks.add(index);
      if (!this.holding && (typeof block.name !== 'string' || this.isGated(block.name))) this.holding = true;
    }
    return this.holding;
  }

  toolCalls(held: readonly ObservedEvent[]): ToolCallSeen[] {
    const calls = new Map<number, ToolCallSeen & { input: unknown; deltas: string[] }>();
    for (const { json } of held) {
      if (!json || typeof json.index !== 'number') continue;
      if (json.type === 'content_block_start') {
        const block = asRecord(json.content_block);
        if (block?.type !== 'tool_use') continue;
        calls.set(json.index, {
          key: String(json.index), id: typeof block.id === 'string' ? block.id : null,
          name: typeof block.name === 'string' ? block.name : '', arguments: '', input: block.input, deltas: [],
        });
      } else if (json.type === 'content_block_delta') {
        const partial = asRecord(json.delta)?.partial_json;
        if (typeof partial === 'string') calls.get(json.index)?.deltas.push(partial);
      }
    }
    return [...calls.values()].map(({ input, deltas, ...call }) => ({
      ...call,
      arguments: deltas.length > 0 ? deltas.join('') : JSON.stringify(input ?? {}),
    }));
  }

  withoutToolCalls(held: readonly ObservedEvent[], denied: ReadonlySet<string>, text: string): SseEvent[] {
    const gone = [...denied].map(Number);
    const shift = shiftPast(gone);
    const events: SseEvent[] = [];
    for (const { event, json } of held) {
      const type = json?.type;
      if (json && typeof type === 'string' && BLOCK_EVENTS.has(type) && typeof json.index === 'number') {
        if (denied.has(String(json.index))) continue;
        const index = shift(json.index);
        events.push(index === json.index ? event : jsonEvent(event, { ...json, index }));
      } else if (json && type === 'message_delta') {
        events.push(...textBlock(this.blocks - gone.length, text));
        const left = [...this.toolUseBlocks].some((index) => !denied.has(String(index)));
        const delta = asRecord(json.delta);
        events.push(left ? event : jsonEvent(event, { ...json, delta: { ...delta, stop_reason: 'end_turn' } }));
      } else {
        events.push(event);
      }
    }
    return events;
  }
}

/** A complete text block, as the API streams one: start, one delta, stop. */
function textBlock(index: number, text: string): SseEvent[] {
  const event = (type: string, fields: Record<string, unknown>): SseEvent => ({ event: type, data: JSON.stringify({ type, ...fields }) });
  return [
    event('content_block_start', { index, content_block: { type: 'text', text: '' } }),
    event('content_block_delta', { index, delta: { type: 'text_delta', text } }),
    event('content_block_stop', { index }),
  ];
}
