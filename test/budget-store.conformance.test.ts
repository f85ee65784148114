import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { Amounts, ReserveRequest, ScopeDefinition } from '../src/core/budget.js';
import { GatewayError } from '../src/protocols/errors.js';
import { EmbeddedBudgetStore, type BudgetStore } from '../src/stores/budget-store.js';
import { RedisBudgetStore } from '../src/stores/redis-budget-store.js';
import { freePort } from './processes.js';

const REDIS_URL = process.env.INTIME_TEST_REDIS_URL;
if (!REDIS_URL) console.warn('[budget-store.conformance] INTIME_TEST_REDIS_URL is not set: the Redis budget store is not tested');

const NOW = Date.UTC(2026, 5, 15, 12);
const DAY = 86_400_000;
const zero: Amounts = { money: 0n, tokens: 0, calls: 0 };
const opened: RedisBudgetStore[] = [];

function money(limit: bigint, window: ScopeDefinition['window'] = 'total', softThreshold: number | null = null): ScopeDefinition {
  return { limits: { money: limit, tokens: null, calls: null }, window, softThreshold };
}

function request(id: string, scopes: string[], maxOutputTokens: number, policy: 'clamp' | 'refuse' = 'clamp'): ReserveRequest {
  return { id, scopes, fixed: { money: 100n, tokens: 10 }, outputPrice: 10n, maxOutputTokens, policy };
}

function redisStore(prefix = `intime-test:${randomUUID()}:`, leaseMs = 10_000, owner = 'replica-a'): RedisBudgetStore {
  const store = new RedisBudgetStore(REDIS_URL!, { prefix, owner, leaseMs });
  opened.push(store);
  return store;
}

afterAll(async () => {
  for (const store of opened) {
    const prefix = (store as unknown as { options: { prefix: string } }).options.prefix;
    const keys = await store.redis.keys(`${prefix}*`).catch(() => []);
    if (keys.length > 0) await store.redis.del(...keys).catch(() => undefined);
    await store.close();
  }
});

const stores: [string, () => BudgetStore][] = [['embedded', () => new EmbeddedBudgetStore()]];
if (REDIS_URL) stores.push(['redis', () => redisStore()]);

