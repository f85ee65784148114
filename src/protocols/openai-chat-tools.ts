import { asRecord } from './adapter.js';
import { arrayOf } from './openai-chat.js';
import type { SseEvent } from './sse.js';
import { jsonEvent, shiftPast, type ObservedEvent, type StreamToolWatcher, type ToolCallCodec, type ToolCallSeen } from './tool-calls.js';

/**
 * Tool calls in OpenAI Chat Completions: `choices[].message.tool_calls[]`, streamed as
 * `choices[].delta.tool_calls[]` deltas that carry their `index` within the message.
 * Keys are "<choice index>:<tool call index>".
 */
export const openAiChatTools: ToolCallCodec = {
  toolCallsOf(response) {
    const calls: ToolCallSeen[] = [];
    for (const [position, choiceValue] of arrayOf(response.choices).entries()) {
      const choice = asRecord(choiceValue);
      const message = asRecord(choice?.message);
      for (const [index, callValue] of arrayOf(message?.tool_calls).entries()) {
        const call = asRecord(callValue);
        const fn = asRecord(call?.function);
        calls.push({
          key: `${choiceIndex(choice, position)}:${index}`,
          id: typeof call?.id === 'string' ? call.id : null,
          name: typeof fn?.name === 'string' ? fn.name : '',
          arguments: typeof fn?.arguments === 'string' ? fn.arguments : '',
        });
      }
    }
    return calls;
  },

  withoutToolCalls(response, denied, text) {
    const result = structuredClone(response);
    for (const [position, choiceValue] of arrayOf(result.choices).entries()) {
      const choice = asRecord(choiceValue);
      const message = asRecord(choice?.message);
      if (!choice || !message || !Array.isArray(message.tool_calls)) continue;
      const prefix = `${choiceIndex(choice, position)}:`;
      const kept = message.tool_calls.filter((_, index) => !denied.has(`${prefix}${index}`));
      if (kept.length === message.tool_calls.length) continue;
      message.content = typeof message.content === 'string' && message.content !== '' ? `${message.content}\n\n${text}` : text;
      if (kept.length > 0) {
        message.tool_calls = kept;
      } else {
        delete message.tool_calls;
        choice.finish_reason = 'stop';
      }
    }
    return result;
  },

  watchStream(isGated) {
    return new ChatToolWatcher(isGated);
  },
};

function choiceIndex(choice: Record<string, unknown> | undefined, position: number): number {
  return typeof choice?.index === 'number' ? choice.index : position;
}

interface ToolCallDelta {
  key: string;
  choice: number;
  index: number;
  delta: Record<string, unknown>;
}

/** The tool-call deltas of one chunk, with their keys. */
function toolCallDeltas(json: Record<string, unknown>): ToolCallDelta[] {
  const deltas: ToolCallDelta[] = [];
  for (const [position, choiceValue] of arrayOf(json.choices).entries()) {
    const choice = asRecord(choiceValue);
    const calls = asRecord(choice?.delta)?.tool_calls;
    if (!Array.isArray(calls)) continue;
    const choiceNumber = choiceIndex(choice, position);
    for (const [offset, callValue] of calls.entries()) {
      const delta = asRecord(callValue);
      if (!delta) continue;
      const index = typeof delta.index === 'number' ? delta.index : offset;
      deltas.push({ key: `${choiceNumber}:${index}`, choice: choiceNumber, index, delta });
    }
  }
  return deltas;
}

class ChatToolWatcher implements StreamToolWatcher {
  private holding = false;
  /** Tool calls that started before the hold (those after it are read from the held events). */
  private readonly seen = new Set<string>();
  /** Choices that already sent text: the denial is set apart from it, as in a whole answer. */
  private readonly withText = new Set<number>();

  constructor(private readonly isGated: (toolName: string) => boolean) {}

  holds(_event: SseEvent, json: Record<string, unknown> | undefined): boolean {
    if (this.holding) return true;
    if (!json) return false;
    for (const [position, choice] of arrayOf(json.choices).entries()) {
      const content = asRecord(asRecord(choice)?.delta)?.content;
      if (typeof content === 'string' && content !== '') this.withText.add(choiceIndex(asRecord(choice), position));
    }
    for (const { key, delta } of toolCallDeltas(json)) {
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      const name = asRecord(delta.function)?.name;
      // A server that names the tool only in a later delta is held from its first one:
      // without the name nothing tells a harmless call from an irreversible one.
      if (typeof name !== 'string' || name === '' || this.isGated(name)) this.holding = true;
    }
    return this.holding;
  }

