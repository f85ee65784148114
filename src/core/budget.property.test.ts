import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BudgetBook, type Amounts, type Limits, type ScopeId } from './budget.js';
import { formatUsd, parseUsd } from './money.js';

/**
 * The ledger's arithmetic as properties (fixed seed, bounded runs, so `npm test` is
 * repeatable): for any interleaving of reserve, settle and release over overlapping scopes,
 * every limited scope keeps spent + reserved + remaining == limit, spent never passes the
 * limit, and what is reserved is exactly the sum of the reservations still outstanding.
 */
const SEED = 20261123;
const SCOPES: ScopeId[] = ['run:a', 'run:b', 'key:k', 'project:p'];

type Op =
  | { kind: 'reserve'; scopes: ScopeId[]; fixedMoney: bigint; fixedTokens: number; outputPrice: bigint; maxOutput: number; policy: 'clamp' | 'refuse' }
  | { kind: 'settle'; pick: number; share: number }
  | { kind: 'release'; pick: number };

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('reserve' as const),
    scopes: fc.subarray(SCOPES, { minLength: 1 }),
    fixedMoney: fc.bigInt({ min: 0n, max: 5_000_000n }),
    fixedTokens: fc.integer({ min: 0, max: 2_000 }),
    outputPrice: fc.bigInt({ min: 0n, max: 20_000n }),
    maxOutput: fc.integer({ min: 1, max: 4_000 }),
    policy: fc.constantFrom('clamp' as const, 'refuse' as const),
  }),
  fc.record({ kind: fc.constant('settle' as const), pick: fc.nat(), share: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
);

const limitsArbitrary: fc.Arbitrary<Limits> = fc.record({
  money: fc.option(fc.bigInt({ min: 0n, max: 200_000_000n }), { nil: null }),
  tokens: fc.option(fc.integer({ min: 0, max: 50_000 }), { nil: null }),
  calls: fc.option(fc.integer({ min: 0, max: 40 }), { nil: null }),
});

describe('budget book properties', () => {
  it('spent + reserved + remaining == limit and spent <= limit, for any interleaving', () => {
    fc.assert(
      fc.property(fc.tuple(...SCOPES.map(() => limitsArbitrary)), fc.array(opArbitrary, { maxLength: 120 }), (limits, ops) => {
        const book = new BudgetBook();
        const now = 1_700_000_000_000;
        SCOPES.forEach((scope, index) => book.define(scope, { limits: limits[index]!, window: 'total', softThreshold: 0.8 }, zero(), now));
        const open = new Map<string, { scopes: ScopeId[]; amounts: Amounts }>();
        const spent = new Map<ScopeId, Amounts>(SCOPES.map((scope) => [scope, zero()]));
        let next = 0;
        for (const op of ops) {
          if (op.kind === 'reserve') {
            const id = `r${next++}`;
            const result = book.reserve({
              id, scopes: op.scopes, fixed: { money: op.fixedMoney, tokens: op.fixedTokens },
              outputPrice: op.outputPrice, maxOutputTokens: op.maxOutput, policy: op.policy,
            }, now);
            if (result.ok) {
              expect(result.outputTokens).toBeGreaterThanOrEqual(1);
              expect(result.outputTokens).toBeLessThanOrEqual(op.maxOutput);
              if (op.policy === 'refuse') expect(result.clamped).toBe(false);
              open.set(id, { scopes: op.scopes, amounts: result.reservation.amounts });
            }
          } else if (open.size > 0) {
            const ids = [...open.keys()];
            const id = ids[op.pick % ids.length]!;
            const reservation = open.get(id)!;
            open.delete(id);
            if (op.kind === 'settle') {
              // The gateway caps output at what was reserved: a real cost never exceeds the worst case.
              const actual: Amounts = {
                money: (reservation.amounts.money * BigInt(Math.round(op.share * 1000))) / 1000n,
                tokens: Math.floor(reservation.amounts.tokens * op.share),
                calls: 1,
              };
              book.settle(id, actual, now);
              for (const scope of reservation.scopes) add(spent.get(scope)!, actual);
              // Settling twice is a no-op.
              book.settle(id, actual, now);
            } else {
              book.release(id);
              book.release(id);
            }
          }
          checkInvariants(book, now, limits, spent, open);
        }
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe('money properties', () => {
  it('formatUsd and parseUsd round-trip every amount exactly', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(10n ** 24n), max: 10n ** 24n }), (amount) => {
      expect(parseUsd(formatUsd(amount))).toBe(amount);
    }), { seed: SEED, numRuns: 2000 });
  });

  it('a decimal string with at most 12 places parses to exactly its value', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 10n ** 9n }), fc.integer({ min: 0, max: 12 }), fc.bigInt({ min: 0n, max: 10n ** 12n - 1n }), (whole, places, raw) => {
      const fraction = (raw % 10n ** BigInt(places)).toString().padStart(places, '0');
      const text = places === 0 ? `${whole}` : `${whole}.${fraction}`;
      const expected = whole * 10n ** 12n + (places === 0 ? 0n : BigInt(fraction) * 10n ** BigInt(12 - places));
      expect(parseUsd(text)).toBe(expected);
    }), { seed: SEED, numRuns: 2000 });
  });

  it('refuses what is not a plain decimal amount, without throwing anything else', () => {
    fc.assert(fc.property(fc.string(), (text) => {
      try {
        parseUsd(text);
        expect(text.trim()).toMatch(/^-?\d+(\.\d+)?$/);
      } catch (error) {
        expect((error as { code?: string }).code).toBe('invalid_money');
      }
    }), { seed: SEED, numRuns: 2000 });
  });
});

function checkInvariants(
  book: BudgetBook, now: number, limits: Limits[], spent: Map<ScopeId, Amounts>,
  open: Map<string, { scopes: ScopeId[]; amounts: Amounts }>,
): void {
  expect(book.outstanding()).toBe(open.size);
  SCOPES.forEach((scope, index) => {
    const state = book.state(scope, now)!;
    const expectedReserved = zero();
    for (const reservation of open.values()) if (reservation.scopes.includes(scope)) add(expectedReserved, reservation.amounts);
    expect(state.reserved).toEqual(expectedReserved);
    expect(state.spent).toEqual(spent.get(scope));
    const left = book.remaining(scope, now);
    const limit = limits[index]!;
    if (limit.money !== null) {
      expect(state.spent.money + state.reserved.money + left.money!).toBe(limit.money);
      expect(state.spent.money + state.reserved.money).toBeLessThanOrEqual(limit.money);
    }
    if (limit.tokens !== null) {
      expect(state.spent.tokens + state.reserved.tokens + left.tokens!).toBe(limit.tokens);
      expect(state.spent.tokens + state.reserved.tokens).toBeLessThanOrEqual(limit.tokens);
    }
    if (limit.calls !== null) {
      expect(state.spent.calls + state.reserved.calls).toBeLessThanOrEqual(limit.calls);
    }
  });
}

function zero(): Amounts {
  return { money: 0n, tokens: 0, calls: 0 };
}

function add(into: Amounts, amounts: Amounts): void {
  into.money += amounts.money;
  into.tokens += amounts.tokens;
  into.calls += amounts.calls;
}
