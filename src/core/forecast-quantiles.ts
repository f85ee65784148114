/**
 * Quantiles of small, heavy-tailed samples. Everything here works on the log scale of a
 * run's cost, tokens or calls, where a Pareto tail becomes an exponential one.
 */

/**
 * The q-quantile of an ascending sample with Weibull plotting positions (h = (n+1)q):
 * a new draw falls below the k-th smallest of n with probability k/(n+1), so this is the
 * predictive quantile rather than the sample's own. Beyond the largest value the upper
 * tail is extended with an exponential fitted to the top fifth (a Pareto tail in the
 * original scale) instead of stopping at the maximum seen.
 */
export function predictiveQuantile(sorted: readonly number[], q: number): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError('no values');
  if (n === 1) return sorted[0]!;
  const h = (n + 1) * q;
  if (h <= 1) return sorted[0]!;
  if (h >= n) return Math.max(sorted[n - 1]!, upperTail(sorted, q));
  const below = Math.floor(h);
  return sorted[below - 1]! + (h - below) * (sorted[below]! - sorted[below - 1]!);
}

/** Exponential tail over the top k values (peaks over a threshold, shape 0 on the log scale). */
function upperTail(sorted: readonly number[], q: number): number {
  const n = sorted.length;
  if (n < 5) return sorted[n - 1]!;
  const k = Math.max(2, Math.ceil(n / 5));
  const threshold = sorted[n - k - 1]!;
  let excess = 0;
  for (let index = n - k; index < n; index++) excess += sorted[index]! - threshold;
  const meanExcess = excess / k;
  return threshold + meanExcess * Math.log(k / (n + 1) / (1 - q));
}

/** Plain quantile (linear interpolation between order statistics), for the baselines. */
export function sampleQuantile(sorted: readonly number[], q: number): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError('no values');
  const position = (n - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(n - 1, below + 1);
  return sorted[below]! + (position - below) * (sorted[above]! - sorted[below]!);
}

/** Pinball (quantile) loss of predicting `predicted` as the q-quantile when `actual` happened. */
export function pinballLoss(actual: number, predicted: number, q: number): number {
  const difference = actual - predicted;
  return difference >= 0 ? q * difference : (q - 1) * difference;
}

export function ascending(values: Iterable<number>): number[] {
  return Array.from(values).sort((a, b) => a - b);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return 0;
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

/**
 * How far above (or below) the median a quantile lies when there is almost no history:
 * the same agent task varies up to 30x (Bai et al. 2026), so without evidence of a
 * narrower spread we assume that much, as a multiple of the median.
 */
export function priorSpread(q: number): number {
  const anchors: [number, number][] = [[0.5, 1], [0.75, 2], [0.9, 4], [0.95, 6], [0.99, 15], [0.999, 30]];
  const upper = q >= 0.5 ? q : 1 - q;
  let factor = anchors[anchors.length - 1]![1];
  for (let index = 1; index < anchors.length; index++) {
    const [q1, f1] = anchors[index]!;
    if (upper <= q1) {
      const [q0, f0] = anchors[index - 1]!;
      factor = f0 + ((upper - q0) / (q1 - q0)) * (f1 - f0);
      break;
    }
  }
  const logDeviation = Math.log(factor);
  return q >= 0.5 ? logDeviation : -logDeviation;
}
