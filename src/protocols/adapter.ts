import type { Protocol } from '../core/tokenizer.js';
import type { Usage } from '../core/usage.js';
import { GatewayError, invalidRequest } from './errors.js';
import type { SseEvent } from './sse.js';

/** One model request, parsed from any protocol into what the gateway needs to know. */
export interface CallRequest {
  protocol: Protocol;
  model: string;
  stream: boolean;
  /** The request's cap on generated tokens, when it sets one. */
  maxOutputTokens: number | undefined;
  /** The body as sent upstream: the client's, plus what metering needs (stream usage). */
  upstreamBody: Record<string, unknown>;
  /** Whether the client asked for the usage chunk itself; if not, the gateway's is dropped. */
  clientWantsStreamUsage: boolean;
}

/** Watches one upstream stream, event by event: usage, delivered output, the end. */
export interface StreamMeter {
  /** Reads one event; returns false when the event is the gateway's own and must not reach the client. */
  observe(event: SseEvent, json: Record<string, unknown> | undefined): boolean;
  /** Usage as the upstream last reported it (possibly partial, e.g. input only). */
  readonly usage: Usage | undefined;
  /** True once the upstream reported final usage for the whole call. */
  readonly usageFinal: boolean;
  /** Generated text delivered so far (content, tool names and arguments), for counting a cut stream. */
  deliveredOutput(): string;
  /** Id the upstream gave the response, for the ledger. */
  readonly responseId: string | undefined;
}

/** "Protocol in" and "protocol out" of one wire format. */
export interface ProtocolAdapter {
  readonly protocol: Protocol;
  parse(body: Record<string, unknown>): CallRequest;
  /** The body with its output capped at `tokens`, in the field this protocol (and provider) uses. */
  capOutput(body: Record<string, unknown>, tokens: number, provider: string): Record<string, unknown>;
  usageOf(response: Record<string, unknown>): Usage | undefined;
  outputTextOf(response: Record<string, unknown>): string;
  meterStream(request: CallRequest): StreamMeter;
  /** The event after which the protocol's stream is complete ([DONE], message_stop, response.completed). */
  isFinalEvent(event: SseEvent, json: Record<string, unknown> | undefined): boolean;
  /** The provider's JSON error body for a refusal or failure. */
  errorBody(error: GatewayError): Record<string, unknown>;
  /** The protocol's in-stream error event, which makes the official SDKs throw. */
  streamErrorEvent(error: GatewayError): SseEvent;
}

/** Checks shared by every protocol: model present, stream a boolean, caps positive integers. */
export function readCommonFields(body: Record<string, unknown>, maxField: string[]) {
  const model = body.model;
  if (model === undefined || model === null || model === '') {
    throw new GatewayError('missing_model', 'invalid_request', 'the request has no "model"', { param: 'model' });
  }
  if (typeof model !== 'string') throw invalidRequest('"model" must be a string', 'model');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    throw invalidRequest('"stream" must be a boolean', 'stream');
  }
  let maxOutputTokens: number | undefined;
  for (const field of maxField) {
    const value = body[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw invalidRequest(`"${field}" must be a positive integer`, field);
    }
    maxOutputTokens = value;
    break;
  }
  return { model, stream: body.stream === true, maxOutputTokens };
}

export function requireArray(body: Record<string, unknown>, field: string): void {
  if (!Array.isArray(body[field])) throw invalidRequest(`"${field}" must be an array`, field);
}

export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
