import type { Money } from './money.js';
import { pricesFor, type ModelPrice } from './prices.js';

/**
 * The most a call can cost before it runs: its prompt (counted by our tokenizer, with a
 * margin where the provider's tokenizer differs from ours) at the highest prompt price it
 * may be billed at, plus each output token at the output price of the tier it falls in.
 */
export interface WorstCase {
  promptTokens: number;
  promptCost: Money;
  outputPrice: Money;
}

/** Our tokenizer is OpenAI's; other vendors' count the same text differently, usually higher. */
export function promptMargin(provider: string, counted: number): number {
  const factor = provider === 'openai' || provider === 'local' ? 1.05 : 1.35;
  return Math.ceil(counted * factor) + 16;
}

export function worstCaseOf(price: ModelPrice, countedPromptTokens: number, writesCache: boolean): WorstCase {
  const promptTokens = promptMargin(price.provider, countedPromptTokens);
  const prices = pricesFor(price, promptTokens);
  const perPromptToken = writesCache && prices.cacheWrite > prices.input ? prices.cacheWrite : prices.input;
  return { promptTokens, promptCost: BigInt(promptTokens) * perPromptToken, outputPrice: prices.output };
}
