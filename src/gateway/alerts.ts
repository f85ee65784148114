import { EventEmitter } from 'node:events';
import { checkOpenBucket, closeBucket, initialBurnState, type BurnState } from '../core/burn-anomaly.js';
import { DEFAULT_WASTE_WATCH, initialWasteState, observeWaste, type WasteState } from '../core/waste-watch.js';
import type { GatewayConfig } from './config.js';
import type { Logger } from './log.js';
import { newId } from './secrets.js';
import { postWebhook } from './webhooks.js';

export type AlertType = 'burn_rate' | 'budget_threshold' | 'approval_waiting' | 'waste';

export interface Alert {
  id: string;
  at: number;
  type: AlertType;
  /** "key:<id>", "project:<name>", "run:<id>", or null. */
  scope: string | null;
  /** The project it belongs to, for who may see it (null: admins of everything). */
  project: string | null;
  runId: string | null;
  message: string;
  details: Record<string, unknown>;
}

export type NewAlert = Omit<Alert, 'id' | 'at'>;

/** Alerts kept in memory for the dashboard; the webhook is the durable channel. */
const KEPT = 1000;
/** After this many idle buckets a scope's history restarts rather than being replayed bucket by bucket. */
const MAX_IDLE_BUCKETS = 10_000;
/** Runs whose silent burn is watched at once; the oldest is dropped past this (a run that never ends). */
const WATCHED_RUNS = 100_000;

interface BurnTrack {
  bucketStart: number;
  spent: number;
  state: BurnState;
}

/**
 * Where alerts are raised, kept and delivered: the dashboard reads them (GET /api/alerts,
 * and live over /api/events), the configured webhook receives each one Slack-compatible.
 * It also watches spend per key and project for burn-rate anomalies.
 */
export class AlertCenter {
  /** Emits 'alert' (Alert). */
  readonly events = new EventEmitter();
  private readonly kept: Alert[] = [];
  private readonly burn = new Map<string, BurnTrack>();
  private readonly waste = new Map<string, { project: string | null; state: WasteState }>();

  constructor(private readonly config: GatewayConfig['alerts'], private readonly log: Logger, private readonly now: () => number = Date.now) {
    this.events.setMaxListeners(0);
  }

  raise(input: NewAlert): Alert {
    const alert: Alert = { ...input, id: newId('alert'), at: this.now() };
    this.kept.push(alert);
    if (this.kept.length > KEPT) this.kept.splice(0, this.kept.length - KEPT);
    this.log.warn('alert', { type: alert.type, scope: alert.scope, message: alert.message });
    if (this.config.webhook) postWebhook(this.config.webhook, slackPayload(alert), this.log);
    this.events.emit('alert', alert);
    return alert;
  }

  /** Newest first, those `visible` lets through. */
  list(visible: (alert: Alert) => boolean, limit: number): Alert[] {
    const out: Alert[] = [];
    for (let index = this.kept.length - 1; index >= 0 && out.length < limit; index--) {
      const alert = this.kept[index]!;
      if (visible(alert)) out.push(alert);
    }
    return out;
  }

  /**
   * Starts each scope's baseline from its recorded spend (bucket starts and USD, oldest
   * first), so a restarted gateway does not spend a warm-up blind.
   */
  seed(history: { scope: string; at: number; usd: number }[]): void {
    const options = this.config.burnRate;
    if (!options) return;
    const current = Math.floor(this.now() / options.bucketMs) * options.bucketMs;
    for (const { scope, at, usd } of history) {
      let track = this.burn.get(scope);
      if (!track) this.burn.set(scope, (track = { bucketStart: at, spent: 0, state: initialBurnState() }));
      while (track.bucketStart < at && track.bucketStart < current) {
        track.state = closeBucket(track.state, track.spent, options).state;
        track.spent = 0;
        track.bucketStart += options.bucketMs;
      }
      track.spent += usd;
    }
    // Past episodes were the past: the watch starts quiet (the open bucket is checked at the next call).
    for (const track of this.burn.values()) track.state = { ...track.state, inEpisode: false, quiet: 0 };
  }

