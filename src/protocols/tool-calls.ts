import type { SseEvent } from './sse.js';

/**
 * Tool calls in a model's answer, for approval gates: find them (cheaply: names first),
 * and take denied ones out while keeping the answer well-formed in its own protocol.
 * One implementation per wire format, next to its adapter.
 */

/** One tool call the model asked for. */
export interface ToolCallSeen {
  /** Where it sits in the answer, stable within one answer: "<choice>:<index>", a block or an output index. */
  key: string;
  /** The provider's id for it (call_…, toolu_…). */
  id: string | null;
  name: string;
  /** The arguments JSON text as the model wrote it. */
  arguments: string;
}

/** One event of a stream as the relay read it. */
export interface ObservedEvent {
  event: SseEvent;
  json: Record<string, unknown> | undefined;
}

/**
 * Watches one stream's events in order. Only names are looked at until a gated tool call
 * starts; from that event on the relay holds everything, and the held events are read
 * once, after the upstream finished.
 */
export interface StreamToolWatcher {
  /** True when this event must be held: it starts a gated tool call, or one already started. */
  holds(event: SseEvent, json: Record<string, unknown> | undefined): boolean;
  /** The tool calls among the held events, with their complete arguments. */
  toolCalls(held: readonly ObservedEvent[]): ToolCallSeen[];
  /**
   * The held events without the denied tool calls, with `text` as a new piece of assistant
   * text before the end, the finish saying stop when no tool call is left, and indexes
   * (and sequence numbers) renumbered so the official SDKs accept the stream.
   */
  withoutToolCalls(held: readonly ObservedEvent[], denied: ReadonlySet<string>, text: string): SseEvent[];
}

export interface ToolCallCodec {
  /** Tool calls in a whole (non-streamed) answer. */
  toolCallsOf(response: Record<string, unknown>): ToolCallSeen[];
  /** The answer without the denied tool calls, with `text` as assistant text; usage untouched. */
  withoutToolCalls(response: Record<string, unknown>, denied: ReadonlySet<string>, text: string): Record<string, unknown>;
  watchStream(isGated: (toolName: string) => boolean): StreamToolWatcher;
}

/** Re-serializes an event whose JSON was changed, keeping its SSE event name. */
export function jsonEvent(event: SseEvent, json: Record<string, unknown>): SseEvent {
  return { event: event.event, data: JSON.stringify(json) };
}

/** Maps an index to its place once the denied ones before it are gone. */
export function shiftPast(denied: readonly number[]): (index: number) => number {
  return (index) => index - denied.filter((gone) => gone < index).length;
}
