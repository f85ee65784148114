import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { priceFileFromLiteLlm } from './litellm-prices.js';
import { costOf, PriceTable, type PriceFile } from './prices.js';
import { makeUsage } from './usage.js';

const shipped = JSON.parse(readFileSync(new URL('../../prices/prices.json', import.meta.url), 'utf8')) as PriceFile;
const table = () => new PriceTable().add(shipped, 'builtin');

describe('the shipped price table', () => {
  it('prices gpt-4o-mini at $0.15 / $0.60 and claude-haiku-4-5 at $1 / $5 per million', () => {
    const mini = table().lookup('gpt-4o-mini')!;
    expect(mini.provider).toBe('openai');
    expect(costOf(mini, makeUsage({ inputTokens: 1_000_000 }))).toBe(150_000_000_000n);
    expect(costOf(mini, makeUsage({ outputTokens: 1_000_000 }))).toBe(600_000_000_000n);
    const haiku = table().lookup('claude-haiku-4-5-20251001')!;
    expect(haiku.provider).toBe('anthropic');
    expect(costOf(haiku, makeUsage({ inputTokens: 1_000_000, outputTokens: 1_000_000 }))).toBe(6_000_000_000_000n);
  });

  it('covers OpenAI, Anthropic and Google models with cache prices', () => {
    const providers = new Set(table().models().map((model) => model.provider));
    expect([...providers]).toEqual(expect.arrayContaining(['openai', 'anthropic', 'google']));
    const haiku = table().lookup('claude-haiku-4-5')!;
    expect(haiku.prices.cacheRead).toBe(100_000n); // $0.10 / M
    expect(haiku.prices.cacheWrite).toBe(1_250_000n); // $1.25 / M
    expect(table().lookup('gemini-2.5-flash')?.provider).toBe('google');
  });

  it('prices local models at $0 on purpose and leaves unknown models unpriced', () => {
    const local = table().lookup('ollama/llama3.1:8b')!;
    expect(costOf(local, makeUsage({ inputTokens: 1000, outputTokens: 1000 }))).toBe(0n);
    expect(table().lookup('my-secret-finetune')).toBeUndefined();
  });

  it('uses the configured default price only when one is set', () => {
    const withDefault = table().setDefault({ input: '1', output: '2' });
    expect(withDefault.lookup('unknown-model')?.source).toBe('default');
  });

  it('applies long-context tiers to the whole request above the threshold', () => {
    const model = table().lookup('gpt-5.4')!;
    expect(model.tiers[0]!.aboveInputTokens).toBe(272_000);
    const small = costOf(model, makeUsage({ inputTokens: 272_000 }));
    const large = costOf(model, makeUsage({ inputTokens: 272_001 }));
    expect(small).toBe(272_000n * 2_500_000n);
    expect(large).toBe(272_001n * 5_000_000n);
  });
});

describe('price overrides and imports', () => {
  it('lets an override file win over the shipped table', () => {
    const prices = table().add({ version: 1, models: [{ id: 'gpt-4o-mini', provider: 'openai', usdPerMillion: { input: '1', output: '1' } }] }, 'override.json');
    expect(prices.lookup('gpt-4o-mini')?.source).toBe('override.json');
    expect(prices.lookup('gpt-4o-mini')?.prices.input).toBe(1_000_000n);
  });

  it('refuses malformed price files with a message naming the file', () => {
    expect(() => table().add({ version: 2 } as unknown as PriceFile, 'bad.json')).toThrow(/bad.json/);
    expect(() => table().add({ version: 1, models: [{ id: 'x', provider: 'p', usdPerMillion: { input: 'cheap', output: '1' } }] }, 'bad.json')).toThrow(/bad.json: model x/);
  });

  it('imports LiteLLM prices exactly, with tiers and cache prices', () => {
    const { file, skipped } = priceFileFromLiteLlm({
      sample_spec: { input_cost_per_token: 0 },
      'gpt-4o-mini': { litellm_provider: 'openai', mode: 'chat', input_cost_per_token: 1.5e-7, output_cost_per_token: 6e-7, cache_read_input_token_cost: 7.5e-8 },
      'gemini-pro-long': { litellm_provider: 'gemini', mode: 'chat', input_cost_per_token: 1.25e-6, output_cost_per_token: 1e-5, input_cost_per_token_above_200k_tokens: 2.5e-6 },
      'text-embedding-3-small': { mode: 'embedding', input_cost_per_token: 2e-8, output_cost_per_token: 0 },
    });
    expect(skipped).toEqual(['text-embedding-3-small']);
    const prices = new PriceTable().add(file, 'litellm.json');
    expect(prices.lookup('gpt-4o-mini')!.prices).toEqual({ input: 150_000n, output: 600_000n, cacheRead: 75_000n, cacheWrite: 150_000n });
    expect(prices.lookup('gemini-pro-long')!.tiers[0]).toMatchObject({ aboveInputTokens: 200_000, prices: { input: 2_500_000n, output: 10_000_000n } });
  });
});
