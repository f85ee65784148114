import { describe, expect, it } from 'vitest';
import { BudgetBook, windowStartFor, type ScopeDefinition } from './budget.js';

const NOW = Date.UTC(2026, 10, 23, 12);
const money = (limit: bigint, softThreshold: number | null = null): ScopeDefinition =>
  ({ limits: { money: limit, tokens: null, calls: null }, window: 'total', softThreshold });
const zero = { money: 0n, tokens: 0, calls: 0 };
const request = (id: string, scopes: string[], maxOutputTokens: number, policy: 'clamp' | 'refuse' = 'clamp') =>
  ({ id, scopes, fixed: { money: 100n, tokens: 10 }, outputPrice: 10n, maxOutputTokens, policy });

describe('BudgetBook', () => {
  it('reserves the worst case in every scope at once and refuses what does not fit', () => {
    const book = new BudgetBook();
    book.define('run:a', money(1_000n), zero, NOW);
    book.define('key:k', money(500n), zero, NOW);
    const first = book.reserve(request('c1', ['run:a', 'key:k'], 30), NOW);
    expect(first).toMatchObject({ ok: true, outputTokens: 30, clamped: false });
    expect(book.remaining('run:a', NOW).money).toBe(600n);
    expect(book.remaining('key:k', NOW).money).toBe(100n);
    // 100 left in the key: the prompt fits, no output does.
    expect(book.reserve(request('c2', ['run:a', 'key:k'], 30), NOW)).toMatchObject({ ok: false, code: 'budget_exhausted', scope: 'key:k', final: true });
    expect(book.remaining('run:a', NOW).money).toBe(600n); // a refusal reserves nothing anywhere
  });

  it('clamps output to what fits, or refuses under the refuse policy', () => {
    const book = new BudgetBook();
    book.define('run:a', money(350n), zero, NOW);
    expect(book.reserve(request('c1', ['run:a'], 100, 'refuse'), NOW)).toMatchObject({ ok: false, code: 'budget_exhausted', final: false });
    expect(book.reserve(request('c1', ['run:a'], 100), NOW)).toMatchObject({ ok: true, outputTokens: 25, clamped: true });
  });

  it('settles to the real cost, releases the rest, and never double-settles', () => {
    const book = new BudgetBook();
    book.define('run:a', money(1_000n), zero, NOW);
    book.reserve(request('c1', ['run:a'], 50), NOW);
    book.settle('c1', { money: 180n, tokens: 18, calls: 1 }, NOW);
    book.settle('c1', { money: 180n, tokens: 18, calls: 1 }, NOW);
    book.release('c1');
    const state = book.state('run:a', NOW)!;
    expect(state.spent.money).toBe(180n);
    expect(state.reserved).toEqual(zero);
    expect(book.remaining('run:a', NOW).money).toBe(820n);
    expect(book.outstanding()).toBe(0);
  });

  it('limits tokens and calls', () => {
    const book = new BudgetBook();
    book.define('run:t', { limits: { money: null, tokens: 50, calls: 2 }, window: 'total', softThreshold: null }, zero, NOW);
    expect(book.reserve(request('c1', ['run:t'], 100), NOW)).toMatchObject({ ok: true, outputTokens: 40, clamped: true });
    book.settle('c1', { money: 0n, tokens: 20, calls: 1 }, NOW);
    expect(book.reserve(request('c2', ['run:t'], 10), NOW)).toMatchObject({ ok: true, outputTokens: 10 });
    expect(book.reserve(request('c3', ['run:t'], 1), NOW)).toMatchObject({ ok: false, code: 'calls_exhausted' });
  });

  it('starts a calendar window over, keeping reservations, and fires the soft threshold once per window', () => {
    const book = new BudgetBook();
    book.define('key:k', { ...money(1_000n, 0.8), window: 'day' }, { money: 700n, tokens: 0, calls: 7 }, NOW);
    book.reserve(request('c1', ['key:k'], 5), NOW);
    expect(book.settle('c1', { money: 100n, tokens: 0, calls: 1 }, NOW)).toHaveLength(1);
    book.reserve(request('c2', ['key:k'], 5), NOW);
    expect(book.settle('c2', { money: 100n, tokens: 0, calls: 1 }, NOW)).toHaveLength(0);
    const tomorrow = NOW + 24 * 3600 * 1000;
    expect(book.remaining('key:k', tomorrow).money).toBe(1_000n);
    book.reserve(request('c3', ['key:k'], 5), tomorrow);
    expect(book.settle('c3', { money: 850n, tokens: 0, calls: 1 }, tomorrow)).toHaveLength(1);
  });

  it('aligns windows to UTC days and months', () => {
    expect(new Date(windowStartFor('day', NOW)).toISOString()).toBe('2026-11-23T00:00:00.000Z');
    expect(new Date(windowStartFor('month', NOW)).toISOString()).toBe('2026-11-01T00:00:00.000Z');
    expect(windowStartFor('total', NOW)).toBe(0);
  });
});
