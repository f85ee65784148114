import { EventEmitter } from 'node:events';
import { checkOpenBucket, closeBucket, initialBurnState, type BurnState } from '../core/burn-anomaly.js';
import type { GatewayConfig } from './config.js';
import type { Logger } from './log.js';
import { newId } from './secrets.js';
import { postWebhook } from './webhooks.js';

export type AlertType = 'burn_rate' | 'budget_threshold' | 'approval_waiting';

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
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

/** Slack's incoming-webhook shape ({text, blocks}); the structured alert rides along for machines. */
export function slackPayload(alert: Alert): Record<string, unknown> & { text: string } {
  const title = { burn_rate: 'Burn-rate anomaly', budget_threshold: 'Budget threshold', approval_waiting: 'Approval waiting' }[alert.type];
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
