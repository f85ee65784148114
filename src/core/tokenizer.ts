import { countTokens } from 'gpt-tokenizer';

/**
 * Token counting with a real BPE tokenizer (o200k_base, the GPT-4o family's).
 * Used where the upstream gives no usage: a stream cut mid-way, a provider that omits
 * it, the simulator. For other vendors' models it is an estimate, and entries priced
 * from it are marked estimated.
 */
export function countTextTokens(text: string): number {
  return text.length === 0 ? 0 : countTokens(text, AS_PLAIN_TEXT);
}

// Text such as "<|endoftext|>" in a prompt is counted as the plain text it is, not refused:
// providers accept it, so the meter must too.
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** Per-message framing tokens, as OpenAI documents for its chat format. */
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_REPLY_PRIMER = 3;

export type Protocol = 'openai-chat' | 'openai-responses' | 'anthropic-messages';

/**
 * Counts the prompt tokens of a request body of any of the three protocols: every piece
 * of text it carries (messages, system, instructions, tool definitions), plus framing.
 * Deterministic, so the simulator and the gateway's estimates agree.
 */
export function countPromptTokens(protocol: Protocol, body: Record<string, unknown>): number {
  const messages = promptMessages(protocol, body);
  let total = TOKENS_PER_REPLY_PRIMER;
  for (const message of messages) total += TOKENS_PER_MESSAGE + countTextTokens(message);
  if (body.tools !== undefined) total += countTextTokens(JSON.stringify(body.tools));
  return total;
}

function promptMessages(protocol: Protocol, body: Record<string, unknown>): string[] {
  const texts: string[] = [];
  if (protocol === 'openai-responses') {
    if (typeof body.instructions === 'string') texts.push(body.instructions);
    if (typeof body.input === 'string') texts.push(body.input);
    else if (Array.isArray(body.input)) for (const item of body.input) texts.push(textOf(item));
    return texts;
  }
  if (protocol === 'anthropic-messages' && body.system !== undefined) texts.push(textOf(body.system));
  if (Array.isArray(body.messages)) for (const message of body.messages) texts.push(textOf(message));
  return texts;
}

/** All string content inside a message, content part list or tool call, in order. */
export function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(textOf).join('');
  if (value === null || typeof value !== 'object') return '';
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of ['content', 'text', 'input', 'output', 'arguments', 'name']) {
    const field = record[key];
    if (field === undefined) continue;
    parts.push(typeof field === 'string' ? field : key === 'input' ? JSON.stringify(field) : textOf(field));
  }
  if (record.tool_calls !== undefined) parts.push(textOf(record.tool_calls));
  if (record.function !== undefined) parts.push(textOf(record.function));
  return parts.join('');
}
