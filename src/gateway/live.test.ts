import { describe, expect, it } from 'vitest';
import type { CallRecord } from '../stores/ledger.js';
import { LiveHub } from './live.js';

const call = { cost: 1_000_000n } as CallRecord;

describe('live spend samples', () => {
  it('forget runs that stopped spending, even when nobody ends them', () => {
    const hub = new LiveHub();
    const start = 1_700_000_000_000;
    for (let run = 0; run < 500; run++) hub.recordSpend([`run_${run}`], call, start + run);
    expect(hub.trackedRuns).toBe(500);
    // Ten minutes later one run still spends: the abandoned ones go at the next sweep.
    hub.recordSpend(['run_live'], call, start + 10 * 60_000);
    expect(hub.trackedRuns).toBe(1);
  });

  it('keep the runs that spend', () => {
    const hub = new LiveHub();
    const start = 1_700_000_000_000;
    for (let minute = 0; minute < 30; minute++) {
      hub.recordSpend(['run_a'], call, start + minute * 60_000);
      hub.recordSpend(['run_b'], call, start + minute * 60_000 + 1);
    }
    expect(hub.trackedRuns).toBe(2);
  });
});

describe('burn rate from bucketed samples', () => {
  it('sums every call of a second into one sample and keeps the rate exact over the window', () => {
    const hub = new LiveHub();
    const start = 1_700_000_000_000;
    // 100 calls a second for 60 s, $0.000001 each: $0.006 a minute, $0.36 an hour.
    for (let ms = 0; ms < 60_000; ms += 10) hub.recordSpend(['run_a'], call, start + ms);
    const run = { id: 'run_a', createdAt: start } as never;
    expect(hub.burnRate(run, start + 60_000)).toBeCloseTo(0.36, 6);
    expect((hub as unknown as { samples: Map<string, unknown[]> }).samples.get('run_a')!.length).toBe(60);
  });
});
