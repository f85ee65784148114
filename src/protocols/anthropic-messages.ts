import { makeUsage, tokenCount, type Usage } from '../core/usage.js';
import { asRecord, readCommonFields, requireArray, type CallRequest, type ProtocolAdapter, type StreamMeter } from './adapter.js';
import type { ErrorKind, GatewayError } from './errors.js';
import { arrayOf } from './openai-chat.js';
import type { SseEvent } from './sse.js';

const ANTHROPIC_TYPE: Record<ErrorKind, string> = {
  invalid_request: 'invalid_request_error',
  authentication: 'authentication_error',
  permission: 'permission_error',
  not_found: 'not_found_error',
  too_large: 'request_too_large',
  upstream: 'api_error',
  internal: 'api_error',
  budget: 'budget_error',
};

/** Anthropic Messages: POST /v1/messages. Input usage comes first, output usage last. */
export const anthropicMessages: ProtocolAdapter = {
  protocol: 'anthropic-messages',

  parse(body): CallRequest {
    const common = readCommonFields(body, ['max_tokens']);
    requireArray(body, 'messages');
    return { protocol: 'anthropic-messages', ...common, upstreamBody: body, clientWantsStreamUsage: true };
  },

  capOutput(body, tokens) {
    return { ...body, max_tokens: tokens };
  },

  usageOf(response) {
    return messagesUsage(response.usage);
  },

  outputTextOf(response) {
    const parts: string[] = [];
    for (const block of arrayOf(response.content)) {
      const record = asRecord(block);
      if (typeof record?.text === 'string') parts.push(record.text);
      if (typeof record?.thinking === 'string') parts.push(record.thinking);
      if (record?.type === 'tool_use') parts.push(String(record.name ?? ''), JSON.stringify(record.input ?? {}));
    }
    return parts.join('');
  },

  meterStream(): StreamMeter {
    return new MessagesStreamMeter();
  },

  isFinalEvent(_event, json) {
    return json?.type === 'message_stop';
  },

  errorBody(error: GatewayError) {
    return anthropicErrorBody(error);
  },

  streamErrorEvent(error: GatewayError): SseEvent {
    return { event: 'error', data: JSON.stringify(anthropicErrorBody(error)) };
  },
};

/** Anthropic's shape, {type:"error", error:{type, message}}, plus our stable code. */
function anthropicErrorBody(error: GatewayError): Record<string, unknown> {
  const type = error.kind === 'budget' ? error.code : ANTHROPIC_TYPE[error.kind];
  return { type: 'error', error: { type, code: error.code, message: error.message } };
}

class MessagesStreamMeter implements StreamMeter {
  usage: Usage | undefined;
  usageFinal = false;
  responseId: string | undefined;
  private readonly output: string[] = [];

  observe(_event: SseEvent, json: Record<string, unknown> | undefined): boolean {
    if (!json) return true;
    switch (json.type) {
      case 'message_start': {
        const message = asRecord(json.message);
        if (typeof message?.id === 'string') this.responseId = message.id;
        // Input usage is real from the first event; output here is a placeholder the final count replaces.
        const usage = messagesUsage(message?.usage);
        if (usage) this.usage = { ...usage, outputTokens: 0 };
        break;
      }
      case 'content_block_start': {
        const block = asRecord(json.content_block);
        if (block?.type === 'tool_use' && typeof block.name === 'string') this.output.push(block.name);
        break;
      }
      case 'content_block_delta': {
        const delta = asRecord(json.delta);
        for (const key of ['text', 'partial_json', 'thinking']) {
          if (typeof delta?.[key] === 'string') this.output.push(delta[key] as string);
        }
        break;
      }
      case 'message_delta': {
        const usage = asRecord(json.usage);
        if (usage) {
          // message_delta carries cumulative output and, on newer API versions, input counts too.
          const previous = this.usage ?? makeUsage({});
          const update = messagesUsage(usage);
          this.usage = {
            ...previous,
            inputTokens: usage.input_tokens !== undefined ? update!.inputTokens : previous.inputTokens,
            cacheReadTokens: usage.cache_read_input_tokens !== undefined ? update!.cacheReadTokens : previous.cacheReadTokens,
            cacheWriteTokens: usage.cache_creation_input_tokens !== undefined ? update!.cacheWriteTokens : previous.cacheWriteTokens,
            outputTokens: tokenCount(usage.output_tokens),
          };
          this.usageFinal = usage.output_tokens !== undefined;
        }
        break;
      }
    }
    return true;
  }

  deliveredOutput(): string {
    return this.output.join('');
  }
}

function messagesUsage(value: unknown): Usage | undefined {
  const usage = asRecord(value);
  if (!usage) return undefined;
  return makeUsage({
    inputTokens: tokenCount(usage.input_tokens),
    cacheReadTokens: tokenCount(usage.cache_read_input_tokens),
    cacheWriteTokens: tokenCount(usage.cache_creation_input_tokens),
    outputTokens: tokenCount(usage.output_tokens),
  });
}
