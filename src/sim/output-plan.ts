import { countTextTokens } from '../core/tokenizer.js';
import { sampleFromSchema, type JsonValue } from './json-schema-sample.js';
import { documentText } from './output-faults.js';
import { newId } from './ids.js';
import type { SimulatedCall } from './simulated-call.js';
import { SimError } from './errors.js';
import { onePiecePerToken, truncateToTokens } from './token-pieces.js';
import { proseTokens } from './vocabulary.js';

/** What the simulated model answers, decided before the first byte is written. */
export interface OutputPlan {
  /** Text (prose or a JSON document), one token per piece. */
  textPieces: string[];
  toolCall: PlannedToolCall | undefined;
  /** Why generation ended, in neutral words each protocol maps to its own. */
  finish: 'stop' | 'length' | 'tool_call';
  /** Every generated token: text pieces, plus the tool call's name and argument tokens. */
  outputTokens: number;
}

export interface PlannedToolCall {
  /** call_… for OpenAI, toolu_… for Anthropic. */
  callId: string;
  /** fc_…: the Responses API's id of the output item, distinct from its call_id. */
  itemId: string;
  name: string;
  nameTokens: number;
  /** The arguments JSON, one token per piece (cut short if max tokens ran out). */
  argumentPieces: string[];
  arguments: string;
}

const DEFAULT_MIN_TOKENS = 16;
/** x-sim-fail-models with a forced tool: arguments that miss every required field of a schema. */
const CONTRACT_BREAKING_ARGUMENTS = '{"x_sim_contract_failure":true}';
const DEFAULT_MAX_TOKENS = 64;

export function planOutput(call: SimulatedCall): OutputPlan {
  const { directives } = call;
  const cap = call.maxTokens ?? Infinity;
  if (call.forcedTool !== undefined) return planToolCall(call, cap);
  if (call.jsonSchema !== undefined && directives.breakContract) {
    // x-sim-fail-models: prose where a JSON document was asked for, which no schema accepts.
    const count = Math.min(directives.outputTokens ?? DEFAULT_MIN_TOKENS, cap);
    return { textPieces: proseTokens(call.seed, count), toolCall: undefined, finish: 'stop', outputTokens: count };
  }
  if (call.jsonSchema !== undefined || directives.outputJson !== undefined || directives.outputFault !== undefined) {
    // Structured output is as long as its document; x-sim-output-tokens can only cut it.
    const value = directives.outputJson !== undefined ? (JSON.parse(directives.outputJson) as JsonValue) : sampleFromSchema(call.jsonSchema ?? {}, call.seed);
    const document = tokenize(documentText(value, directives.outputFault), 'x-sim-output-json');
    const textPieces = truncateToTokens(document, Math.min(cap, directives.outputTokens ?? Infinity, truncation(directives.outputFault, document.length)));
    return { textPieces, toolCall: undefined, finish: textPieces.length < document.length ? 'length' : 'stop', outputTokens: textPieces.length };
  }
  const wanted = directives.outputTokens ?? DEFAULT_MIN_TOKENS + (call.seed % (DEFAULT_MAX_TOKENS - DEFAULT_MIN_TOKENS + 1));
  const count = Math.min(wanted, cap);
  return { textPieces: proseTokens(call.seed, count), toolCall: undefined, finish: count < wanted ? 'length' : 'stop', outputTokens: count };
}

function planToolCall(call: SimulatedCall, cap: number): OutputPlan {
  const { directives } = call;
  const tool = call.forcedTool!;
  const textPieces = proseTokens(call.seed, Math.min(directives.textBeforeTool, cap));
  const nameTokens = countTextTokens(tool.name);
  const room = cap - textPieces.length - nameTokens;
  // Without room for the whole name there is no call at all, only the text, cut short.
  if (room < 0) return { textPieces, toolCall: undefined, finish: 'length', outputTokens: textPieces.length };
  const scripted = directives.breakContract ? CONTRACT_BREAKING_ARGUMENTS : directives.toolArguments ?? directives.outputJson;
  const value = scripted !== undefined ? (JSON.parse(scripted) as JsonValue) : tool.schema === undefined ? {} : sampleFromSchema(tool.schema, call.seed);
  const allPieces = tokenize(documentText(value, directives.outputFault), 'x-sim-tool-args');
  const argumentPieces = truncateToTokens(allPieces, Math.min(room, truncation(directives.outputFault, allPieces.length)));
  const idPrefix = call.protocol === 'anthropic-messages' ? 'toolu_' : 'call_';
  return {
    textPieces,
    toolCall: { callId: newId(idPrefix), itemId: newId('fc_'), name: tool.name, nameTokens, argumentPieces, arguments: argumentPieces.join('') },
    finish: argumentPieces.length < allPieces.length ? 'length' : 'tool_call',
    outputTokens: textPieces.length + nameTokens + argumentPieces.length,
  };
}

function tokenize(text: string, header: string): string[] {
  try {
    return onePiecePerToken(text);
  } catch (error) {
    throw new SimError('invalid_request', `${header} could not be tokenized: ${(error as Error).message}`);
  }
}

/** x-sim-output: truncated stops the document halfway, as if max tokens ran out. */
function truncation(fault: SimulatedCall['directives']['outputFault'], tokens: number): number {
  return fault === 'truncated' ? Math.max(1, Math.floor(tokens / 2)) : Infinity;
}
