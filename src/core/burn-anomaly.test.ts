import { describe, expect, it } from 'vitest';
import { anomaliesIn, checkOpenBucket, closeBucket, DEFAULT_BURN_ANOMALY, initialBurnState } from './burn-anomaly.js';
import { burnRatePerHour, projectedMsToZero } from './burn-rate.js';

/** A deterministic wobble so the "steady" series is not a flat line. */
function steady(buckets: number, perBucket: number, seed = 7): number[] {
  let x = seed;
  return Array.from({ length: buckets }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return perBucket * (0.6 + 0.8 * (x / 2147483648)); // ±40%
  });
}

describe('burn-rate anomaly detection', () => {
  it('stays quiet on a steady (noisy) spend series', () => {
    // $300 a day in five-minute buckets, for three days.
    expect(anomaliesIn(steady(864, 300 / 288))).toEqual([]);
  });

  it('fires once when spend jumps well above the baseline, not at every bucket of the episode', () => {
    const series = [...steady(48, 1), ...Array<number>(20).fill(10), ...steady(48, 1, 3)];
    expect(anomaliesIn(series)).toEqual([48]);
  });

  it('fires again for a second, separate episode', () => {
    const series = [...steady(48, 1), ...Array<number>(5).fill(10), ...steady(24, 1, 5), ...Array<number>(5).fill(12)];
    expect(anomaliesIn(series)).toEqual([48, 77]);
  });

  it('does not fire while warming up, nor under the noise floor', () => {
    expect(anomaliesIn([0.001, 0.001, 0.001, 5, 5])).toEqual([]);
    expect(anomaliesIn([...Array<number>(30).fill(0.001), 0.05])).toEqual([]);
  });

  it('a slow, sustained rise moves the baseline instead of firing', () => {
    const series = Array.from({ length: 400 }, (_, index) => 1 + index * 0.01);
    expect(anomaliesIn(series)).toEqual([]);
  });

  it('the open bucket fires early once it passes the threshold, and its close does not fire again', () => {
    let state = initialBurnState();
    for (const spent of steady(24, 1)) state = closeBucket(state, spent, DEFAULT_BURN_ANOMALY).state;
    expect(checkOpenBucket(state, 1.2, DEFAULT_BURN_ANOMALY).fired).toBe(false);
    const early = checkOpenBucket(state, 8, DEFAULT_BURN_ANOMALY);
    expect(early.fired).toBe(true);
    expect(closeBucket(early.state, 9, DEFAULT_BURN_ANOMALY).fired).toBe(false);
  });
});

describe('burn rate and time to zero', () => {
  it('is the spend of the trailing window per hour', () => {
    const now = 10_000_000;
    const samples = [{ at: now - 120_000, usd: 1 }, { at: now - 30_000, usd: 1 }, { at: now - 600_000, usd: 50 }];
    expect(burnRatePerHour(samples, now, 300_000, 0)).toBeCloseTo(24, 6); // $2 in 5 minutes
    expect(projectedMsToZero(6, 24)).toBe(900_000);
    expect(projectedMsToZero(null, 24)).toBeNull();
    expect(projectedMsToZero(6, 0)).toBeNull();
  });
});
