import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { priceFileFromLiteLlm } from '../core/litellm-prices.js';
import { PriceTable, PriceTableError, type PriceFile } from '../core/prices.js';
import type { GatewayConfig } from './config.js';

/** The table shipped in the package (prices/prices.json), two levels above this file in src/ and dist/. */
export const SHIPPED_PRICES_PATH = fileURLToPath(new URL('../../prices/prices.json', import.meta.url));

/** Builds the price table: shipped, then LiteLLM imports, then override files, then local providers at $0. */
export function loadPriceTable(config: GatewayConfig): PriceTable {
  const table = new PriceTable().add(readJson(SHIPPED_PRICES_PATH) as unknown as PriceFile, 'builtin');
  for (const path of config.prices.litellm) table.add(priceFileFromLiteLlm(readJson(path)).file, path);
  for (const path of config.prices.files) table.add(readJson(path) as unknown as PriceFile, path);
  for (const [name, provider] of Object.entries(config.providers)) {
    if (!provider.local || !provider.models?.length) continue;
    table.add({
      version: 1,
      models: provider.models.map((model) => ({ id: model, provider: name, usdPerMillion: { input: '0', output: '0' } })),
    }, `provider ${name} (local, $0)`);
  }
  table.setDefault(config.prices.defaultUsdPerMillion);
  return table;
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new PriceTableError(`cannot read price file ${path}: ${(error as Error).message}`);
  }
}
