import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { parseUsd, type Money } from '../core/money.js';
import type { ContractVerdict } from '../stores/ledger.js';
import type { JsonSchema } from './contract.js';

/** A model to try, and which of its provider's APIs to reach it by. */
export interface ModelTarget {
  model: string;
  protocol: 'openai' | 'anthropic';
  /**
   * False for servers without structured outputs (some OpenAI-compatible local servers):
   * the schema goes into the system prompt and the answer is parsed from text. Default true.
   */
  structuredOutput?: boolean;
}

export type ModelChoice = string | ModelTarget;

/** claude-* goes to the Messages API; everything else to Chat Completions. */
export function targetOf(choice: ModelChoice): ModelTarget {
  if (typeof choice !== 'string') return choice;
  return { model: choice, protocol: choice.startsWith('claude') ? 'anthropic' : 'openai' };
}

/** One turn of the conversation a stage has with a model (the prompt, then any corrections). */
export interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

export interface StructuredCall {
  target: ModelTarget;
  system: string | undefined;
  turns: Turn[];
  contractName: string;
  schema: JsonSchema;
  maxTokens: number;
  headers: Record<string, string>;
}

/** What came back: the raw output (JSON text, or a tool input object) and the gateway's word on it. */
export interface StructuredAnswer {
  raw: string | Record<string, unknown> | undefined;
  /** For feeding back: the output as text. */
  text: string;
  truncated: boolean;
  callId: string;
  /** What the answer delivered cost. */
  cost: Money;
  /**
   * What the whole call cost: the answer's cost, plus, for a routing policy
   * (`intime/auto:<policy>`), the attempts of the gateway's cascade that failed before it.
   */
  spent: Money;
  /** The model that answered: the one asked for, or the one a routing policy chose. */
  model: string;
  /** What the gateway's schema validation said (the library's checks come on top). */
  gatewayVerdict: ContractVerdict;
  /** Precedents the gateway injected into this attempt's instructions, and the tokens they added. */
  precedents: string[];
  precedentTokens: number;
}

export interface ModelClients {
  openai: OpenAI;
  anthropic: Anthropic;
}

export function modelClients(gatewayUrl: string, runToken: string): ModelClients {
  // Retries are the stage's business: SDK retries would hide attempts from the ledger's waste.
  return {
    openai: new OpenAI({ baseURL: `${gatewayUrl}/v1`, apiKey: runToken, maxRetries: 0 }),
    anthropic: new Anthropic({ baseURL: gatewayUrl, apiKey: runToken, maxRetries: 0 }),
  };
}

/**
 * Asks for structured output where the provider has it: OpenAI Structured Outputs
 * (response_format json_schema), Anthropic a forced tool whose input_schema is the
 * contract's. The gateway sees the schema either way and records its verdict.
 */
export async function callForStructuredOutput(clients: ModelClients, call: StructuredCall): Promise<StructuredAnswer> {
  if (call.target.protocol === 'anthropic') {
    const toolName = toolNameOf(call.contractName);
    const { data, response } = await clients.anthropic.messages.create({
      model: call.target.model,
      max_tokens: call.maxTokens,
      ...(call.system ? { system: call.system } : {}),
      messages: call.turns,
      tools: [{ name: toolName, description: `Record the output (contract ${call.contractName})`, input_schema: call.schema as Anthropic.Tool.InputSchema }],
      tool_choice: { type: 'tool', name: toolName },
    }, { headers: call.headers }).withResponse();
    const toolUse = data.content.find((block) => block.type === 'tool_use');
    const raw = toolUse ? (toolUse.input as Record<string, unknown>) : undefined;
    const text = raw ? JSON.stringify(raw) : data.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
    return { raw, text, truncated: data.stop_reason === 'max_tokens', ...fromHeaders(response.headers, call.target.model) };
  }
  const structured = call.target.structuredOutput !== false;
  const system = structured ? call.system : [call.system, `Answer with only a JSON document that satisfies this JSON Schema: ${JSON.stringify(call.schema)}`].filter(Boolean).join('\n\n');
  const { data, response } = await clients.openai.chat.completions.create({
    model: call.target.model,
    max_completion_tokens: call.maxTokens,
    messages: [...(system ? [{ role: 'system' as const, content: system }] : []), ...call.turns],
    ...(structured ? { response_format: { type: 'json_schema' as const, json_schema: { name: call.contractName.replace(/[^A-Za-z0-9_-]/g, '_'), schema: call.schema } } } : {}),
  }, { headers: call.headers }).withResponse();
  const choice = data.choices[0];
  const text = choice?.message.content ?? '';
  return { raw: structured ? text : withoutCodeFence(text), text, truncated: choice?.finish_reason === 'length', ...fromHeaders(response.headers, call.target.model) };
}

/** Models asked for JSON in prose often wrap it in a ```json fence. */
function withoutCodeFence(text: string): string {
  const fenced = /^\s*```(?:json)?\s*\n([\s\S]*?)\n?```\s*$/.exec(text);
  return fenced ? fenced[1]! : text;
}

function toolNameOf(contractName: string): string {
  return `emit_${contractName.replace(/[^A-Za-z0-9_-]/g, '_')}`.slice(0, 64);
}

function fromHeaders(headers: Headers, asked: string): Pick<StructuredAnswer, 'callId' | 'cost' | 'spent' | 'model' | 'gatewayVerdict' | 'precedents' | 'precedentTokens'> {
  const callId = headers.get('x-intime-call-id');
  const cost = headers.get('x-intime-cost-usd');
  if (!callId || cost === null) throw new Error('the answer did not come through an InTime gateway (no x-intime-call-id / x-intime-cost-usd)');
  const spent = headers.get('x-intime-route-spent-usd');
  const precedents = headers.get('x-intime-precedents');
  return {
    callId,
    cost: parseUsd(cost),
    spent: parseUsd(spent ?? cost),
    model: headers.get('x-intime-model') ?? asked,
    gatewayVerdict: (headers.get('x-intime-contract-verdict') ?? 'none') as ContractVerdict,
    precedents: precedents ? precedents.split(',') : [],
    precedentTokens: Number(headers.get('x-intime-precedent-tokens') ?? 0),
  };
}