  /** A settled call's spend, for the burn-rate watch of each scope it was charged to. */
  observeSpend(usd: number, scopes: { scope: string; project: string | null }[]): void {
    const options = this.config.burnRate;
    if (!options) return;
    const now = this.now();
    const current = Math.floor(now / options.bucketMs) * options.bucketMs;
    for (const { scope, project } of scopes) {
      let track = this.burn.get(scope);
      if (!track) this.burn.set(scope, (track = { bucketStart: current, spent: 0, state: initialBurnState() }));
      if ((current - track.bucketStart) / options.bucketMs > MAX_IDLE_BUCKETS) track.bucketStart = current - options.bucketMs * MAX_IDLE_BUCKETS;
      while (track.bucketStart < current) {
        // Buckets close as time passes, idle ones at zero: a quiet scope's baseline falls.
        track.state = closeBucket(track.state, track.spent, options).state;
        track.spent = 0;
        track.bucketStart += options.bucketMs;
      }
      track.spent += usd;
      const verdict = checkOpenBucket(track.state, track.spent, options);
      track.state = verdict.state;
      if (!verdict.fired) continue;
      const perHour = 3_600_000 / options.bucketMs;
      const rate = track.spent * perHour;
      const baseline = verdict.state.baseline * perHour;
      this.raise({
        type: 'burn_rate', scope, project, runId: null,
        message: `${scope} is burning about $${rate.toFixed(2)}/h, against a usual $${baseline.toFixed(2)}/h`,
        details: { ratePerHourUsd: round(rate), baselinePerHourUsd: round(baseline), bucketMs: options.bucketMs, spentInBucketUsd: round(track.spent) },
      });
    }
  }

  /** A settled call of a run, for its silent-burn watch: its cost, and whether its output failed its contract. */
  observeRunOutput(runId: string, project: string | null, usd: number, failed: boolean): void {
    if (this.config.waste === false) return;
    let track = this.waste.get(runId);
    if (!track) {
      if (this.waste.size >= WATCHED_RUNS) this.waste.delete(this.waste.keys().next().value!);
      this.waste.set(runId, (track = { project, state: initialWasteState() }));
    }
    this.checkWaste(runId, track, { usd, failed });
  }

  /** A failure verdict posted after the call settled: its cost, already counted as spend, is now waste. */
  observeLateFailure(runId: string, usd: number): void {
    const track = this.waste.get(runId);
    // A run not watched (ended, or from before a restart) has no spend to weigh it against.
    if (track) this.checkWaste(runId, track, { usd, failed: true, late: true });
  }

  forgetRun(runId: string): void {
    this.waste.delete(runId);
  }

  private checkWaste(runId: string, track: { project: string | null; state: WasteState }, call: { usd: number; failed: boolean; late?: boolean }): void {
    const result = observeWaste(track.state, call, this.config.waste || DEFAULT_WASTE_WATCH);
    track.state = result.state;
    if (!result.fired) return;
    const { spentUsd, wastedUsd, failedCalls } = result.state;
    this.raise({
      type: 'waste', scope: `run:${runId}`, project: track.project, runId,
      message: `run ${runId} has spent $${wastedUsd.toFixed(4)} on outputs that failed their contract: ${Math.round((wastedUsd / spentUsd) * 100)}% of its $${spentUsd.toFixed(4)} (${failedCalls} failed calls)`,
      details: { wastedUsd: round(wastedUsd), spentUsd: round(spentUsd), wastedShare: round(wastedUsd / spentUsd), failedCalls },
    });
  }
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

/** Slack's incoming-webhook shape ({text, blocks}); the structured alert rides along for machines. */
export function slackPayload(alert: Alert): Record<string, unknown> & { text: string } {
  const title = { burn_rate: 'Burn-rate anomaly', budget_threshold: 'Budget threshold', approval_waiting: 'Approval waiting', waste: 'Silent burn' }[alert.type];
  const text = `InTime · ${title}: ${alert.message}`;
  return {
    type: `alert.${alert.type}`,
    text,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: `InTime · ${title}` } },
      { type: 'section', text: { type: 'plain_text', text: alert.message } },
      { type: 'context', elements: [{ type: 'plain_text', text: `${alert.scope ?? 'gateway'} · ${new Date(alert.at).toISOString()}` }] },
    ],
    alert: { ...alert, at: new Date(alert.at).toISOString() },
  };
}

export function alertView(alert: Alert) {
  return { ...alert, at: new Date(alert.at).toISOString() };
}
