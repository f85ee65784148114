import { parseUsd, type Money } from './money.js';
import type { Usage } from './usage.js';

/** Pico-dollars per token for each priced kind of token. */
export interface TokenPrices {
  input: Money;
  output: Money;
  cacheRead: Money;
  cacheWrite: Money;
}

/** Long-context pricing: when a request's prompt exceeds the threshold, all its tokens cost more. */
export interface PriceTier {
  aboveInputTokens: number;
  prices: TokenPrices;
}

export interface ModelPrice {
  id: string;
  provider: string;
  prices: TokenPrices;
  tiers: PriceTier[];
  /** Where the price came from: "builtin", an override file, "default". */
  source: string;
}

export type ModelMatch =
  | { equals: string }
  | { startsWith: string }
  | { endsWith: string }
  | { contains: string }
  | { regex: string };

/** The on-disk form of one model's price: decimal USD per million tokens, as strings. */
export interface PriceEntry {
  id: string;
  provider: string;
  match?: ModelMatch[];
  usdPerMillion: UsdPerMillion;
  tiers?: { aboveInputTokens: number; usdPerMillion: UsdPerMillion }[];
}

export interface UsdPerMillion {
  input: string | number;
  output: string | number;
  cacheRead?: string | number | null;
  cacheWrite?: string | number | null;
}

export interface PriceFile {
  version: 1;
  generatedFrom?: string;
  models: PriceEntry[];
}

export class PriceTableError extends Error {
  readonly code = 'invalid_price_table';
}

const TOKENS_PER_MILLION = 1_000_000n;

/** USD per million tokens → pico-dollars per token; exact for up to six decimals. */
export function perMillionToPerToken(usdPerMillion: string | number): Money {
  const picosPerMillion = parseUsd(usdPerMillion);
  if (picosPerMillion < 0n) throw new PriceTableError(`negative price ${usdPerMillion}`);
  if (picosPerMillion % TOKENS_PER_MILLION !== 0n) {
    throw new PriceTableError(`price ${usdPerMillion}/M is finer than a pico-dollar per token`);
  }
  return picosPerMillion / TOKENS_PER_MILLION;
}

export function tokenPricesFrom(usd: UsdPerMillion): TokenPrices {
  const input = perMillionToPerToken(usd.input);
  return {
    input,
    output: perMillionToPerToken(usd.output),
    // A provider that publishes no cache price bills those tokens as plain input.
    cacheRead: usd.cacheRead == null ? input : perMillionToPerToken(usd.cacheRead),
    cacheWrite: usd.cacheWrite == null ? input : perMillionToPerToken(usd.cacheWrite),
  };
}

/** The prices that apply to a call with this many prompt tokens. */
export function pricesFor(price: ModelPrice, promptTokens: number): TokenPrices {
  let chosen = price.prices;
  for (const tier of price.tiers) {
    if (promptTokens > tier.aboveInputTokens) chosen = tier.prices;
  }
  return chosen;
}

/** The exact cost of a call's usage. */
export function costOf(price: ModelPrice, usage: Usage): Money {
  const prompt = usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
  const p = pricesFor(price, prompt);
  return (
    BigInt(usage.inputTokens) * p.input +
    BigInt(usage.cacheReadTokens) * p.cacheRead +
    BigInt(usage.cacheWriteTokens) * p.cacheWrite +
    BigInt(usage.outputTokens) * p.output
  );
}

interface CompiledEntry {
  price: ModelPrice;
  matchers: ((model: string) => boolean)[];
}

/**
 * Finds a model's price. Exact names win over patterns; later sources (override files)
 * win over earlier ones (the shipped table). An unknown model has no price: callers
 * refuse it rather than bill $0.
 */
export class PriceTable {
  private readonly exact = new Map<string, ModelPrice>();
  private readonly patterns: CompiledEntry[] = [];
  private defaultPrice: ModelPrice | undefined;

  /** Adds a price file's entries; they take precedence over everything added before. */
  add(file: PriceFile, source: string): this {
    if (file.version !== 1 || !Array.isArray(file.models)) {
      throw new PriceTableError(`${source}: expected {"version":1,"models":[...]}`);
    }
    const compiled: CompiledEntry[] = [];
    for (const entry of file.models) {
      const price = compileEntry(entry, source);
      this.exact.set(entry.id, price);
      const matchers: ((model: string) => boolean)[] = [];
      for (const match of entry.match ?? []) {
        if ('equals' in match) this.exact.set(match.equals, price);
        else matchers.push(compileMatch(match, source));
      }
      if (matchers.length > 0) compiled.push({ price, matchers });
    }
    this.patterns.unshift(...compiled);
    return this;
  }

  /** A price for every model nobody priced; only when the operator configures one. */
  setDefault(usd: UsdPerMillion | undefined): this {
    this.defaultPrice = usd && {
      id: '*',
      provider: '*',
      prices: tokenPricesFrom(usd),
      tiers: [],
      source: 'default',
    };
    return this;
  }

  lookup(model: string): ModelPrice | undefined {
    const exact = this.exact.get(model);
    if (exact) return exact;
    for (const entry of this.patterns) {
      if (entry.matchers.some((matches) => matches(model))) return entry.price;
    }
    return this.defaultPrice;
  }

  /** Every distinct priced model, for listings and the simulator. */
  models(): ModelPrice[] {
    return [...new Set([...this.exact.values(), ...this.patterns.map((entry) => entry.price)])];
  }
}

function compileEntry(entry: PriceEntry, source: string): ModelPrice {
  if (typeof entry?.id !== 'string' || typeof entry.provider !== 'string' || !entry.usdPerMillion) {
    throw new PriceTableError(`${source}: each model needs id, provider and usdPerMillion`);
  }
  try {
    return {
      id: entry.id,
      provider: entry.provider,
      prices: tokenPricesFrom(entry.usdPerMillion),
      tiers: (entry.tiers ?? [])
        .map((tier) => ({
          aboveInputTokens: tier.aboveInputTokens,
          prices: tokenPricesFrom(tier.usdPerMillion),
        }))
        .sort((a, b) => a.aboveInputTokens - b.aboveInputTokens),
      source,
    };
  } catch (error) {
    throw new PriceTableError(`${source}: model ${entry.id}: ${(error as Error).message}`);
  }
}

function compileMatch(match: ModelMatch, source: string): (model: string) => boolean {
  if ('startsWith' in match) return (model) => model.startsWith(match.startsWith);
  if ('endsWith' in match) return (model) => model.endsWith(match.endsWith);
  if ('contains' in match) return (model) => model.includes(match.contains);
  if ('regex' in match) {
    const pattern = new RegExp(match.regex);
    return (model) => pattern.test(model);
  }
  throw new PriceTableError(`${source}: unknown match ${JSON.stringify(match)}`);
}
