import { costOf, type ModelPrice } from '../core/prices.js';
import { countPromptTokens, countTextTokens } from '../core/tokenizer.js';
import type { Usage } from '../core/usage.js';
import type { CallRequest } from '../protocols/adapter.js';
import type { ExpectedOutput } from '../contracts/expected-output.js';
import type { CallRecord, CallStatus, ContractJudgement, Identity } from '../stores/ledger.js';

/** What the gateway knows about one call while it is in flight. */
export interface CallContext {
  id: string;
  identity: Identity;
  request: CallRequest;
  price: ModelPrice;
  provider: string;
  step: string | null;
  agent: string | null;
  startedAt: number;
  startedAtMonotonic: number;
  firstTokenAtMonotonic: number | null;
  /** Set on the attempts of a routed call (intime/auto:<policy>). */
  routePolicy?: string;
  /**
   * Output tokens the provider was told it may generate (the agent's max tokens, or the cap
   * the budget set): an estimate of output is never above it, because no provider bills more.
   */
  outputCap?: number | undefined;
  /**
   * The forwarded prompt's tokens as counted at admission: an estimate reuses them rather
   * than tokenizing the prompt again (a stop estimates every call it cuts, at once).
   */
  promptTokens?: number | undefined;
  /** The output contract that judges this call, when the request carries or names one. */
  contract?: ExpectedOutput | undefined;
  /** Set by the library on retries and escalations (x-intime-attempt, x-intime-retry-of). */
  attempt?: number;
  retryOf?: string | null;
  /** Precedents injected into this call's instructions (set when injection was wanted, even if none qualified). */
  precedents?: { id: string; tokens: number; relevance: number }[];
  precedentTokens?: number;
}

export interface CallOutcome {
  status: CallStatus;
  httpStatus: number;
  errorCode: string | null;
  /** Usage as the upstream reported it, if at all. */
  reported: Usage | undefined;
  /** Whether `reported` covers the whole call (false when a stream was cut). */
  reportedFinal: boolean;
  /** Generated text that reached the agent, to count when usage is missing. */
  deliveredOutput: string;
  /** Whether the upstream did generate (and so bill) anything: false for refusals and errors. */
  billable: boolean;
  upstreamRequestId: string | null;
  /** The contract's verdict on the output, when the call completed and a contract applied. */
  contract?: ContractJudgement | undefined;
}

/**
 * Prices a finished call. The upstream's usage is the truth when it is complete; when it
 * is missing or the stream was cut, the tokenizer counts the prompt and what was
 * delivered, and the entry says it is estimated.
 */
export function priceCall(call: CallContext, outcome: CallOutcome): CallRecord {
  let usage: Usage;
  let estimated = false;
  if (!outcome.billable) {
    usage = { inputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 0, reasoningTokens: 0 };
  } else if (outcome.reported && outcome.reportedFinal) {
    usage = outcome.reported;
  } else {
    estimated = true;
    const reportedPrompt = outcome.reported &&
      outcome.reported.inputTokens + outcome.reported.cacheReadTokens + outcome.reported.cacheWriteTokens > 0;
    usage = {
      inputTokens: reportedPrompt ? outcome.reported!.inputTokens : call.promptTokens ?? countPromptTokens(call.request.protocol, call.request.upstreamBody),
      cacheReadTokens: reportedPrompt ? outcome.reported!.cacheReadTokens : 0,
      cacheWriteTokens: reportedPrompt ? outcome.reported!.cacheWriteTokens : 0,
      // What was delivered is counted with our tokenizer; a malformed body counts its JSON syntax
      // too. Either may overshoot what the provider could have generated: bounded by the cap.
      outputTokens: Math.min(call.outputCap ?? Infinity, Math.max(countTextTokens(outcome.deliveredOutput), outcome.reported?.outputTokens ?? 0)),
      reasoningTokens: outcome.reported?.reasoningTokens ?? 0,
    };
  }
  const run = call.identity.kind === 'run' ? call.identity.run : undefined;
  const key = call.identity.kind === 'key' ? call.identity.key : undefined;
  const now = performance.now();
  return {
    id: call.id,
    runId: run?.id ?? null,
    keyId: key?.id ?? null,
    project: run?.project ?? key?.project ?? null,
    step: call.step,
    agent: call.agent,
    provider: call.provider,
    model: call.request.model,
    protocol: call.request.protocol,
    stream: call.request.stream,
    ...usage,
    cost: costOf(call.price, usage),
    estimated,
    status: outcome.status,
    httpStatus: outcome.httpStatus,
    errorCode: outcome.errorCode,
    upstreamRequestId: outcome.upstreamRequestId,
    startedAt: call.startedAt,
    latencyMs: round(now - call.startedAtMonotonic),
    timeToFirstTokenMs: call.firstTokenAtMonotonic === null ? null : round(call.firstTokenAtMonotonic - call.startedAtMonotonic),
    routePolicy: call.routePolicy ?? null,
    contractVerdict: outcome.contract?.verdict ?? 'none',
    // A contract that applied but never judged (the call failed first) is still named.
    contractName: outcome.contract?.name ?? call.contract?.name ?? null,
    contractVersion: outcome.contract?.version ?? call.contract?.version ?? null,
    contractViolation: outcome.contract?.violation ?? null,
    attempt: call.attempt ?? 1,
    retryOf: call.retryOf ?? null,
    precedentsInjected: call.precedents && call.precedents.length > 0 ? call.precedents : null,
    precedentTokens: call.precedentTokens ?? 0,
  };
}

function round(milliseconds: number): number {
  return Math.round(milliseconds * 1000) / 1000;
}
