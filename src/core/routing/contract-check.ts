import { Ajv, type ValidateFunction } from 'ajv';
import type { Protocol } from '../tokenizer.js';

/**
 * The seam between routing and output contracts: the cascade asks each attempt's verdict
 * and escalates on 'failed'. This check reads the contract from the request itself (a
 * JSON Schema the agent asked the model to follow) and validates a whole answer with Ajv,
 * the standard validator. A richer contract library plugs in through the same interface.
 */
export type Verdict = 'passed' | 'failed' | 'none';

export interface AttemptAnswer {
  protocol: Protocol;
  /** The request body as sent upstream. */
  request: Record<string, unknown>;
  /** The provider's whole JSON answer. */
  response: Record<string, unknown>;
}

export interface ContractCheck {
  verdictOf(attempt: AttemptAnswer): Verdict;
}

/** Where the schema lives in a request: Chat's response_format, Responses' text.format, a forced tool. */
export interface RequestContract {
  schema: Record<string, unknown>;
  /** The tool whose input must match, when the contract is a forced tool call. */
  tool?: string | undefined;
}

export function contractOf(protocol: Protocol, body: Record<string, unknown>): RequestContract | undefined {
  if (protocol === 'openai-chat') {
    const format = record(body.response_format);
    const schema = format?.type === 'json_schema' ? record(record(format.json_schema)?.schema) : undefined;
    return schema && { schema };
  }
  if (protocol === 'openai-responses') {
    const format = record(record(body.text)?.format);
    const schema = format?.type === 'json_schema' ? record(format.schema) : undefined;
    return schema && { schema };
  }
  // Anthropic: a tool the request forces (tool_choice {type: "tool", name}, or "any" with one tool).
  const tools = Array.isArray(body.tools) ? body.tools.map(record).filter((tool) => tool !== undefined) : [];
  const choice = record(body.tool_choice);
  const forced = choice?.type === 'tool' ? tools.find((tool) => tool.name === choice.name) : choice?.type === 'any' && tools.length === 1 ? tools[0] : undefined;
  const schema = record(forced?.input_schema);
  return forced && schema ? { schema, tool: String(forced.name) } : undefined;
}

/** The document the answer delivers under the contract, or undefined when it delivered none. */
export function deliveredDocument(protocol: Protocol, contract: RequestContract, response: Record<string, unknown>): { value: unknown } | undefined {
  if (protocol === 'anthropic-messages') {
    const content = Array.isArray(response.content) ? response.content.map(record) : [];
    const use = content.find((block) => block?.type === 'tool_use' && block.name === contract.tool);
    return use && 'input' in use ? { value: use.input } : undefined;
  }
  let text: string | undefined;
  if (protocol === 'openai-chat') {
    const choices = Array.isArray(response.choices) ? response.choices : [];
    const content = record(record(choices[0])?.message)?.content;
    text = typeof content === 'string' ? content : undefined;
  } else {
    const parts: string[] = [];
    for (const item of Array.isArray(response.output) ? response.output.map(record) : []) {
      if (item?.type !== 'message' || !Array.isArray(item.content)) continue;
      for (const part of item.content.map(record)) if (part?.type === 'output_text' && typeof part.text === 'string') parts.push(part.text);
    }
    text = parts.length > 0 ? parts.join('') : undefined;
  }
  if (text === undefined) return undefined;
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

/** Compiled validators, by schema text: agents send the same schema call after call. */
const COMPILED_LIMIT = 256;

export class JsonSchemaContractCheck implements ContractCheck {
  // strict: false — provider schemas carry keywords Ajv does not know (e.g. "strict", descriptions).
  private readonly ajv = new Ajv({ strict: false, allErrors: false });
  private readonly compiled = new Map<string, { validate: ValidateFunction | null; schema: Record<string, unknown> }>();

  verdictOf({ protocol, request, response }: AttemptAnswer): Verdict {
    const contract = contractOf(protocol, request);
    if (!contract) return 'none';
    const validate = this.validator(contract.schema);
    if (!validate) return 'none';
    const document = deliveredDocument(protocol, contract, response);
    if (!document) return 'failed';
    return validate(document.value) ? 'passed' : 'failed';
  }

  /** A schema Ajv cannot compile yields no verdict (the provider is the judge of its own schema dialect). */
  private validator(schema: Record<string, unknown>): ValidateFunction | null {
    const key = JSON.stringify(schema);
    const known = this.compiled.get(key);
    if (known) return known.validate;
    let validate: ValidateFunction | null;
    try {
      validate = this.ajv.compile(schema);
    } catch {
      validate = null;
    }
    if (this.compiled.size >= COMPILED_LIMIT) {
      const [oldest, entry] = this.compiled.entries().next().value as [string, { schema: Record<string, unknown> }];
      this.compiled.delete(oldest);
      // Ajv keeps every compiled schema too; forget the evicted one there as well.
      this.ajv.removeSchema(entry.schema);
    }
    this.compiled.set(key, { validate, schema });
    return validate;
  }
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
