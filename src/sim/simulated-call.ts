import { countPromptTokens, textOf, type Protocol } from '../core/tokenizer.js';
import { directivesForModel, type SimDirectives } from './directives.js';
import { SimError } from './errors.js';
import { hashString } from './seeded-random.js';

/** One request, read into what the simulator needs to answer it. */
export interface SimulatedCall {
  protocol: Protocol;
  requestId: string;
  model: string;
  stream: boolean;
  /** Chat Completions only: stream_options.include_usage. */
  includeUsage: boolean;
  /** The request's cap on generated tokens, if it sets one. */
  maxTokens: number | undefined;
  promptTokens: number;
  /** Seeds every choice of the output: same prompt, same output. */
  seed: number;
  /** The tool the request forces (or the directives name), with its parameter schema. */
  forcedTool: { name: string; schema: unknown } | undefined;
  /** Present when the request asks for JSON output: the schema the document must satisfy. */
  jsonSchema: unknown;
  body: Record<string, unknown>;
  directives: SimDirectives;
  /** Unix seconds, as the providers stamp responses. */
  createdAt: number;
}

const MAX_TOKEN_FIELDS: Record<Protocol, string[]> = {
  'openai-chat': ['max_completion_tokens', 'max_tokens'],
  'openai-responses': ['max_output_tokens'],
  'anthropic-messages': ['max_tokens'],
};

/** Where each protocol keeps its prompt, for seeding and for the prompt-token cache key. */
const PROMPT_FIELDS: Record<Protocol, string[]> = {
  'openai-chat': ['messages', 'tools'],
  'openai-responses': ['instructions', 'input', 'tools'],
  'anthropic-messages': ['system', 'messages', 'tools'],
};

export function readCall(protocol: Protocol, body: Record<string, unknown>, directives: SimDirectives, requestId: string): SimulatedCall {
  const model = body.model;
  if (model === undefined || model === null || model === '') throw new SimError('invalid_request', 'you must provide a model parameter', 'model');
  if (typeof model !== 'string') throw new SimError('invalid_request', 'model must be a string', 'model');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    throw new SimError('invalid_request', 'stream must be a boolean', 'stream');
  }
  if (protocol !== 'openai-responses' && !Array.isArray(body.messages)) {
    throw new SimError('invalid_request', 'messages: an array of messages is required', 'messages');
  }
  const maxTokens = readMaxTokens(protocol, body);
  if (protocol === 'anthropic-messages' && maxTokens === undefined) throw new SimError('invalid_request', 'max_tokens: Field required', 'max_tokens');
  const promptKey = JSON.stringify(PROMPT_FIELDS[protocol].map((field) => body[field] ?? null));
  return {
    protocol,
    requestId,
    model,
    stream: body.stream === true,
    includeUsage: protocol === 'openai-chat' && record(body.stream_options)?.include_usage === true,
    maxTokens,
    promptTokens: cachedPromptTokens(protocol, promptKey, body),
    seed: hashString(promptKey, hashString(model)),
    forcedTool: forcedTool(protocol, body, directives.toolName),
    jsonSchema: jsonSchema(protocol, body),
    body,
    directives: withRemedy(protocol, body, directivesForModel(directives, model)),
    createdAt: Math.floor(Date.now() / 1000),
  };
}

/** Remedy mode: a prompt that carries the remedy text is answered without the faults. */
function withRemedy(protocol: Protocol, body: Record<string, unknown>, directives: SimDirectives): SimDirectives {
  const remedy = directives.failUnlessPromptContains;
  if (remedy === undefined) return directives;
  const prompt = PROMPT_FIELDS[protocol].filter((field) => field !== 'tools').map((field) => textOf(body[field])).join('\n');
  // Compared case- and space-insensitively: a precedent's text is normalized when it is kept.
  const normalize = (text: string) => text.toLowerCase().replace(/\s+/g, ' ');
  return normalize(prompt).includes(normalize(remedy)) ? { ...directives, fault: undefined, outputFault: undefined } : directives;
}

