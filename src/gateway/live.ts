import { EventEmitter } from 'node:events';
import { toApproximateUsd } from '../core/money.js';
import { burnRatePerHour, projectedMsToZero, type SpendSample } from '../core/burn-rate.js';
import type { CallRecord, RunRecord } from '../stores/ledger.js';
import { canSee, type Principal } from './authorize.js';
import type { Gateway } from './gateway.js';
import { forecastView } from './forecasts.js';
import { runView } from './views.js';

/** The trailing window burn rates are measured over. */
export const BURN_WINDOW_MS = 5 * 60_000;
/** Burn rates look back BURN_WINDOW_MS: nothing older is needed. */
const SAMPLES_KEPT_MS = BURN_WINDOW_MS;
/** Spend is kept in one-second buckets: memory per run is bounded by time, not by calls. */
const BUCKET_MS = 1000;

/**
 * What changed, for the live dashboard: 'runs' (a run's clock or state moved),
 * 'approvals' (one opened or was decided) and 'alert' (Alert). Listeners are the open
 * /api/events streams; each one decides what its principal may see.
 */
export class LiveHub extends EventEmitter {
  /** Settled spend per run, its own and its sub-runs' (as its clock counts), for burn rates. */
  private readonly samples = new Map<string, SpendSample[]>();
  private lastSweep = 0;
  /** Verdicts posted on each run's calls after they settled: a page showing the calls refetches when it moves. */
  private readonly judgements = new Map<string, number>();

  constructor() {
    super();
    this.setMaxListeners(0);
  }

  recordSpend(runIds: string[], call: CallRecord, at: number): void {
    const usd = toApproximateUsd(call.cost);
    for (const runId of runIds) {
      let list = this.samples.get(runId);
      if (!list) this.samples.set(runId, (list = []));
      const last = list.at(-1);
      if (last && Math.floor(last.at / BUCKET_MS) === Math.floor(at / BUCKET_MS)) last.usd += usd;
      else list.push({ at, usd });
      const cutoff = at - SAMPLES_KEPT_MS;
      while (list.length > 0 && list[0]!.at < cutoff) list.shift();
    }
    // Agents often just go away without ending their run: once a minute, drop the samples of
    // runs that have not spent for longer than burn rates look back (the soak found this leak).
    if (at - this.lastSweep > 60_000) {
      this.lastSweep = at;
      for (const [runId, list] of this.samples) if ((list.at(-1)?.at ?? 0) < at - SAMPLES_KEPT_MS) this.samples.delete(runId);
    }
  }

  /** Runs with spend samples kept (for tests and health). */
  get trackedRuns(): number {
    return this.samples.size;
  }

  burnRate(run: RunRecord, now: number): number {
    return burnRatePerHour(this.samples.get(run.id) ?? [], now, BURN_WINDOW_MS, run.createdAt);
  }

  forget(runId: string): void {
    this.samples.delete(runId);
    this.judgements.delete(runId);
  }

  recordJudgement(runId: string): void {
    // Verdicts may come after a run ended and was forgotten: bounded, oldest first out.
    if (!this.judgements.has(runId) && this.judgements.size >= 100_000) this.judgements.delete(this.judgements.keys().next().value!);
    this.judgements.set(runId, (this.judgements.get(runId) ?? 0) + 1);
  }

  judgementsOf(runId: string): number {
    return this.judgements.get(runId) ?? 0;
  }

  /**
   * One snapshot per scope (role and projects) and moment, however many dashboards of
   * that scope are open: each open stream asks after every change.
   */
  private readonly snapshots = new Map<string, { at: number; runs: Promise<LiveRun[]> }>();

  snapshot(gateway: Gateway, principal: Principal, now: number): Promise<LiveRun[]> {
    const key = `${principal.role}|${principal.projects?.join('\u0000') ?? '*'}`;
    const cached = this.snapshots.get(key);
    if (cached && now - cached.at < SNAPSHOT_TTL_MS) return cached.runs;
    const runs = liveRuns(gateway, principal);
    this.snapshots.set(key, { at: now, runs });
    runs.catch(() => this.snapshots.delete(key));
    return runs;
  }
}

/** How long a snapshot serves other streams of the same scope. */
const SNAPSHOT_TTL_MS = 50;

export type LiveRun = Awaited<ReturnType<typeof liveRuns>>[number];

/** Runs the principal may see, newest first, each with its clock, burn rate and what the principal may press. */
export async function liveRuns(gateway: Gateway, principal: Principal, limit = 50) {
  const runs = (await gateway.ledger.listRuns({ limit: limit * 4 })).filter((run) => canSee(principal, run.project)).slice(0, limit);
  const totals = await gateway.ledger.runTotals(runs.map((run) => run.id));
  const tasks = await gateway.forecasts.store.listRunTasks(runs.map((run) => run.id));
  const now = gateway.budgets.now();
  return Promise.all(runs.map(async (stored) => {
    // The keeper's copy is the live one: a stop is in memory before it is in the ledger.
    const run = (await gateway.budgets.run(stored.id)) ?? stored;
    const clock = await gateway.budgets.runClock(run.id);
    const live = run.state === 'running' || run.state === 'paused';
    const rate = live ? gateway.live.burnRate(run, now) : 0;
    const remaining = clock?.remaining ?? null;
    const mayAct = live && principal.role !== 'viewer' && canSee(principal, run.project);
    return {
      ...runView(run, totals.get(run.id), clock),
      lastModel: await gateway.ledger.lastModel(run.id),
      callsInFlight: gateway.inflight.count(run.id),
      burnRatePerHourUsd: Math.round(rate * 1e6) / 1e6,
      msToZero: live ? projectedMsToZero(remaining === null ? null : toApproximateUsd(remaining), rate) : null,
      actions: mayAct ? (run.state === 'paused' ? ['stop', 'resume'] : ['stop', 'pause']) : [],
      // The forecast's cost quantiles, beside the run's own spend; the full forecast vs actual is on GET /api/runs/:id.
      forecastCostUsd: forecastCost(tasks.get(run.id)?.forecast),
      lateVerdicts: gateway.live.judgementsOf(run.id),
    };
  }));
}

function forecastCost(forecast: Parameters<typeof forecastView>[0] | null | undefined) {
  return forecast?.cost ? forecastView(forecast).costUsd : null;
}
