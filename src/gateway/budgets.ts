import { EventEmitter } from 'node:events';
import { NO_LIMITS, remainingOf, windowStartFor, type Limits, type RefusalCode, type ReserveRequest, type ReserveResult, type ScopeDefinition, type ScopeId, type ScopeState, type ThresholdEvent } from '../core/budget.js';
import { formatUsd, type Money } from '../core/money.js';
import { worstCaseOf } from '../core/worst-case.js';
import { GatewayError, type ErrorCode } from '../protocols/errors.js';
import { EmbeddedBudgetStore, type BudgetStore } from '../stores/budget-store.js';
import type { BudgetRecord, CallRecord, Identity, LedgerStore, OverflowPolicy, RunRecord, RunState, ScopeRef } from '../stores/ledger.js';
import { ScopeMissingError } from '../stores/redis-budget-store.js';
import type { RunSignal, RunSignals } from '../stores/redis-signals.js';
import type { InFlightCalls } from './inflight.js';
import { PauseGate } from './pause-gate.js';
import type { Logger } from './log.js';
import { priceCall, type CallContext } from './settle.js';

export interface Admission {
  /** Output tokens the call may produce; the request is capped to this when `capOutput`. */
  outputTokens: number;
  /** The request must carry this cap: it asked for more than fits, or set none under a budget. */
  capOutput: boolean;
  clamped: boolean;
  /** Run ids the call belongs to, its own first, for cutting it when any of them ends. */
  runIds: string[];
}

export interface BudgetOptions {
  defaultPolicy: OverflowPolicy;
  /** Output cap put on a request that sets none when a budget applies (a call must have a worst case). */
  defaultMaxOutputTokens: number;
  softThreshold: number;
  /** Called when a soft threshold is crossed, once per scope and window. */
  onThreshold?: (event: ThresholdEvent, budget: BudgetRecord | undefined) => void;
  /** The time, for windows and deadlines; tests move it. */
  now?: () => number;
  /** How long a call of a paused run may wait before it is refused with run_paused_timeout. */
  pauseHoldMs: number;
  /** Where budgets live; default: in this process. */
  store?: BudgetStore;
  /** When the shared store is unreachable: refuse calls (default) or admit them unmetered, loudly. */
  onStoreFailure?: 'closed' | 'open';
  /**
   * How long this process keeps what it knows of a run (its record, its budget scope) after
   * its last call: a live run, default 15 minutes; an ended one, default 1 minute. Forgotten
   * runs come back from the ledger on their next call or read. Checked every `sweepMs` (60 s).
   */
  idleRunMs?: number;
  endedRunMs?: number;
  sweepMs?: number;
  /** How long a shared (Redis) store keeps an ended run's counters; default a day. */
  retiredScopeMs?: number;
}

/** What a run's clock shows: spend including sub-runs, and what is left after reservations. */
export interface Clock {
  spent: Money;
  reserved: Money;
  remaining: Money | null;
  limits: Limits;
}

/** What ending a run did in this process: the calls it cut, and how soon their agents had the error. */
export interface EndedRun {
  callsCut: number;
  /** From the end being decided to the last cut call's response ended (or CUT_WAIT_MS). */
  endedInMs: number;
  /** False when some response had not ended within CUT_WAIT_MS (its end is under way). */
  allEnded: boolean;
}

/** How long ending a run waits for its cut calls' responses to end before going on. */
const CUT_WAIT_MS = 250;

/** Whether the promise settled within the time; never rejects. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RunEndedEvent {
  runId: string;
  state: RunRecord['state'];
  reason: string;
}

/**
 * The gateway's side of budgets: which scopes a call falls in, their limits and spend
 * (seeded from the ledger once, then kept in the budget store: this process's memory, or
 * Redis shared by replicas), admission, settlement, deadlines, and the run states that
 * follow from them. With replicas, run changes are published and the others' applied here.
 */

