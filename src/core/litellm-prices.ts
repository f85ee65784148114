import { formatUsd, parseUsd } from './money.js';
import type { PriceEntry, PriceFile, UsdPerMillion } from './prices.js';

/** One entry of LiteLLM's model_prices_and_context_window.json (the fields we price from). */
interface LiteLlmEntry {
  litellm_provider?: string;
  mode?: string;
  input_cost_per_token?: number;
  output_cost_per_token?: number;
  cache_read_input_token_cost?: number;
  cache_creation_input_token_cost?: number;
  input_cost_per_token_above_200k_tokens?: number;
  output_cost_per_token_above_200k_tokens?: number;
  cache_read_input_token_cost_above_200k_tokens?: number;
  cache_creation_input_token_cost_above_200k_tokens?: number;
}

const PRICED_MODES = new Set(['chat', 'completion', 'responses', undefined]);

/**
 * Converts LiteLLM's price file into ours, so teams can keep the list they already
 * maintain. Per-token float prices go through their decimal text, so 1.5e-7 becomes
 * exactly $0.15 per million. Entries without both input and output prices are skipped.
 */
export function priceFileFromLiteLlm(json: Record<string, unknown>): { file: PriceFile; skipped: string[] } {
  const models: PriceEntry[] = [];
  const skipped: string[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === 'sample_spec' || value === null || typeof value !== 'object') continue;
    const entry = value as LiteLlmEntry;
    if (!PRICED_MODES.has(entry.mode) || entry.input_cost_per_token === undefined || entry.output_cost_per_token === undefined) {
      skipped.push(name);
      continue;
    }
    try {
      const price: PriceEntry = {
        id: name,
        provider: entry.litellm_provider ?? 'unknown',
        usdPerMillion: perMillion(entry.input_cost_per_token, entry.output_cost_per_token, entry.cache_read_input_token_cost, entry.cache_creation_input_token_cost),
      };
      if (entry.input_cost_per_token_above_200k_tokens !== undefined) {
        price.tiers = [{
          aboveInputTokens: 200_000,
          usdPerMillion: perMillion(
            entry.input_cost_per_token_above_200k_tokens,
            entry.output_cost_per_token_above_200k_tokens ?? entry.output_cost_per_token,
            entry.cache_read_input_token_cost_above_200k_tokens ?? entry.cache_read_input_token_cost,
            entry.cache_creation_input_token_cost_above_200k_tokens ?? entry.cache_creation_input_token_cost,
          ),
        }];
      }
      models.push(price);
    } catch {
      skipped.push(name);
    }
  }
  return { file: { version: 1, generatedFrom: 'LiteLLM model_prices_and_context_window.json', models }, skipped };
}

function perMillion(input: number, output: number, cacheRead?: number, cacheWrite?: number): UsdPerMillion {
  const convert = (perToken: number) => formatUsd(parseUsd(perToken) * 1_000_000n);
  const result: UsdPerMillion = { input: convert(input), output: convert(output) };
  if (cacheRead !== undefined) result.cacheRead = convert(cacheRead);
  if (cacheWrite !== undefined) result.cacheWrite = convert(cacheWrite);
  return result;
}