describe.each(stores)('budget store conformance: %s', (_name, makeStore) => {
  it('reserves in every scope at once, and a refusal reserves nothing anywhere', async () => {
    const store = makeStore();
    await store.define('run:a', money(1_000n), zero, NOW);
    await store.define('key:k', money(500n), zero, NOW);
    const first = await store.reserve(request('c1', ['run:a', 'key:k'], 30), NOW);
    expect(first).toMatchObject({ ok: true, outputTokens: 30, clamped: false });
    expect((await store.remaining('run:a', NOW)).money).toBe(600n);
    expect((await store.remaining('key:k', NOW)).money).toBe(100n);
    expect(await store.reserve(request('c2', ['run:a', 'key:k'], 30), NOW)).toMatchObject({ ok: false, code: 'budget_exhausted', scope: 'key:k', final: true });
    expect((await store.remaining('run:a', NOW)).money).toBe(600n);
  });

  it('clamps the output to what fits, or refuses under the refuse policy', async () => {
    const store = makeStore();
    await store.define('run:a', money(350n), zero, NOW);
    expect(await store.reserve(request('c1', ['run:a'], 100, 'refuse'), NOW)).toMatchObject({ ok: false, code: 'budget_exhausted', final: false });
    expect(await store.reserve(request('c1', ['run:a'], 100), NOW)).toMatchObject({ ok: true, outputTokens: 25, clamped: true });
    expect((await store.remaining('run:a', NOW)).money).toBe(0n);
  });

  it('settles at the real cost once; settle and release are idempotent', async () => {
    const store = makeStore();
    await store.define('run:a', money(1_000n), zero, NOW);
    await store.reserve(request('c1', ['run:a'], 50), NOW);
    await store.settle('c1', { money: 180n, tokens: 18, calls: 1 }, NOW);
    await store.settle('c1', { money: 180n, tokens: 18, calls: 1 }, NOW);
    await store.release('c1');
    const state = (await store.state('run:a', NOW))!;
    expect(state.spent).toEqual({ money: 180n, tokens: 18, calls: 1 });
    expect(state.reserved).toEqual(zero);
    expect((await store.remaining('run:a', NOW)).money).toBe(820n);
  });

  it('counts tokens and calls limits, and seeds spend from the ledger', async () => {
    const store = makeStore();
    await store.define('run:t', { limits: { money: null, tokens: 100, calls: 2 }, window: 'total', softThreshold: null }, { money: 5n, tokens: 40, calls: 1 }, NOW);
    expect(await store.reserve(request('t1', ['run:t'], 80), NOW)).toMatchObject({ ok: true, outputTokens: 50, clamped: true });
    expect(await store.reserve(request('t2', ['run:t'], 1), NOW)).toMatchObject({ ok: false, code: 'calls_exhausted' });
    await store.release('t1');
    expect(await store.remaining('run:t', NOW)).toEqual({ money: null, tokens: 60, calls: 1 });
  });

  it('starts a day window over; reservations carry into the new window', async () => {
    const store = makeStore();
    await store.define('key:d', money(1_000n, 'day'), { money: 900n, tokens: 0, calls: 3 }, NOW);
    expect((await store.reserve(request('d1', ['key:d'], 5), NOW)).ok).toBe(false);
    expect(await store.reserve(request('d2', ['key:d'], 5), NOW + DAY)).toMatchObject({ ok: true });
    const state = (await store.state('key:d', NOW + DAY))!;
    expect(state.spent.money).toBe(0n);
    expect(state.reserved.money).toBe(150n);
    await store.settle('d2', { money: 120n, tokens: 12, calls: 1 }, NOW + DAY);
    expect((await store.state('key:d', NOW + DAY))!.spent.money).toBe(120n);
  });

  it('fires a soft threshold once per window', async () => {
    const store = makeStore();
    await store.define('project:p', money(1_000n, 'total', 0.5), zero, NOW);
    const fired = [];
    for (const id of ['s1', 's2', 's3']) {
      await store.reserve(request(id, ['project:p'], 10), NOW);
      fired.push(...(await store.settle(id, { money: 200n, tokens: 20, calls: 1 }, NOW)));
    }
    expect(fired).toHaveLength(1);
    expect(fired[0]).toMatchObject({ scope: 'project:p', dimension: 'money' });
    expect(fired[0]!.spent.money).toBe(600n);
  });

  it('stays exact in pico-dollars far beyond 2^53 (a budget of $10,000,000 and one pico-dollar)', async () => {
    const store = makeStore();
    const limit = 10_000_000n * 10n ** 12n + 1n;
    await store.define('run:big', money(limit), { money: limit - 1_001n, tokens: 0, calls: 0 }, NOW);
    expect(await store.reserve(request('b1', ['run:big'], 100), NOW)).toMatchObject({ ok: true, outputTokens: 90 });
    expect((await store.remaining('run:big', NOW)).money).toBe(1n);
    await store.settle('b1', { money: 999n, tokens: 1, calls: 1 }, NOW);
    expect((await store.state('run:big', NOW))!.spent.money).toBe(limit - 2n);
    expect((await store.remaining('run:big', NOW)).money).toBe(2n);
  });

  it('256 concurrent reservations against a budget worth exactly 20: 20 admitted, settled <= budget to the unit', async () => {
    const store = makeStore();
    const perCall = 100n + 10n * 10n;
    await store.define('run:c', money(perCall * 20n), zero, NOW);
    const results = await Promise.all(Array.from({ length: 256 }, (_, index) => store.reserve(request(`p${index}`, ['run:c'], 10, 'refuse'), NOW)));
    const admitted = results.filter((result) => result.ok);
    expect(admitted).toHaveLength(20);
    await Promise.all(admitted.map((result) => result.ok && store.settle(result.reservation.id, { money: perCall, tokens: 20, calls: 1 }, NOW)));
    const state = (await store.state('run:c', NOW))!;
    expect(state.spent.money).toBe(perCall * 20n);
    expect(state.reserved).toEqual(zero);
  });
});

describe.skipIf(!REDIS_URL)('redis budget store: leases and failures', () => {
  it('two replicas share one counter; a dead owner\'s reservation expires and is found; a live one is renewed', async () => {
    const prefix = `intime-test:${randomUUID()}:`;
    const a = redisStore(prefix, 300, 'replica-a');
    const b = redisStore(prefix, 300, 'replica-b');
    await a.define('run:s', money(1_000n), zero, NOW);
    await b.define('run:s', money(1_000n), zero, NOW);
    await a.reserve(request('held-by-a', ['run:s'], 10), NOW);
    await b.reserve(request('held-by-b', ['run:s'], 10), NOW);
    expect((await b.remaining('run:s', NOW)).money).toBe(600n);
    await a.close(); // a dies: nobody renews its lease any more
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(await b.expiredReservations()).toEqual(['held-by-a']);
    await b.release('held-by-a');
    expect((await b.remaining('run:s', NOW)).money).toBe(800n);
    await b.settle('held-by-b', { money: 150n, tokens: 15, calls: 1 }, NOW);
    expect((await b.remaining('run:s', NOW)).money).toBe(850n);
  });

  it('refuses with budget_store_unavailable when Redis cannot be reached', async () => {
    const port = await freePort();
    const store = new RedisBudgetStore(`redis://127.0.0.1:${port}`, { prefix: 'x:', owner: 'r', leaseMs: 1000 });
    try {
      const failure = await store.define('run:x', money(1n), zero, NOW).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(GatewayError);
      expect(failure).toMatchObject({ code: 'budget_store_unavailable', retryable: false, status: 503 });
      expect((failure as Error).message).toContain(`Redis at redis://127.0.0.1:${port}`);
    } finally {
      await store.close();
    }
  });
});