export class BudgetKeeper {
  readonly store: BudgetStore;
  readonly pauses = new PauseGate();
  /**
   * Emits 'run-ended' (RunEndedEvent) when a run leaves 'running' through this gateway;
   * 'run-paused' / 'run-resumed' ({runId}), 'run-tracked' (RunRecord), 'call-admitted'
   * ({runIds}) and 'call-settled' (CallRecord) for the live dashboard and the signals.
   */
  readonly events = new EventEmitter();
  private readonly runs = new Map<string, RunRecord>();
  private readonly loading = new Map<ScopeId, Promise<void>>();
  private readonly deadlines = new Map<string, NodeJS.Timeout>();
  private budgets = new Map<string, BudgetRecord>();
  private readonly pendingExhaustion = new Map<ScopeId, { code: RefusalCode; money: Money; tokens: number }>();
  /** Admitted without a reservation while the store was away (fail open): nothing to settle there. */
  private readonly unreserved = new Set<string>();
  /** Settlements the store could not take yet: retried until it is back (their leases are renewed as soon as it is). */
  private readonly unsettled = new Map<string, CallRecord>();
  private retryTimer: NodeJS.Timeout | undefined;
  /** Runs another replica ended before this one had loaded them: applied when they load. */
  private readonly endedElsewhere = new Map<string, Extract<RunSignal, { kind: 'ended' }>>();
  private signals: RunSignals | undefined;
  private lastOpenWarning = 0;
  private readonly recheckScheduled = new Set<ScopeId>();
  /** When each tracked run last admitted or settled a call here (or was loaded). */
  private readonly lastActive = new Map<string, number>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ledger: LedgerStore,
    private readonly inflight: InFlightCalls,
    private readonly log: Logger,
    private readonly options: BudgetOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.store = options.store ?? new EmbeddedBudgetStore();
  }

  /** Signals shared with other replicas: this keeper publishes its run changes and applies theirs. */
  useSignals(signals: RunSignals): void {
    this.signals = signals;
  }

  readonly now: () => number;

  async start(): Promise<void> {
    this.budgets = new Map((await this.ledger.listBudgets()).map((budget) => [budget.scope, budget]));
    // Deadlines act even on runs that make no call: arm the timers of every running run.
    for (const run of await this.ledger.listRuns({ limit: 100_000, state: 'running' })) this.track(run);
    this.sweepTimer = setInterval(() => this.forgetIdleRuns(), this.options.sweepMs ?? 60_000);
    this.sweepTimer.unref();
  }

  /** Starts watching a new (or restored) run: its deadline fires whether or not it calls. */
  track(run: RunRecord): void {
    this.runs.set(run.id, run);
    this.lastActive.set(run.id, this.now());
    this.watchDeadline(run);
    this.events.emit('run-tracked', run);
  }

  /** The run and its ancestors, with their current state. */
  async runChain(runId: string): Promise<RunRecord[]> {
    const chain: RunRecord[] = [];
    let id: string | null = runId;
    while (id !== null && chain.length < 64) {
      const run: RunRecord | undefined = await this.run(id);
      if (!run) break;
      chain.push(run);
      id = run.parentId;
    }
    return chain;
  }

  async run(id: string): Promise<RunRecord | undefined> {
    let run = this.runs.get(id);
    if (!run) {
      run = await this.ledger.getRun(id);
      if (!run) return undefined;
      // Another load or a signal may have got here first: the cached record wins.
      const cached = this.runs.get(id);
      if (cached) return cached;
      this.runs.set(id, run);
      this.lastActive.set(id, this.now());
      const ended = this.endedElsewhere.get(id);
      if (ended) {
        this.endedElsewhere.delete(id);
        this.applySignal(ended);
        run = this.runs.get(id)!;
      }
    }
    return run;
  }

  /**
   * Admits a call if its worst case fits every scope above it, reserving that worst case.
   * A call of a paused run (or of a paused ancestor) waits here until it resumes.
   */
  async admit(call: CallContext, promptTokens: number, writesCache: boolean, signal: AbortSignal): Promise<Admission> {
    if (this.signals && !this.signals.healthy && this.options.onStoreFailure !== 'open') {
      throw new GatewayError('budget_store_unavailable', 'internal',
        'the signal channel shared by replicas (Redis) is down: a stop sent to another replica could be missed, so calls are refused until it is back',
        { status: 503, retryable: false });
    }
    let chain: RunRecord[] = [];
    for (;;) {
      chain = call.identity.kind === 'run' ? await this.runChain(call.identity.run.id) : [];
      const paused = chain.find((run) => run.state === 'paused');
      for (const run of chain) {
        if (run.state !== 'running' && run.state !== 'paused') throw runEndedError(run);
        if (run.deadlineAt !== null && this.now() >= run.deadlineAt) {
          await this.endRun(run.id, 'exhausted', 'deadline_exceeded');
          throw budgetError('deadline_exceeded', `run ${run.id} passed its deadline`);
        }
      }
      if (!paused) break;
      await this.pauses.hold(paused.id, this.options.pauseHoldMs, signal);
    }
    const now = this.now();
    for (const run of chain) this.lastActive.set(run.id, now);
    const requested = call.request.maxOutputTokens;
    const maxOutputTokens = requested ?? this.options.defaultMaxOutputTokens;
    const worst = worstCaseOf(call.price, promptTokens, writesCache);
    let scopes: ScopeId[];
    let result: ReserveResult;
    try {
      scopes = await this.scopesOf(call.identity, chain, now);
      result = await this.reserve({
        id: call.id,
        scopes,
        fixed: { money: worst.promptCost, tokens: worst.promptTokens },
        outputPrice: worst.outputPrice,
        maxOutputTokens,
        policy: chain[0]?.overflowPolicy ?? this.options.defaultPolicy,
      }, call.identity, chain, now);
    } catch (error) {
      if (!(error instanceof GatewayError) || error.code !== 'budget_store_unavailable' || this.options.onStoreFailure !== 'open') throw error;
      this.warnFailOpen(error);
      this.unreserved.add(call.id);
      return { outputTokens: maxOutputTokens, capOutput: requested === undefined, clamped: false, runIds: chain.map((run) => run.id) };
    }
    const limited = scopes.some((scope) => hasLimits(this.store.lastKnown(scope, now)?.definition.limits));
    if (!result.ok) {
      if (result.final && result.scope.startsWith('run:')) await this.exhaustOrWait(result.scope, result.code, worst.promptCost, worst.promptTokens);
      throw budgetError(result.code, `${result.message}; the call was not forwarded`);
    }
    try {
      await this.ledger.putReservation({
        id: call.id, runId: chain[0]?.id ?? null, keyId: call.identity.kind === 'key' ? call.identity.key.id : null,
        project: projectOf(call.identity), step: call.step, agent: call.agent, provider: call.provider, model: call.request.model,
        protocol: call.request.protocol, stream: call.request.stream, promptTokens, reserved: result.reservation.amounts.money, createdAt: now,
      });
    } catch (error) {
      await this.store.release(call.id).catch(() => undefined);
      throw error;
    }
    // Stopped (here or by another replica) while this call was being reserved: it must not
    // go out. Its reservation ends as a $0 entry: the gateway ended it, nothing was forwarded.
    const ended = chain.map((run) => this.runs.get(run.id) ?? run).find((run) => !isLive(run.state));
    if (ended) {
      const error = runEndedError(ended);
      const record = priceCall(call, { status: 'cut', httpStatus: error.status, errorCode: error.code, reported: undefined, reportedFinal: false, deliveredOutput: '', billable: false, upstreamRequestId: null });
      await this.ledger.recordCall(record).catch(() => undefined);
      await this.settle(record);
      throw error;
    }
    for (const run of chain) this.watchDeadline(run);
    this.events.emit('call-admitted', { runIds: chain.map((run) => run.id) });
    return {
      outputTokens: result.outputTokens,
      capOutput: result.clamped || (requested === undefined && limited),
      clamped: result.clamped,
      runIds: chain.map((run) => run.id),
    };
  }

  /**
   * Charges a settled call to its scopes; fires soft thresholds; ends runs whose clock
   * reached zero. Never throws: a store that is away takes the settlement when it is back.
   */
  async settle(record: CallRecord): Promise<void> {
    if (record.runId !== null && this.lastActive.has(record.runId)) this.lastActive.set(record.runId, this.now());
    await this.charge(record);
    this.events.emit('call-settled', record);
  }

  private async charge(record: CallRecord): Promise<void> {
    if (this.unreserved.delete(record.id)) return;
    const tokens = record.inputTokens + record.cacheReadTokens + record.cacheWriteTokens + record.outputTokens;
    let events: ThresholdEvent[];
    try {
      events = await this.store.settle(record.id, { money: record.cost, tokens, calls: 1 }, this.now());
    } catch (error) {
      this.log.warn('settlement deferred: the budget store is unreachable', { call: record.id, error: (error as Error).message });
      this.unsettled.set(record.id, record);
      this.retryTimer ??= setInterval(() => void this.retryUnsettled(), 250);
      return;
    }
    for (const event of events) void this.fireThreshold(event);
    for (const [scope, need] of this.pendingExhaustion) void this.exhaustOrWait(scope, need.code, need.money, need.tokens).catch(() => undefined);
  }

  private async retryUnsettled(): Promise<void> {
    for (const [id, record] of this.unsettled) {
      this.unsettled.delete(id);
      await this.charge(record);
      if (this.unsettled.has(id)) return; // still away
    }
    if (this.unsettled.size === 0 && this.retryTimer) {
      clearInterval(this.retryTimer);
      this.retryTimer = undefined;
    }
  }

  /** Reserves, declaring again a scope a shared store lost (Redis emptied) from the ledger. */
  private async reserve(request: ReserveRequest, identity: Identity, chain: RunRecord[], now: number): Promise<ReserveResult> {
    try {
      return await this.store.reserve(request, now);
    } catch (error) {
      if (!(error instanceof ScopeMissingError)) throw error;
      await this.scopesOf(identity, chain, now);
      return this.store.reserve(request, now);
    }
  }

  private warnFailOpen(error: GatewayError): void {
    if (this.now() - this.lastOpenWarning < 5_000) return;
    this.lastOpenWarning = this.now();
    this.log.error('FAIL OPEN: budget store unreachable, admitting calls WITHOUT budget checks (budgets may be overshot)', { error: error.message });
  }

  /**
   * A run whose clock cannot pay for a call is exhausted, but only once nothing is still
   * reserved in it: calls in flight are paid for, and settling them at their real cost
   * (below their worst case) may free enough for more. Until then the refusal waits here.
   */
  private async exhaustOrWait(scope: ScopeId, code: RefusalCode, money: Money, tokens: number): Promise<void> {
    const state = await this.store.state(scope, this.now());
    if (!state) return;
    if (state.reserved.calls > 0) {
      this.pendingExhaustion.set(scope, { code, money, tokens });
      // Shared budgets: the calls still reserved may be other replicas', settled there, so look again soon.
      if (this.store.kind !== 'embedded' && !this.recheckScheduled.has(scope)) {
        this.recheckScheduled.add(scope);
        setTimeout(() => {
          this.recheckScheduled.delete(scope);
          const need = this.pendingExhaustion.get(scope);
          if (need) void this.exhaustOrWait(scope, need.code, need.money, need.tokens).catch(() => undefined);
        }, 250).unref();
      }
      return;
    }
    this.pendingExhaustion.delete(scope);
    const left = remainingOf(state);
    const stillShort = code === 'calls_exhausted' ? (left.calls ?? 1) < 1
      : code === 'tokens_exhausted' ? (left.tokens ?? Infinity) <= tokens
        : (left.money ?? money + 1n) <= money;
    if (stillShort) await this.endRun(scope.slice(4), 'exhausted', code);
  }

  release(callId: string): void {
    if (this.unreserved.delete(callId)) return;
    void this.store.release(callId).catch((error: Error) => this.log.warn('release failed; the lease will reclaim it', { call: callId, error: error.message }));
  }

  /** The clock of whoever is calling, as this replica last saw it: its run (with sub-runs), or its key. */
  clock(identity: Identity): Clock | undefined {
    const scope = identity.kind === 'run' ? `run:${identity.run.id}` : `key:${identity.key.id}`;
    return clockOf(this.store.lastKnown(scope, this.now()));
  }

  /** A scope's state, fresh from the store (the last one seen if the store is away). */
  async scopeState(scope: ScopeId): Promise<ScopeState | undefined> {
    return this.store.state(scope, this.now()).catch(() => this.store.lastKnown(scope, this.now()));
  }

  async runClock(runId: string): Promise<Clock | undefined> {
    const run = await this.run(runId);
    if (!run) return undefined;
    const scope = `run:${run.id}`;
    const known = this.store.has(scope);
    try {
      await this.ensureScope(scope, runDefinition(run, this.options.softThreshold), { kind: 'run', id: run.id }, this.now());
    } catch {
      return this.clock({ kind: 'run', run });
    }
    // Read back after it ended (and its counters were dropped): defined again, and dropped again.
    if (!known && !isLive(run.state)) await this.retireScope(run.id);
    return clockOf(await this.scopeState(scope));
  }

  /** An ended run's budget counters leave a shared store a day later; the ledger keeps its spend. */
  private async retireScope(runId: string): Promise<void> {
    await this.store.retire(`run:${runId}`, this.options.retiredScopeMs ?? 86_400_000)
      .catch((error: Error) => this.log.warn('could not retire a run\'s budget counters', { run: runId, error: error.message }));
  }

  clockHeaders(identity: Identity): Record<string, string> {
    const clock = this.clock(identity);
    if (!clock) return {};
    const headers: Record<string, string> = { 'x-intime-spent-usd': formatUsd(clock.spent) };
    if (clock.remaining !== null) headers['x-intime-remaining-usd'] = formatUsd(clock.remaining < 0n ? 0n : clock.remaining);
    return headers;
  }

  /**
   * Ends a run (exhausted, stopped, completed) and its sub-runs. In this order: new calls
   * are refused (the state in memory), calls in flight are cut (their relays stop before the
   * next event), held calls are refused; then the state is written. When this resolves,
   * not one more content event reaches any of the run's agents.
   */
  async endRun(runId: string, state: RunState, reason: string): Promise<EndedRun | undefined> {
    const run = await this.run(runId);
    if (!run || run.state === state || !isLive(run.state)) return undefined;
    const started = performance.now();
    const at = this.now();
    const cut = this.endLocally(run, state, reason, at);
    // Tell the other replicas first (they cut within a millisecond), then make it durable.
    await this.publish({ kind: 'ended', runId, state, reason, at });
    // The cut calls settle and send their agents the error before the rest (persisting the
    // state, the events, the stop's answer). A response that cannot end yet (a held answer,
    // an agent not reading) is under way: the answer does not wait past CUT_WAIT_MS for it.
    const allEnded = await settledWithin(cut.ended, CUT_WAIT_MS);
    const endedInMs = performance.now() - started;
    await this.ledger.setRunState(runId, state, reason, at);
    await this.retireScope(runId);
    this.log.info('run ended', { run: runId, state, reason, callsCut: cut.count, endedInMs: Math.round(endedInMs * 100) / 100, allEnded });
    this.events.emit('run-ended', { runId, state, reason } satisfies RunEndedEvent);
    for (const child of await this.ledger.listChildRuns(runId)) {
      await this.endRun(child.id, state, `parent ${runId} ${state}: ${reason}`);
    }
    return { callsCut: cut.count, endedInMs, allEnded };
  }

  /** Pauses a running run: its new calls wait; calls in flight finish. */
  async pauseRun(runId: string): Promise<boolean> {
    const run = await this.run(runId);
    if (!run || run.state !== 'running') return false;
    this.runs.set(runId, { ...run, state: 'paused' });
    // Durable first: a replica that has not loaded the run (or has forgotten it, idle) ignores
    // the signal and reads the state from the ledger when the run's next call comes.
    await this.ledger.setRunState(runId, 'paused', null, this.now());
    await this.publish({ kind: 'paused', runId });
    this.events.emit('run-paused', { runId });
    return true;
  }

  /** Resumes a paused run and releases its held calls in the order they came. */
  async resumeRun(runId: string): Promise<number | undefined> {
    const run = await this.run(runId);
    if (!run || run.state !== 'paused') return undefined;
    this.runs.set(runId, { ...run, state: 'running' });
    await this.ledger.setRunState(runId, 'running', null, this.now());
    await this.publish({ kind: 'resumed', runId });
    return this.releaseHeld(runId);
  }

  /** Held calls of sub-runs wait on this run too: releases every queue under it. */
  private async releaseHeld(runId: string): Promise<number> {
    let released = this.pauses.release(runId);
    for (const child of await this.ledger.listChildRuns(runId)) released += this.pauses.release(child.id);
    this.events.emit('run-resumed', { runId });
    return released;
  }

  /** New calls refused, calls in flight cut, held calls refused, deadline disarmed: in this process. */
  private endLocally(run: RunRecord, state: RunState, reason: string, at: number): { count: number; ended: Promise<void> } {
    const ended: RunRecord = { ...run, state, endedReason: reason, endedAt: at };
    this.runs.set(run.id, ended);
    const error = runEndedError(ended);
    const cut = this.inflight.cutRun(run.id, error);
    this.pauses.fail(run.id, error);
    const timer = this.deadlines.get(run.id);
    if (timer) clearTimeout(timer);
    this.deadlines.delete(run.id);
    return cut;
  }

  private async publish(signal: RunSignal): Promise<void> {
    if (!this.signals) return;
    await this.signals.publish(signal).catch((error: Error) =>
      this.log.error('could not tell the other replicas; they will read the run state when their channel is back', { run: signal.runId, kind: signal.kind, error: error.message }));
  }

  /** Another replica stopped, paused or resumed a run: act on it here as if it had happened here. */
  applySignal(signal: RunSignal): void {
    const run = this.runs.get(signal.runId);
    if (!run) {
      // Not loaded here, so nothing of it is in flight here; a load racing this signal applies it.
      if (signal.kind === 'ended') this.endedElsewhere.set(signal.runId, signal);
      return;
    }
    if (signal.kind === 'ended') {
      if (!isLive(run.state)) return;
      const cut = this.endLocally(run, signal.state, signal.reason, signal.at);
      // On one machine (one clock), sinceEndMs is how long the signal took from the replica that acted.
      this.log.info('run ended by another replica', { run: run.id, state: signal.state, callsCut: cut.count, sinceEndMs: Date.now() - signal.at });
      this.events.emit('run-ended', { runId: run.id, state: signal.state, reason: signal.reason } satisfies RunEndedEvent);
    } else if (signal.kind === 'paused' && run.state === 'running') {
      this.runs.set(run.id, { ...run, state: 'paused' });
      this.events.emit('run-paused', { runId: run.id });
    } else if (signal.kind === 'resumed' && run.state === 'paused') {
      this.runs.set(run.id, { ...run, state: 'running' });
      void this.releaseHeld(run.id).catch(() => undefined);
    }
  }

  /** The signal channel is (back) up: whatever was missed meanwhile is read from the ledger. */
  async resync(): Promise<void> {
    for (const [id, cached] of [...this.runs]) {
      if (!isLive(cached.state)) continue;
      const current = await this.ledger.getRun(id);
      if (!current || current.state === cached.state) continue;
      if (!isLive(current.state)) {
        this.applySignal({ kind: 'ended', runId: id, state: current.state, reason: current.endedReason ?? current.state, at: current.endedAt ?? this.now() });
      } else {
        this.applySignal({ kind: current.state === 'paused' ? 'paused' : 'resumed', runId: id });
      }
    }
  }

  async setBudget(budget: BudgetRecord): Promise<void> {
    await this.ledger.putBudget(budget);
    this.budgets.set(budget.scope, budget);
    const [kind, id] = splitScope(budget.scope);
    const spent = await this.ledger.spentInScope({ kind, id } as ScopeRef, windowStartFor(budget.window, this.now()));
    await this.store.define(budget.scope, budgetDefinition(budget, this.options.softThreshold), spent, this.now());
  }

  listBudgets(): BudgetRecord[] {
    return [...this.budgets.values()];
  }

  stop(): void {
    for (const timer of this.deadlines.values()) clearTimeout(timer);
    this.deadlines.clear();
    if (this.retryTimer) clearInterval(this.retryTimer);
    clearInterval(this.sweepTimer);
  }

  /** How many runs this process holds in memory (for tests and the curious). */
  trackedRuns(): number {
    return this.runs.size;
  }

  /**
   * Forgets runs nobody has used for a while, so a gateway that has seen millions of runs
   * holds only the ones at work. A run with a call in flight, calls held by a pause, or a
   * deadline still to fire stays; so does one whose scope a reservation still holds.
   */
  forgetIdleRuns(): number {
    const now = this.now();
    let forgotten = 0;
    for (const [id, run] of this.runs) {
      const idleFor = now - (this.lastActive.get(id) ?? 0);
      const keepFor = isLive(run.state) ? this.options.idleRunMs ?? 15 * 60_000 : this.options.endedRunMs ?? 60_000;
      if (idleFor < keepFor || this.deadlines.has(id) || this.inflight.count(id) > 0 || this.pauses.holding(id)) continue;
      if (!this.store.forget(`run:${id}`)) continue;
      this.runs.delete(id);
      this.lastActive.delete(id);
      forgotten++;
    }
    // A signal for a run never loaded here matters only to a load racing it.
    for (const [id, signal] of this.endedElsewhere) if (now - signal.at > (this.options.endedRunMs ?? 60_000)) this.endedElsewhere.delete(id);
    if (forgotten > 0) this.log.debug('forgot idle runs', { forgotten, tracked: this.runs.size });
    return forgotten;
  }

  private async scopesOf(identity: Identity, chain: RunRecord[], now: number): Promise<ScopeId[]> {
    const scopes: ScopeId[] = [];
    for (const run of chain) {
      const scope = `run:${run.id}`;
      await this.ensureScope(scope, runDefinition(run, this.options.softThreshold), { kind: 'run', id: run.id }, now);
      scopes.push(scope);
    }
    const keyId = identity.kind === 'key' ? identity.key.id : chain[0]?.keyId ?? null;
    if (keyId !== null) {
      const scope = `key:${keyId}`;
      const budget = this.budgets.get(scope);
      await this.ensureScope(scope, budget ? budgetDefinition(budget, this.options.softThreshold) : unlimited(), { kind: 'key', id: keyId }, now);
      scopes.push(scope);
    }
    const project = projectOf(identity);
    const projectBudget = project === null ? undefined : this.budgets.get(`project:${project}`);
    if (project !== null && projectBudget) {
      await this.ensureScope(`project:${project}`, budgetDefinition(projectBudget, this.options.softThreshold), { kind: 'project', id: project }, now);
      scopes.push(`project:${project}`);
    }
    return scopes;
  }

  /** Loads a scope's spend in its current window from the ledger, once, however many calls ask at the same time. */
  private async ensureScope(scope: ScopeId, definition: ScopeDefinition, ref: ScopeRef, now: number): Promise<void> {
    if (this.store.has(scope)) return;
    let loading = this.loading.get(scope);
    if (!loading) {
      loading = this.ledger.spentInScope(ref, windowStartFor(definition.window, now)).then(async (spent) => {
        if (!this.store.has(scope)) await this.store.define(scope, definition, spent, now);
      });
      this.loading.set(scope, loading);
      loading.finally(() => this.loading.delete(scope)).catch(() => undefined);
    }
    await loading;
  }

  private watchDeadline(run: RunRecord): void {
    if (run.deadlineAt === null || this.deadlines.has(run.id)) return;
    const timer = setTimeout(() => {
      this.deadlines.delete(run.id);
      void this.endRun(run.id, 'exhausted', 'deadline_exceeded').catch((error: Error) => this.log.error('deadline failed', { run: run.id, error: error.message }));
    }, Math.max(0, run.deadlineAt - this.now()));
    timer.unref();
    this.deadlines.set(run.id, timer);
  }

  private async fireThreshold(event: ThresholdEvent): Promise<void> {
    try {
      if (!(await this.ledger.markThresholdFired(event.scope, event.windowStart, this.now()))) return;
      this.log.warn('soft threshold crossed', { scope: event.scope, dimension: event.dimension, spent: formatUsd(event.spent.money) });
      this.options.onThreshold?.(event, this.budgets.get(event.scope));
    } catch (error) {
      this.log.error('threshold event failed', { scope: event.scope, error: (error as Error).message });
    }
  }
}

