import { describe, expect, it } from 'vitest';
import { countPromptTokens, countTextTokens } from '../core/tokenizer.js';
import type { RunRecord } from '../stores/ledger.js';
import { priceCall, type CallContext, type CallOutcome } from './settle.js';

const run = { id: 'run_1', project: null } as RunRecord;
const price = { id: 'm', provider: 'openai', prices: { input: 1_000_000n, output: 4_000_000n, cacheRead: 0n, cacheWrite: 0n }, tiers: [], source: 'test' } as never;

function call(outputCap: number | undefined): CallContext {
  return {
    id: 'call_1', identity: { kind: 'run', run }, price, provider: 'openai', step: null, agent: null,
    startedAt: 0, startedAtMonotonic: 0, firstTokenAtMonotonic: null, outputCap,
    request: { protocol: 'openai-chat', model: 'm', stream: false, maxOutputTokens: outputCap, upstreamBody: { model: 'm', messages: [{ role: 'user', content: 'hi' }] }, clientWantsStreamUsage: false },
  };
}

const malformed: CallOutcome = {
  status: 'failed', httpStatus: 502, errorCode: 'upstream_malformed_response', reported: undefined, reportedFinal: false,
  // A broken JSON answer: its syntax would count as output if nothing bounded the estimate.
  deliveredOutput: '{"id":"x","choices":[{"message":{"content":"' + 'word '.repeat(200) + '"}}],"usage":',
  billable: true, upstreamRequestId: null,
};

describe('estimated output', () => {
  it('is never above the output cap the provider was given', () => {
    expect(countTextTokens(malformed.deliveredOutput)).toBeGreaterThan(100);
    const record = priceCall(call(20), malformed);
    expect(record.estimated).toBe(true);
    expect(record.outputTokens).toBe(20);
    expect(record.cost).toBe(BigInt(record.inputTokens) * 1_000_000n + 20n * 4_000_000n);
  });

  it('is the count of what was delivered when no cap was set', () => {
    const record = priceCall(call(undefined), malformed);
    expect(record.outputTokens).toBe(countTextTokens(malformed.deliveredOutput));
  });
});

describe('estimated prompt', () => {
  const cut: CallOutcome = { ...malformed, status: 'cut', httpStatus: 409, errorCode: 'run_stopped', deliveredOutput: 'partial answer' };

  it('reuses the count taken at admission instead of tokenizing the prompt again', () => {
    const admitted = { ...call(100), promptTokens: 1234 };
    expect(priceCall(admitted, cut).inputTokens).toBe(1234);
  });

  it('counts the forwarded prompt when admission left no count', () => {
    const fresh = call(100);
    expect(priceCall(fresh, cut).inputTokens).toBe(countPromptTokens('openai-chat', fresh.request.upstreamBody));
  });
});
