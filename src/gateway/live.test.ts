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
    // 20 minutes later one run still spends: the abandoned ones go at the next sweep.
    hub.recordSpend(['run_live'], call, start + 20 * 60_000);
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