export function budgetError(code: ErrorCode, message: string): GatewayError {
  return new GatewayError(code, 'budget', message);
}

/** The refusal for a run that no longer runs: its own cause when the clock ended it. */
function runEndedError(run: RunRecord): GatewayError {
  const reason = run.endedReason;
  const code: ErrorCode = run.state === 'stopped' ? 'run_stopped'
    : reason === 'deadline_exceeded' || reason === 'budget_exhausted' || reason === 'tokens_exhausted' || reason === 'calls_exhausted' ? reason
      : 'run_ended';
  return budgetError(code, `run ${run.id} is ${run.state}${reason ? ` (${reason})` : ''}; no more calls are admitted`);
}

function isLive(state: RunState): boolean {
  return state === 'running' || state === 'paused';
}

function runDefinition(run: RunRecord, softThreshold: number): ScopeDefinition {
  return { limits: { money: run.budget, tokens: run.budgetTokens, calls: run.maxCalls }, window: 'total', softThreshold };
}

function budgetDefinition(budget: BudgetRecord, defaultThreshold: number): ScopeDefinition {
  return {
    limits: { money: budget.money, tokens: budget.tokens, calls: budget.calls },
    window: budget.window,
    softThreshold: budget.softThreshold ?? defaultThreshold,
  };
}

function unlimited(): ScopeDefinition {
  return { limits: { ...NO_LIMITS }, window: 'total', softThreshold: null };
}

function clockOf(state: ScopeState | undefined): Clock | undefined {
  if (!state) return undefined;
  return { spent: state.spent.money, reserved: state.reserved.money, remaining: remainingOf(state).money, limits: state.definition.limits };
}

function hasLimits(limits: Limits | undefined): boolean {
  return !!limits && (limits.money !== null || limits.tokens !== null || limits.calls !== null);
}

export function projectOf(identity: Identity): string | null {
  return identity.kind === 'run' ? identity.run.project : identity.key.project;
}

function splitScope(scope: string): ['key' | 'project', string] {
  const colon = scope.indexOf(':');
  return [scope.slice(0, colon) as 'key' | 'project', scope.slice(colon + 1)];
}

