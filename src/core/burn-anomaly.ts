/**
 * Burn-rate anomaly detection: is a scope (a key, a project) spending well above its own
 * trailing baseline? Spend is summed into fixed buckets (say five minutes). The baseline is
 * an exponentially weighted mean of closed buckets with an exponentially weighted mean
 * absolute deviation beside it, so one noisy bucket moves it little. A bucket whose spend
 * passes max(factor × baseline, baseline + spread × deviation, floor) starts an episode; an
 * episode fires once, keeps the baseline frozen (a surge must not become the new normal
 * while it lasts) and ends after `quietBuckets` closed buckets back under the threshold.
 *
 * Pure: the state goes in and comes out; time and I/O belong to the caller.
 */
export interface BurnAnomalyOptions {
  /** Weight of the newest bucket in the baseline (0 < alpha ≤ 1). */
  alpha: number;
  /** A bucket this many times the baseline is anomalous... */
  factor: number;
  /** ...and also this many mean deviations above it (robust to naturally bursty scopes). */
  spread: number;
  /** Below this spend per bucket (USD) nothing fires: noise, not a burn. */
  floorUsd: number;
  /** Closed buckets needed before the baseline is trusted. */
  warmupBuckets: number;
  /** Closed buckets under the threshold that end an episode. */
  quietBuckets: number;
}

export const DEFAULT_BURN_ANOMALY: BurnAnomalyOptions = {
  alpha: 0.1,
  factor: 3,
  spread: 4,
  floorUsd: 0.1,
  warmupBuckets: 12,
  quietBuckets: 3,
};

export interface BurnState {
  /** Trailing mean spend per bucket, USD. */
  baseline: number;
  /** Trailing mean absolute deviation from the baseline, USD. */
  deviation: number;
  /** Closed buckets seen (the warm-up counter). */
  seen: number;
  /** Inside an anomalous episode (it has fired). */
  inEpisode: boolean;
  /** Closed buckets under the threshold since the episode's last anomalous one. */
  quiet: number;
}

export interface BurnVerdict {
  state: BurnState;
  /** True exactly once per episode: at the bucket that started it. */
  fired: boolean;
  /** The spend per bucket above which a bucket is anomalous (Infinity while warming up). */
  threshold: number;
}

export function initialBurnState(): BurnState {
  return { baseline: 0, deviation: 0, seen: 0, inEpisode: false, quiet: 0 };
}

export function burnThreshold(state: BurnState, options: BurnAnomalyOptions): number {
  if (state.seen < options.warmupBuckets) return Infinity;
  return Math.max(state.baseline * options.factor, state.baseline + options.spread * state.deviation, options.floorUsd);
}

/**
 * The open bucket so far: spend only grows within a bucket, so once it passes the
 * threshold the episode can start now rather than when the bucket closes.
 */
export function checkOpenBucket(state: BurnState, spentSoFar: number, options: BurnAnomalyOptions): BurnVerdict {
  const threshold = burnThreshold(state, options);
  if (state.inEpisode || spentSoFar <= threshold) return { state, fired: false, threshold };
  return { state: { ...state, inEpisode: true, quiet: 0 }, fired: true, threshold };
}

/** A bucket closed with this spend: fire if it starts an episode, then learn from it unless anomalous. */
export function closeBucket(state: BurnState, spent: number, options: BurnAnomalyOptions): BurnVerdict {
  const threshold = burnThreshold(state, options);
  const anomalous = spent > threshold;
  if (anomalous) {
    const fired = !state.inEpisode;
    return { state: { ...state, inEpisode: true, quiet: 0 }, fired, threshold };
  }
  let next: BurnState = learn(state, spent, options);
  if (state.inEpisode) {
    const quiet = state.quiet + 1;
    next = quiet >= options.quietBuckets ? { ...next, inEpisode: false, quiet: 0 } : { ...state, quiet };
  }
  return { state: next, fired: false, threshold };
}

function learn(state: BurnState, spent: number, options: BurnAnomalyOptions): BurnState {
  if (state.seen === 0) return { ...state, baseline: spent, deviation: 0, seen: 1 };
  const alpha = options.alpha;
  const baseline = state.baseline + alpha * (spent - state.baseline);
  const deviation = state.deviation + alpha * (Math.abs(spent - state.baseline) - state.deviation);
  return { ...state, baseline, deviation, seen: state.seen + 1 };
}

/** Runs a whole series of closed buckets; returns the indexes at which an alert fired. */
export function anomaliesIn(series: number[], options: BurnAnomalyOptions = DEFAULT_BURN_ANOMALY): number[] {
  let state = initialBurnState();
  const fired: number[] = [];
  series.forEach((spent, index) => {
    const verdict = closeBucket(state, spent, options);
    state = verdict.state;
    if (verdict.fired) fired.push(index);
  });
  return fired;
}
