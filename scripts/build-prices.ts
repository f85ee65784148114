/**
 * Builds prices/prices.json, the price table shipped in the package, from pydantic's
 * genai-prices data (MIT). Run by hand when prices change:
 *   npm run prices:build -- ../shared/data/genai-prices/data.json
 * We keep our own compact format (decimal strings, USD per million tokens) so that the
 * gateway never depends on a third party's schema at run time.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { ModelMatch, PriceEntry, PriceFile, UsdPerMillion } from '../src/core/prices.js';

type TieredValue = number | { base: number; tiers: { start: number; price: number }[] };
type GenaiPrices = Record<string, TieredValue | undefined>;
type GenaiClause = Record<string, unknown>;
interface GenaiModel {
  id: string;
  match: GenaiClause;
  prices: GenaiPrices | { constraint?: { start_date?: string }; prices: GenaiPrices }[];
}

const PROVIDERS = ['openai', 'anthropic', 'google'];
const inputPath = process.argv[2] ?? '../shared/data/genai-prices/data.json';
const data = JSON.parse(readFileSync(inputPath, 'utf8')) as { id: string; models: GenaiModel[] }[];
const today = new Date().toISOString().slice(0, 10);

const models: PriceEntry[] = [];
const seen = new Set<string>();
for (const provider of data.filter((p) => PROVIDERS.includes(p.id))) {
  for (const model of provider.models) {
    // Google resells other vendors' models (Vertex); their maker's entry is the one we keep.
    if (seen.has(model.id)) continue;
    seen.add(model.id);
    const prices = currentPrices(model.prices);
    if (prices.input_mtok === undefined || prices.output_mtok === undefined) continue;
    const entry: PriceEntry = {
      id: model.id,
      provider: provider.id,
      match: flattenMatch(model.match).filter((m) => !('equals' in m && m.equals === model.id)),
      usdPerMillion: pick(prices, 'base'),
    };
    const thresholds = new Set<number>();
    for (const value of Object.values(prices)) {
      if (typeof value === 'object') for (const tier of value.tiers) thresholds.add(tier.start);
    }
    if (thresholds.size > 0) {
      entry.tiers = [...thresholds].sort((a, b) => a - b).map((start) => ({
        aboveInputTokens: start,
        usdPerMillion: pick(prices, start),
      }));
    }
    if (entry.match?.length === 0) delete entry.match;
    models.push(entry);
  }
}

// Local servers (Ollama, vLLM, llama.cpp) are free at the margin: priced $0 on purpose,
// so that "unknown model" still means refuse.
for (const local of ['ollama', 'vllm', 'llamacpp', 'local']) {
  models.push({
    id: `${local}/*`,
    provider: local === 'local' ? 'local' : local,
    match: [{ startsWith: `${local}/` }],
    usdPerMillion: { input: '0', output: '0' },
  });
}

const file: PriceFile = {
  version: 1,
  generatedFrom: `pydantic/genai-prices data.json (MIT), built ${today}`,
  models,
};
writeFileSync('prices/prices.json', JSON.stringify(file, null, 1) + '\n');
console.log(`prices/prices.json: ${models.length} models`);

function currentPrices(prices: GenaiModel['prices']): GenaiPrices {
  if (!Array.isArray(prices)) return prices;
  let chosen = prices[0]!.prices;
  for (const conditional of prices) {
    const start = conditional.constraint?.start_date;
    if (!start || start <= today) chosen = conditional.prices;
  }
  return chosen;
}

function valueAt(value: TieredValue | undefined, tier: 'base' | number): number | undefined {
  if (value === undefined || typeof value === 'number') return value;
  if (tier === 'base') return value.base;
  let chosen = value.base;
  for (const t of value.tiers) if (t.start <= tier) chosen = t.price;
  return chosen;
}

function pick(prices: GenaiPrices, tier: 'base' | number): UsdPerMillion {
  const text = (n: number | undefined) => (n === undefined ? undefined : decimal(n));
  const result: UsdPerMillion = {
    input: text(valueAt(prices.input_mtok, tier))!,
    output: text(valueAt(prices.output_mtok, tier))!,
  };
  const cacheRead = text(valueAt(prices.cache_read_mtok, tier));
  const cacheWrite = text(valueAt(prices.cache_write_mtok, tier));
  if (cacheRead !== undefined) result.cacheRead = cacheRead;
  if (cacheWrite !== undefined) result.cacheWrite = cacheWrite;
  return result;
}

/** The shortest decimal that round-trips, rounded to the pico-dollar per token (6 decimals per M). */
function decimal(n: number): string {
  return String(Math.round(n * 1e6) / 1e6);
}

function flattenMatch(clause: GenaiClause): ModelMatch[] {
  if (Array.isArray(clause.or)) return (clause.or as GenaiClause[]).flatMap(flattenMatch);
  if (typeof clause.equals === 'string') return [{ equals: clause.equals }];
  if (typeof clause.starts_with === 'string') return [{ startsWith: clause.starts_with }];
  if (typeof clause.ends_with === 'string') return [{ endsWith: clause.ends_with }];
  if (typeof clause.contains === 'string') return [{ contains: clause.contains }];
  if (typeof clause.regex === 'string') return [{ regex: clause.regex }];
  return []; // "and" clauses are provider-routing details we do not need to price a name
}
