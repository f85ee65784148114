/**
 * The silent-burn watch of one run: spend that bought outputs failing their contract.
 * A run whose last stage passed may still have paid for many failed tries on the way;
 * once enough of its calls failed and they are a large share of its spend, that is
 * worth a human's look. Fires once per run.
 *
 * Pure: the state goes in and comes out; the caller keeps it and raises the alert.
 */
export interface WasteWatchOptions {
  /** Share of the run's own spend (0..1) that failed outputs must reach. */
  share: number;
  /** Failed calls needed first: one bad answer is not a pattern. */
  minFailedCalls: number;
  /** Below this much waste (USD) nothing fires. */
  minUsd: number;
}

export const DEFAULT_WASTE_WATCH: WasteWatchOptions = { share: 0.5, minFailedCalls: 3, minUsd: 0 };

export interface WasteState {
  spentUsd: number;
  wastedUsd: number;
  failedCalls: number;
  fired: boolean;
}

export const initialWasteState = (): WasteState => ({ spentUsd: 0, wastedUsd: 0, failedCalls: 0, fired: false });

/**
 * A call of the run was paid (`spentUsd`), failed or not; `late` marks a failure verdict
 * on a call already counted as spend (its cost moves into waste, the spend stays).
 */
export function observeWaste(state: WasteState, call: { usd: number; failed: boolean; late?: boolean }, options: WasteWatchOptions): { state: WasteState; fired: boolean } {
  const spentUsd = call.late ? state.spentUsd : state.spentUsd + call.usd;
  const next: WasteState = {
    spentUsd,
    wastedUsd: call.failed ? Math.min(state.wastedUsd + call.usd, spentUsd) : state.wastedUsd,
    failedCalls: state.failedCalls + (call.failed ? 1 : 0),
    fired: state.fired,
  };
  const due = !next.fired
    && next.failedCalls >= options.minFailedCalls
    && next.wastedUsd >= options.minUsd
    && next.spentUsd > 0
    && next.wastedUsd / next.spentUsd >= options.share;
  return { state: due ? { ...next, fired: true } : next, fired: due };
}
