import { makeUsage, tokenCount, type Usage } from '../core/usage.js';
import { asRecord, readCommonFields, type CallRequest, type ProtocolAdapter, type StreamMeter } from './adapter.js';
import { invalidRequest, type GatewayError } from './errors.js';
import { arrayOf } from './openai-chat.js';
import { openAiErrorBody } from './openai-errors.js';
import type { SseEvent } from './sse.js';

/** OpenAI Responses: POST /v1/responses. Usage arrives only with the terminal event. */
export const openAiResponses: ProtocolAdapter = {
  protocol: 'openai-responses',

  parse(body): CallRequest {
    const common = readCommonFields(body, ['max_output_tokens']);
    if (body.input !== undefined && typeof body.input !== 'string' && !Array.isArray(body.input)) {
      throw invalidRequest('"input" must be a string or an array', 'input');
    }
    return { protocol: 'openai-responses', ...common, upstreamBody: body, clientWantsStreamUsage: true };
  },

  capOutput(body, tokens) {
    return { ...body, max_output_tokens: tokens };
  },

  usageOf(response) {
    return responsesUsage(response.usage);
  },

  outputTextOf(response) {
    const parts: string[] = [];
    for (const item of arrayOf(response.output)) collectItemText(asRecord(item), parts);
    return parts.join('');
  },

  meterStream(): StreamMeter {
    return new ResponsesStreamMeter();
  },

  isFinalEvent(_event, json) {
    return typeof json?.type === 'string' && TERMINAL_EVENTS.has(json.type);
  },

  errorBody(error: GatewayError) {
    return openAiErrorBody(error);
  },

  streamErrorEvent(error: GatewayError): SseEvent {
    const body = openAiErrorBody(error);
    // The Responses `error` event carries code and message at the top level; the nested
    // `error` object is what makes the official SDK raise an APIError instead of yielding it.
    return {
      event: 'error',
      data: JSON.stringify({ type: 'error', code: error.code, message: error.message, param: error.param ?? null, ...body }),
    };
  },
};

const TERMINAL_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

class ResponsesStreamMeter implements StreamMeter {
  usage: Usage | undefined;
  usageFinal = false;
  responseId: string | undefined;
  private readonly output: string[] = [];

  observe(_event: SseEvent, json: Record<string, unknown> | undefined): boolean {
    if (!json) return true;
    const type = json.type;
    if (type === 'response.output_text.delta' || type === 'response.function_call_arguments.delta' || type === 'response.refusal.delta') {
      if (typeof json.delta === 'string') this.output.push(json.delta);
    } else if (type === 'response.output_item.added') {
      const item = asRecord(json.item);
      if (item?.type === 'function_call' && typeof item.name === 'string') this.output.push(item.name);
    } else if (typeof type === 'string' && (TERMINAL_EVENTS.has(type) || type === 'response.created')) {
      const response = asRecord(json.response);
      if (typeof response?.id === 'string') this.responseId ??= response.id;
      const usage = responsesUsage(response?.usage);
      if (usage && TERMINAL_EVENTS.has(type)) {
        this.usage = usage;
        this.usageFinal = true;
      }
    }
    return true;
  }

  deliveredOutput(): string {
    return this.output.join('');
  }
}

function responsesUsage(value: unknown): Usage | undefined {
  const usage = asRecord(value);
  if (!usage) return undefined;
  const input = tokenCount(usage.input_tokens);
  const cached = Math.min(input, tokenCount(asRecord(usage.input_tokens_details)?.cached_tokens));
  return makeUsage({
    inputTokens: input - cached,
    cacheReadTokens: cached,
    outputTokens: tokenCount(usage.output_tokens),
    reasoningTokens: tokenCount(asRecord(usage.output_tokens_details)?.reasoning_tokens),
  });
}

function collectItemText(item: Record<string, unknown> | undefined, parts: string[]): void {
  if (!item) return;
  if (item.type === 'function_call') {
    if (typeof item.name === 'string') parts.push(item.name);
    if (typeof item.arguments === 'string') parts.push(item.arguments);
    return;
  }
  for (const content of arrayOf(item.content)) {
    const part = asRecord(content);
    if (typeof part?.text === 'string') parts.push(part.text);
    if (typeof part?.refusal === 'string') parts.push(part.refusal);
  }
}
