import type { Protocol } from '../core/tokenizer.js';
import { asRecord } from '../protocols/adapter.js';
import { arrayOf } from '../protocols/openai-chat.js';

/** What a model produced, in the terms a contract judges: its text, its tool calls, whether it was cut short. */
export interface ProducedOutput {
  text: string;
  /** Arguments as the wire carried them: JSON text (OpenAI) or an object (Anthropic). */
  toolCalls: { name: string; arguments: string | Record<string, unknown> }[];
  /** The model stopped at its token limit: the document is probably incomplete. */
  truncated: boolean;
  /** The model declined to answer (OpenAI's refusal field or content part). */
  refusal: string | null;
}

/** Reads the output of a whole (non-streamed) response. */
export function producedOutputOf(protocol: Protocol, response: Record<string, unknown>): ProducedOutput {
  const produced: ProducedOutput = { text: '', toolCalls: [], truncated: false, refusal: null };
  if (protocol === 'openai-chat') {
    const choice = asRecord(arrayOf(response.choices)[0]);
    const message = asRecord(choice?.message);
    if (typeof message?.content === 'string') produced.text = message.content;
    if (typeof message?.refusal === 'string') produced.refusal = message.refusal;
    for (const call of arrayOf(message?.tool_calls)) {
      const fn = asRecord(asRecord(call)?.function);
      if (typeof fn?.name === 'string') produced.toolCalls.push({ name: fn.name, arguments: typeof fn.arguments === 'string' ? fn.arguments : '' });
    }
    produced.truncated = choice?.finish_reason === 'length';
  } else if (protocol === 'openai-responses') {
    const parts: string[] = [];
    for (const item of arrayOf(response.output).map(asRecord)) {
      if (item?.type === 'function_call' && typeof item.name === 'string') {
        produced.toolCalls.push({ name: item.name, arguments: typeof item.arguments === 'string' ? item.arguments : '' });
      }
      if (item?.type !== 'message') continue;
      for (const part of arrayOf(item.content).map(asRecord)) {
        if (part?.type === 'output_text' && typeof part.text === 'string') parts.push(part.text);
        if (part?.type === 'refusal' && typeof part.refusal === 'string') produced.refusal = part.refusal;
      }
    }
    produced.text = parts.join('');
    produced.truncated = response.status === 'incomplete';
  } else {
    const parts: string[] = [];
    for (const block of arrayOf(response.content).map(asRecord)) {
      if (block?.type === 'text' && typeof block.text === 'string') parts.push(block.text);
      if (block?.type === 'tool_use' && typeof block.name === 'string') produced.toolCalls.push({ name: block.name, arguments: asRecord(block.input) ?? {} });
    }
    produced.text = parts.join('');
    produced.truncated = response.stop_reason === 'max_tokens';
  }
  return produced;
}

/** Builds the same ProducedOutput from a stream, event by event. */
export interface OutputCollector {
  observe(json: Record<string, unknown>): void;
  result(): ProducedOutput;
}

export function outputCollector(protocol: Protocol): OutputCollector {
  if (protocol === 'openai-chat') return new ChatCollector();
  if (protocol === 'openai-responses') return new ResponsesCollector();
  return new MessagesCollector();
}

class ChatCollector implements OutputCollector {
  private readonly text: string[] = [];
  private readonly refusal: string[] = [];
  private readonly tools: { name: string; arguments: string[] }[] = [];
  private truncated = false;

  observe(json: Record<string, unknown>): void {
    const choice = asRecord(arrayOf(json.choices)[0]);
    if (!choice) return;
    const delta = asRecord(choice.delta);
    if (typeof delta?.content === 'string') this.text.push(delta.content);
    if (typeof delta?.refusal === 'string') this.refusal.push(delta.refusal);
    for (const entry of arrayOf(delta?.tool_calls).map(asRecord)) {
      const index = typeof entry?.index === 'number' ? entry.index : 0;
      const fn = asRecord(entry?.function);
      const tool = (this.tools[index] ??= { name: '', arguments: [] });
      if (typeof fn?.name === 'string') tool.name = fn.name;
      if (typeof fn?.arguments === 'string') tool.arguments.push(fn.arguments);
    }
    if (choice.finish_reason === 'length') this.truncated = true;
  }

  result(): ProducedOutput {
    return {
      text: this.text.join(''),
      toolCalls: this.tools.filter(Boolean).map((tool) => ({ name: tool.name, arguments: tool.arguments.join('') })),
      truncated: this.truncated,
      refusal: this.refusal.length > 0 ? this.refusal.join('') : null,
    };
  }
}

/** The Responses stream ends with the whole response object: read that. */
class ResponsesCollector implements OutputCollector {
  private final: ProducedOutput | undefined;
  private readonly text: string[] = [];

  observe(json: Record<string, unknown>): void {
    if (json.type === 'response.output_text.delta' && typeof json.delta === 'string') this.text.push(json.delta);
    const response = asRecord(json.response);
    if (response && (json.type === 'response.completed' || json.type === 'response.incomplete')) this.final = producedOutputOf('openai-responses', response);
  }

  result(): ProducedOutput {
    return this.final ?? { text: this.text.join(''), toolCalls: [], truncated: true, refusal: null };
  }
}

class MessagesCollector implements OutputCollector {
  private readonly blocks: { type: string; name: string; parts: string[] }[] = [];
  private truncated = false;

  observe(json: Record<string, unknown>): void {
    const index = typeof json.index === 'number' ? json.index : 0;
    if (json.type === 'content_block_start') {
      const block = asRecord(json.content_block);
      this.blocks[index] = { type: String(block?.type ?? ''), name: typeof block?.name === 'string' ? block.name : '', parts: typeof block?.text === 'string' ? [block.text] : [] };
    } else if (json.type === 'content_block_delta') {
      const delta = asRecord(json.delta);
      const block = this.blocks[index];
      if (!block) return;
      if (typeof delta?.text === 'string') block.parts.push(delta.text);
      if (typeof delta?.partial_json === 'string') block.parts.push(delta.partial_json);
    } else if (json.type === 'message_delta') {
      if (asRecord(json.delta)?.stop_reason === 'max_tokens') this.truncated = true;
    }
  }

  result(): ProducedOutput {
    const produced: ProducedOutput = { text: '', toolCalls: [], truncated: this.truncated, refusal: null };
    const text: string[] = [];
    for (const block of this.blocks.filter(Boolean)) {
      // A streamed tool input is JSON text until parsed; an empty one means {}.
      if (block.type === 'tool_use') produced.toolCalls.push({ name: block.name, arguments: block.parts.join('') || '{}' });
      else if (block.type === 'text') text.push(block.parts.join(''));
    }
    produced.text = text.join('');
    return produced;
  }
}
