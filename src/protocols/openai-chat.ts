import { makeUsage, tokenCount, type Usage } from '../core/usage.js';
import { asRecord, readCommonFields, requireArray, type CallRequest, type ProtocolAdapter, type StreamMeter } from './adapter.js';
import type { GatewayError } from './errors.js';
import { openAiErrorBody } from './openai-errors.js';
import type { SseEvent } from './sse.js';

/** OpenAI Chat Completions: POST /v1/chat/completions (also Ollama, vLLM, llama.cpp). */
export const openAiChat: ProtocolAdapter = {
  protocol: 'openai-chat',

  parse(body): CallRequest {
    const common = readCommonFields(body, ['max_completion_tokens', 'max_tokens']);
    requireArray(body, 'messages');
    const streamOptions = asRecord(body.stream_options);
    const clientWantsStreamUsage = streamOptions?.include_usage === true;
    let upstreamBody = body;
    if (common.stream && !clientWantsStreamUsage) {
      // Without this the upstream sends no usage at all and every stream would be estimated.
      upstreamBody = { ...body, stream_options: { ...streamOptions, include_usage: true } };
    }
    return { protocol: 'openai-chat', ...common, upstreamBody, clientWantsStreamUsage };
  },

  capOutput(body, tokens, provider) {
    // OpenAI's reasoning models refuse max_tokens; other OpenAI-compatible servers may not know max_completion_tokens.
    const field = 'max_completion_tokens' in body || (provider === 'openai' && !('max_tokens' in body)) ? 'max_completion_tokens' : 'max_tokens';
    return { ...body, [field]: tokens };
  },

  usageOf(response) {
    return chatUsage(response.usage);
  },

  outputTextOf(response) {
    const parts: string[] = [];
    for (const choice of arrayOf(response.choices)) {
      const message = asRecord(asRecord(choice)?.message);
      if (message) collectMessageText(message, parts);
    }
    return parts.join('');
  },

  meterStream(request): StreamMeter {
    return new ChatStreamMeter(request.clientWantsStreamUsage);
  },

  isFinalEvent(event, _json) {
    return event.data === '[DONE]';
  },

  errorBody(error: GatewayError) {
    return openAiErrorBody(error);
  },

  streamErrorEvent(error: GatewayError): SseEvent {
    // OpenAI sends mid-stream failures as a data event carrying `error`; the SDK throws APIError.
    return { data: JSON.stringify(openAiErrorBody(error)) };
  },
};

class ChatStreamMeter implements StreamMeter {
  usage: Usage | undefined;
  usageFinal = false;
  responseId: string | undefined;
  private readonly output: string[] = [];

  constructor(private readonly clientWantsUsage: boolean) {}

  observe(_event: SseEvent, json: Record<string, unknown> | undefined): boolean {
    if (!json) return true;
    if (typeof json.id === 'string') this.responseId ??= json.id;
    for (const choice of arrayOf(json.choices)) {
      const delta = asRecord(asRecord(choice)?.delta);
      if (delta) collectMessageText(delta, this.output);
    }
    const usage = chatUsage(json.usage);
    if (usage) {
      this.usage = usage;
      this.usageFinal = true;
      // The usage-only chunk exists because we asked for it; a client that did not gets none.
      if (!this.clientWantsUsage && arrayOf(json.choices).length === 0) return false;
    }
    return true;
  }

  deliveredOutput(): string {
    return this.output.join('');
  }
}

function chatUsage(value: unknown): Usage | undefined {
  const usage = asRecord(value);
  if (!usage) return undefined;
  const prompt = tokenCount(usage.prompt_tokens);
  const cached = Math.min(prompt, tokenCount(asRecord(usage.prompt_tokens_details)?.cached_tokens));
  return makeUsage({
    inputTokens: prompt - cached,
    cacheReadTokens: cached,
    outputTokens: tokenCount(usage.completion_tokens),
    reasoningTokens: tokenCount(asRecord(usage.completion_tokens_details)?.reasoning_tokens),
  });
}

function collectMessageText(message: Record<string, unknown>, parts: string[]): void {
  if (typeof message.content === 'string') parts.push(message.content);
  if (typeof message.refusal === 'string') parts.push(message.refusal);
  if (typeof message.reasoning_content === 'string') parts.push(message.reasoning_content);
  for (const call of arrayOf(message.tool_calls)) {
    const fn = asRecord(asRecord(call)?.function);
    if (typeof fn?.name === 'string') parts.push(fn.name);
    if (typeof fn?.arguments === 'string') parts.push(fn.arguments);
  }
}

export function arrayOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