  toolCalls(held: readonly ObservedEvent[]): ToolCallSeen[] {
    const calls = new Map<string, ToolCallSeen>();
    for (const { json } of held) {
      if (!json) continue;
      for (const { key, delta } of toolCallDeltas(json)) {
        const call = calls.get(key) ?? { key, id: null, name: '', arguments: '' };
        calls.set(key, call);
        if (typeof delta.id === 'string') call.id ??= delta.id;
        const fn = asRecord(delta.function);
        if (typeof fn?.name === 'string') call.name += fn.name;
        if (typeof fn?.arguments === 'string') call.arguments += fn.arguments;
      }
    }
    return [...calls.values()];
  }

  withoutToolCalls(held: readonly ObservedEvent[], denied: ReadonlySet<string>, text: string): SseEvent[] {
    const newIndex = this.renumbering(held, denied);
    const deniedChoices = new Set([...denied].map((key) => Number(key.split(':')[0])));
    const events: SseEvent[] = [];
    for (const { event, json } of held) {
      if (!json || !Array.isArray(json.choices)) {
        events.push(event);
        continue;
      }
      let changed = false;
      const choices: unknown[] = [];
      for (const [position, choiceValue] of json.choices.entries()) {
        const choice = asRecord(choiceValue);
        const delta = asRecord(choice?.delta);
        const number = choiceIndex(choice, position);
        if (!choice) continue;
        if (delta && Array.isArray(delta.tool_calls)) {
          changed = true;
          const kept = delta.tool_calls.flatMap((callValue, offset) => {
            const call = asRecord(callValue);
            const index = typeof call?.index === 'number' ? call.index : offset;
            const moved = newIndex.get(`${number}:${index}`);
            return call && moved !== undefined ? [{ ...call, index: moved }] : [];
          });
          if (kept.length > 0) delta.tool_calls = kept;
          else delete delta.tool_calls;
        }
        if (choice.finish_reason !== null && choice.finish_reason !== undefined && deniedChoices.has(number)) {
          changed = true;
          // The denial is said as assistant text just before the finish, in a chunk of its own.
          const content = this.withText.has(number) ? `\n\n${text}` : text;
          events.push(jsonEvent(event, { ...json, choices: [{ index: number, delta: { content }, logprobs: null, finish_reason: null }] }));
          const left = [...newIndex.keys()].some((key) => key.startsWith(`${number}:`));
          if (!left) choice.finish_reason = 'stop';
        }
        const empty = delta !== undefined && Object.keys(delta).length === 0 && (choice.finish_reason === null || choice.finish_reason === undefined);
        if (!empty) choices.push(choice);
      }
      if (!changed) {
        events.push(event);
        continue;
      }
      // A chunk that only carried denied tool-call deltas is dropped whole.
      if (choices.length === 0 && (json.usage === null || json.usage === undefined)) continue;
      events.push(jsonEvent(event, { ...json, choices }));
    }
    return events;
  }

  /** New tool-call index of each kept call; denied ones are absent. */
  private renumbering(held: readonly ObservedEvent[], denied: ReadonlySet<string>): Map<string, number> {
    const keys = new Set(this.seen);
    for (const { json } of held) if (json) for (const { key } of toolCallDeltas(json)) keys.add(key);
    const byChoice = new Map<number, number[]>();
    for (const key of keys) {
      const [choice, index] = key.split(':').map(Number) as [number, number];
      byChoice.set(choice, [...(byChoice.get(choice) ?? []), index]);
    }
    const result = new Map<string, number>();
    for (const [choice, indexes] of byChoice) {
      const gone = indexes.filter((index) => denied.has(`${choice}:${index}`));
      const shift = shiftPast(gone);
      for (const index of indexes) if (!denied.has(`${choice}:${index}`)) result.set(`${choice}:${index}`, shift(index));
    }
    return result;
  }
}
