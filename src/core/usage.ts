/**
 * Token usage of one call, normalised across providers so that each token is counted in
 * exactly one priced kind:
 *  - inputTokens: prompt tokens billed at the plain input price (cache hits excluded)
 *  - cacheReadTokens / cacheWriteTokens: prompt tokens billed at the cache prices
 *  - outputTokens: every generated token, reasoning included (providers bill them alike)
 *  - reasoningTokens: the part of outputTokens spent on hidden reasoning, for reporting
 */
export interface Usage {
  inputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  reasoningTokens: number;
}

export const EMPTY_USAGE: Readonly<Usage> = Object.freeze({
  inputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  outputTokens: 0,
  reasoningTokens: 0,
});

export function makeUsage(partial: Partial<Usage>): Usage {
  return { ...EMPTY_USAGE, ...partial };
}

/** All prompt-side tokens, as providers count a context window. */
export function promptTokensOf(usage: Usage): number {
  return usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
}

/** A non-negative safe integer from an upstream field, 0 when absent or nonsense. */
export function tokenCount(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0;
}
