import { countTextTokens } from '../core/tokenizer.js';
import { sampleFromSchema } from './json-schema-sample.js';
import { newId } from './ids.js';
import type { SimulatedCall } from './simulated-call.js';
import { SimError } from './errors.js';
import { asciiJson, onePiecePerToken, truncateToTokens } from './token-pieces.js';
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
  if (call.jsonSchema !== undefined) {
    // Structured output is as long as its document; x-sim-output-tokens can only cut it.
    const document = onePiecePerToken(asciiJson(sampleFromSchema(call.jsonSchema, call.seed)));
    const textPieces = truncateToTokens(document, Math.min(cap, directives.outputTokens ?? Infinity));
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
  const fullArguments = directives.breakContract ? CONTRACT_BREAKING_ARGUMENTS
    : directives.toolArguments !== undefined ? asciiJson(JSON.parse(directives.toolArguments)) : tool.schema === undefined ? '{}' : asciiJson(sampleFromSchema(tool.schema, call.seed));
  let allPieces: string[];
  try {
    allPieces = onePiecePerToken(fullArguments);
  } catch (error) {
    throw new SimError('invalid_request', `x-sim-tool-args could not be tokenized: ${(error as Error).message}`);
  }
  const argumentPieces = truncateToTokens(allPieces, room);
  const idPrefix = call.protocol === 'anthropic-messages' ? 'toolu_' : 'call_';
  return {
    textPieces,
    toolCall: { callId: newId(idPrefix), itemId: newId('fc_'), name: tool.name, nameTokens, argumentPieces, arguments: argumentPieces.join('') },
    finish: argumentPieces.length < allPieces.length ? 'length' : 'tool_call',
    outputTokens: textPieces.length + nameTokens + argumentPieces.length,
  };
}
