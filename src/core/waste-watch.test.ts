import { describe, expect, it } from 'vitest';
import { DEFAULT_WASTE_WATCH, initialWasteState, observeWaste, type WasteState } from './waste-watch.js';

/** Feeds calls in order; returns the indexes of the calls at which the watch fired. */
function firings(calls: { usd: number; failed: boolean; late?: boolean }[], options = DEFAULT_WASTE_WATCH): number[] {
  let state: WasteState = initialWasteState();
  const fired: number[] = [];
  calls.forEach((call, index) => {
    const result = observeWaste(state, call, options);
    state = result.state;
    if (result.fired) fired.push(index);
  });
  return fired;
}

const ok = (usd = 1) => ({ usd, failed: false });
const bad = (usd = 1) => ({ usd, failed: true });

describe('silent-burn watch', () => {
  it('fires once, when enough failed calls are at least the share of the run\'s spend', () => {
    expect(firings([ok(), bad(), bad(), bad(), bad(), bad()])).toEqual([3]);
  });

  it('stays quiet for a run whose failures are a small share, or too few', () => {
    expect(firings([bad(), ...Array.from({ length: 20 }, () => ok()), bad(), bad()])).toEqual([]);
    expect(firings([bad(5), bad(5), ok()])).toEqual([]);
  });

  it('weighs money, not counts: three cheap failures beside one expensive pass are no burn', () => {
    expect(firings([ok(10), bad(0.1), bad(0.1), bad(0.1)])).toEqual([]);
    expect(firings([ok(0.1), bad(10), bad(10), bad(10)])).toEqual([3]);
  });

  it('a late verdict moves spend already counted into waste, without counting it twice', () => {
    const calls = [ok(), ok(), ok(), ok(), { usd: 1, failed: true, late: true }, { usd: 1, failed: true, late: true }];
    expect(firings(calls)).toEqual([]);
    expect(firings([...calls, { usd: 1, failed: true, late: true }])).toEqual([6]);
  });

  it('respects a floor in USD', () => {
    expect(firings([bad(0.001), bad(0.001), bad(0.001)], { ...DEFAULT_WASTE_WATCH, minUsd: 0.01 })).toEqual([]);
  });
});
