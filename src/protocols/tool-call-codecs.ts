import type { Protocol } from '../core/tokenizer.js';
import { anthropicMessagesTools } from './anthropic-messages-tools.js';
import { openAiChatTools } from './openai-chat-tools.js';
import { openAiResponsesTools } from './openai-responses-tools.js';
import type { ToolCallCodec } from './tool-calls.js';

const CODECS: Record<Protocol, ToolCallCodec> = {
  'openai-chat': openAiChatTools,
  'openai-responses': openAiResponsesTools,
  'anthropic-messages': anthropicMessagesTools,
};

export function toolCallCodec(protocol: Protocol): ToolCallCodec {
  return CODECS[protocol];
}
