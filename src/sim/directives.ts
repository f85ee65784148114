import type { IncomingHttpHeaders } from 'node:http';

/**
 * What a test asks of the simulator through x-sim-* request headers. Headers, not body
 * fields, so that any unmodified client and the gateway in front pass them through.
 */
export const FAULTS = ['429', '500', 'disconnect-mid-stream', 'no-usage', 'slow-drip', 'malformed-json'] as const;
export type Fault = (typeof FAULTS)[number];

/**
 * Silent failures of structured output (x-sim-output): the call succeeds and is billed,
 * but the document is broken (malformed, truncated), hollow (`{}`), or schema-valid with
 * wrong values that only a check catches.
 */
export const OUTPUT_FAULTS = ['malformed', 'wrong-values', 'empty-object', 'truncated'] as const;
export type OutputFault = (typeof OUTPUT_FAULTS)[number];

export interface SimDirectives {
  /** Exact number of text tokens to generate (still capped by the request's max tokens). */
  outputTokens: number | undefined;
  /** Delay before the first byte (non-stream) or before the first event (stream). */
  latencyMs: number;
  /** Stream pacing; 0 means as fast as the socket takes it. */
  tokensPerSecond: number;
  fault: Fault | undefined;
  /** Force a call of this tool, whether or not the request offered it. */
  toolName: string | undefined;
  /** The forced call's arguments, as JSON text. */
  toolArguments: string | undefined;
  /** Text tokens to stream before the tool call. */
  textBeforeTool: number;
  /** x-sim-fault-models: the fault and the output fault apply only to these models (all when unset). */
  faultModels: string[] | undefined;
  /** x-sim-fail-models: these models answer structured-output requests with a document that breaks the schema. */
  failModels: string[];
  /** Set per call from failModels: this model breaks the requested schema. */
  breakContract: boolean;
  /** The structured document (JSON text) the model answers with: the "right answer" a test scripts. */
  outputJson: string | undefined;
  /** A silent failure applied to the structured document or tool arguments. */
  outputFault: OutputFault | undefined;
  /**
   * Remedy mode: the faults above apply only when the prompt does not contain this text
   * (x-sim-fail-unless-prompt-contains), so a precedent's remedy can be tested end to end.
   */
  failUnlessPromptContains: string | undefined;
}

/** A directive header that makes no sense: answered as a 400 so typos don't pass silently. */
export class DirectiveError extends Error {
  constructor(readonly header: string, message: string) {
    super(`${header}: ${message}`);
  }
}

/** Slow drip streams at this rate unless the request sets its own. */
const SLOW_DRIP_TOKENS_PER_SECOND = 4;

export function readDirectives(headers: IncomingHttpHeaders): SimDirectives {
  const fault = single(headers, 'x-sim-fault');
  if (fault !== undefined && !(FAULTS as readonly string[]).includes(fault)) {
    throw new DirectiveError('x-sim-fault', `expected one of ${FAULTS.join(', ')}`);
  }
  const rate = number(headers, 'x-sim-tokens-per-second', false);
  const toolArguments = single(headers, 'x-sim-tool-args');
  if (toolArguments !== undefined) {
    try {
      JSON.parse(toolArguments);
    } catch {
      throw new DirectiveError('x-sim-tool-args', 'not valid JSON');
    }
  }
  const outputFault = single(headers, 'x-sim-output');
  if (outputFault !== undefined && !(OUTPUT_FAULTS as readonly string[]).includes(outputFault)) {
    throw new DirectiveError('x-sim-output', `expected one of ${OUTPUT_FAULTS.join(', ')}`);
  }
  const outputJson = single(headers, 'x-sim-output-json');
  if (outputJson !== undefined) {
    try {
      JSON.parse(outputJson);
    } catch {
      throw new DirectiveError('x-sim-output-json', 'not valid JSON');
    }
  }
  const remedy = single(headers, 'x-sim-fail-unless-prompt-contains');
  if (remedy !== undefined && (remedy.trim() === '' || (fault === undefined && outputFault === undefined))) {
    throw new DirectiveError('x-sim-fail-unless-prompt-contains', 'needs a non-empty text, and x-sim-fault or x-sim-output to say how to fail without it');
  }
  return {
    failUnlessPromptContains: remedy,
    outputTokens: number(headers, 'x-sim-output-tokens', true),
    latencyMs: Math.max(number(headers, 'x-sim-latency-ms', false) ?? 0, 0),
    tokensPerSecond: Math.max(rate ?? (fault === 'slow-drip' ? SLOW_DRIP_TOKENS_PER_SECOND : 0), 0),
    fault: fault as Fault | undefined,
    toolName: single(headers, 'x-sim-tool-call') || undefined,
    toolArguments,
    textBeforeTool: number(headers, 'x-sim-text-before-tool', true) ?? 0,
    faultModels: list(headers, 'x-sim-fault-models'),
    failModels: list(headers, 'x-sim-fail-models') ?? [],
    breakContract: false,
    outputJson,
    outputFault: outputFault as OutputFault | undefined,
  };
}

/** The directives as they apply to one model: model-scoped faults and contract failures resolved. */
export function directivesForModel(directives: SimDirectives, model: string): SimDirectives {
  const faulty = directives.faultModels === undefined || directives.faultModels.includes(model);
  return { ...directives, fault: faulty ? directives.fault : undefined, outputFault: faulty ? directives.outputFault : undefined, breakContract: directives.failModels.includes(model) };
}

function list(headers: IncomingHttpHeaders, name: string): string[] | undefined {
  const text = single(headers, name);
  return text === undefined ? undefined : text.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

function single(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function number(headers: IncomingHttpHeaders, name: string, integer: boolean): number | undefined {
  const text = single(headers, name);
  if (text === undefined || text.trim() === '') return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || (integer && (!Number.isSafeInteger(value) || value < 0))) {
    throw new DirectiveError(name, integer ? 'expected a non-negative integer' : 'expected a number');
  }
  return value;
}
