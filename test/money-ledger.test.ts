import { describe, expect, it } from 'vitest';
import { costOf, PriceTable, type PriceFile } from '../src/core/prices.js';
import { SqliteLedger } from '../src/stores/sqlite-ledger.js';
import type { CallRecord } from '../src/stores/ledger.js';
import { readFileSync } from 'node:fs';
import { SHIPPED_PRICES_PATH } from '../src/gateway/price-loader.js';

/** A small deterministic PRNG so the million calls are the same every run. */
function mulberry32(seed: number) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('money through the ledger', () => {
  it('a million random priced calls sum exactly, in the core and in the ledger\'s aggregation', async () => {
    const table = new PriceTable().add(JSON.parse(readFileSync(SHIPPED_PRICES_PATH, 'utf8')) as PriceFile, 'builtin');
    const models = ['gpt-4o-mini', 'claude-haiku-4-5', 'gpt-5', 'claude-opus-4-1', 'gemini-2.5-flash', 'gpt-5.4', 'o3'];
    const prices = models.map((model) => table.lookup(model)!);
    const random = mulberry32(20261123);
    const ledger = new SqliteLedger(':memory:');
    // Independent tally: tokens per (model, tier, kind), multiplied out once at the end.
    const tally = new Map<string, bigint>();
    const add = (key: string, tokens: number, price: bigint) => tally.set(key, (tally.get(key) ?? 0n) + BigInt(tokens) * price);
    let summed = 0n;
    const N = 1_000_000;
    // Recorded a thousand at a time, as concurrent calls are: one group commit each, not a
    // million one-row transactions (which alone took two minutes on a 2-core VM).
    let writes: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      const index = Math.floor(random() * models.length);
      const price = prices[index]!;
      const usage = {
        inputTokens: Math.floor(random() ** 3 * 300_000),
        cacheReadTokens: Math.floor(random() * 2_000),
        cacheWriteTokens: Math.floor(random() * 500),
        outputTokens: Math.floor(random() ** 2 * 16_000),
        reasoningTokens: 0,
      };
      const cost = costOf(price, usage);
      summed += cost;
      const prompt = usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
      const tier = [...price.tiers].reverse().find((t) => prompt > t.aboveInputTokens)?.prices ?? price.prices;
      add(`${index}`, usage.inputTokens, tier.input);
      add(`${index}`, usage.cacheReadTokens, tier.cacheRead);
      add(`${index}`, usage.cacheWriteTokens, tier.cacheWrite);
      add(`${index}`, usage.outputTokens, tier.output);
      writes.push(ledger.recordCall(callRecord(i, models[index]!, usage, cost)));
      if (writes.length === 1000) {
        await Promise.all(writes);
        writes = [];
      }
    }
    await Promise.all(writes);
    // A few enormous calls push the total past $9.2M, where a plain 64-bit SUM of
    // pico-dollars would overflow; the ledger's split sum must stay exact.
    for (let i = 0; i < 20; i++) {
      const usage = { inputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 50_000_000_000, reasoningTokens: 0 }; // $500k each at $10/M
      const cost = costOf(prices[2]!, usage);
      summed += cost;
      add('giant', usage.outputTokens, prices[2]!.prices.output);
      await ledger.recordCall(callRecord(N + i, models[2]!, usage, cost));
    }
    const expected = [...tally.values()].reduce((a, b) => a + b, 0n);
    expect(summed).toBe(expected);
    const rows = await ledger.spend({ by: 'model' });
    expect(rows.reduce((sum, row) => sum + row.cost, 0n)).toBe(expected);
    expect(rows.reduce((sum, row) => sum + row.calls, 0)).toBe(N + 20);
    expect(expected).toBeGreaterThan(9_223_372_036_854_775_807n);
    await ledger.close();
  }, 120_000);
});

function callRecord(i: number, model: string, usage: Pick<CallRecord, 'inputTokens' | 'cacheReadTokens' | 'cacheWriteTokens' | 'outputTokens' | 'reasoningTokens'>, cost: bigint): CallRecord {
  return {
    id: `call_${i}`, runId: `run_${i % 97}`, keyId: null, project: null, step: null, agent: null,
    provider: 'test', model, protocol: 'openai-chat', stream: false, ...usage, cost, estimated: false,
    status: 'ok', httpStatus: 200, errorCode: null, upstreamRequestId: null, startedAt: 1_700_000_000_000 + i, latencyMs: 1, timeToFirstTokenMs: null, routePolicy: null,
  };
}
