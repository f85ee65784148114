/**
 * A run's burn rate and how long its clock has left at that rate. Pure: settled spend
 * samples and the time go in.
 */
export interface SpendSample {
  at: number;
  /** USD (approximate: for rates and projections, never for the ledger). */
  usd: number;
}

/** USD per hour over the trailing window (or since the run started, if later). */
export function burnRatePerHour(samples: readonly SpendSample[], now: number, windowMs: number, startedAt: number): number {
  const from = Math.max(now - windowMs, startedAt);
  const span = Math.max(now - from, 1000); // under a second of history would overstate the rate wildly
  let spent = 0;
  for (const sample of samples) if (sample.at >= from && sample.at <= now) spent += sample.usd;
  return (spent / span) * 3_600_000;
}

/** Milliseconds until the remaining budget is gone at this rate; null when nothing is being spent or there is no budget. */
export function projectedMsToZero(remainingUsd: number | null, ratePerHour: number): number | null {
  if (remainingUsd === null || ratePerHour <= 0) return null;
  if (remainingUsd <= 0) return 0;
  return Math.round((remainingUsd / ratePerHour) * 3_600_000);
}