function readMaxTokens(protocol: Protocol, body: Record<string, unknown>): number | undefined {
  let cap: number | undefined;
  for (const field of MAX_TOKEN_FIELDS[protocol]) {
    const value = body[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new SimError('invalid_request', `${field} must be a positive integer`, field);
    }
    cap = cap === undefined ? value : Math.min(cap, value);
  }
  return cap;
}

/**
 * Prompt tokenization is the one costly step per request, and benchmarks send the same
 * prompt over and over: remember the last few thousand counts.
 */
const PROMPT_CACHE_LIMIT = 4096;
const promptTokenCache = new Map<string, number>();

function cachedPromptTokens(protocol: Protocol, promptKey: string, body: Record<string, unknown>): number {
  const key = `${protocol}\n${promptKey}`;
  const cached = promptTokenCache.get(key);
  if (cached !== undefined) return cached;
  let count: number;
  try {
    count = countPromptTokens(protocol, body);
  } catch (error) {
    // The tokenizer refuses special-token text such as "<|endoftext|>".
    throw new SimError('invalid_request', `the prompt could not be tokenized: ${(error as Error).message}`, 'messages');
  }
  if (promptTokenCache.size >= PROMPT_CACHE_LIMIT) promptTokenCache.delete(promptTokenCache.keys().next().value as string);
  promptTokenCache.set(key, count);
  return count;
}

interface OfferedTool {
  name: string;
  schema: unknown;
}

function offeredTools(protocol: Protocol, body: Record<string, unknown>): OfferedTool[] {
  if (!Array.isArray(body.tools)) return [];
  const tools: OfferedTool[] = [];
  for (const entry of body.tools) {
    const tool = record(entry);
    // Chat nests the function; Responses flattens it; Anthropic calls the schema input_schema.
    const definition = protocol === 'openai-chat' ? record(tool?.function) : tool;
    const name = definition?.name;
    if (typeof name !== 'string') continue;
    if (protocol !== 'anthropic-messages' && tool?.type !== 'function') continue;
    tools.push({ name, schema: protocol === 'anthropic-messages' ? definition?.input_schema : definition?.parameters });
  }
  return tools;
}

function forcedTool(protocol: Protocol, body: Record<string, unknown>, directedName: string | undefined): OfferedTool | undefined {
  const tools = offeredTools(protocol, body);
  if (directedName !== undefined) return tools.find((tool) => tool.name === directedName) ?? { name: directedName, schema: undefined };
  const choice = body.tool_choice;
  const choiceRecord = record(choice);
  let name: string | undefined;
  let forced = false;
  if (protocol === 'anthropic-messages') {
    forced = choiceRecord?.type === 'any' || choiceRecord?.type === 'tool';
    if (choiceRecord?.type === 'tool' && typeof choiceRecord.name === 'string') name = choiceRecord.name;
  } else {
    forced = choice === 'required' || choiceRecord?.type === 'function';
    const named = protocol === 'openai-chat' ? record(choiceRecord?.function)?.name : choiceRecord?.name;
    if (typeof named === 'string') name = named;
  }
  if (!forced || tools.length === 0) return undefined;
  return (name === undefined ? tools[0] : tools.find((tool) => tool.name === name)) ?? tools[0];
}

/** json_object mode promises an object, nothing more: answer with a one-field object. */
const ANY_JSON_OBJECT = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] };

function jsonSchema(protocol: Protocol, body: Record<string, unknown>): unknown {
  const format =
    protocol === 'openai-chat' ? record(body.response_format) : protocol === 'openai-responses' ? record(record(body.text)?.format) : undefined;
  if (format?.type === 'json_object') return ANY_JSON_OBJECT;
  if (format?.type !== 'json_schema') return undefined;
  // Chat nests the schema under json_schema; Responses puts it on the format itself.
  const schema = protocol === 'openai-chat' ? record(format.json_schema)?.schema : format.schema;
  return schema ?? {};
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
