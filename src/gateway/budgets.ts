import { EventEmitter } from 'node:events';
import { BudgetBook, NO_LIMITS, windowStartFor, type Limits, type RefusalCode, type ScopeDefinition, type ScopeId, type ThresholdEvent } from '../core/budget.js';
import { formatUsd, type Money } from '../core/money.js';
import { worstCaseOf } from '../core/worst-case.js';
import { GatewayError, type ErrorCode } from '../protocols/errors.js';
import type { BudgetRecord, CallRecord, Identity, LedgerStore, OverflowPolicy, RunRecord, RunState, ScopeRef } from '../stores/ledger.js';
import type { InFlightCalls } from './inflight.js';
import { PauseGate } from './pause-gate.js';
import type { Logger } from './log.js';
import type { CallContext } from './settle.js';

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
}

/** What a run's clock shows: spend including sub-runs, and what is left after reservations. */
export interface Clock {
  spent: Money;
  reserved: Money;
  remaining: Money | null;
  limits: Limits;
}

/**
 * The gateway's side of budgets: which scopes a call falls in, their limits and spend
 * (loaded from the ledger once, then kept in memory), admission, settlement, deadlines,
 * and the run states that follow from them.
 */
export interface RunEndedEvent {
  runId: string;
  state: RunRecord['state'];
  reason: string;
}

export class BudgetKeeper {
  readonly book = new BudgetBook();
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

  constructor(
    private readonly ledger: LedgerStore,
    private readonly inflight: InFlightCalls,
    private readonly log: Logger,
    private readonly options: BudgetOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  readonly now: () => number;

  async start(): Promise<void> {
    this.budgets = new Map((await this.ledger.listBudgets()).map((budget) => [budget.scope, budget]));
    // Deadlines act even on runs that make no call: arm the timers of every running run.
    for (const run of await this.ledger.listRuns({ limit: 100_000, state: 'running' })) this.track(run);
  }

  /** Starts watching a new (or restored) run: its deadline fires whether or not it calls. */
  track(run: RunRecord): void {
    this.runs.set(run.id, run);
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
      if (run) this.runs.set(id, run);
    }
    return run;
  }

  /**
   * Admits a call if its worst case fits every scope above it, reserving that worst case.
   * A call of a paused run (or of a paused ancestor) waits here until it resumes.
   */
  async admit(call: CallContext, promptTokens: number, writesCache: boolean, signal: AbortSignal): Promise<Admission> {
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
    const scopes = await this.scopesOf(call.identity, chain, now);
    const limited = scopes.some((scope) => hasLimits(this.book.state(scope, now)?.definition.limits));
    const requested = call.request.maxOutputTokens;
    const maxOutputTokens = requested ?? this.options.defaultMaxOutputTokens;
    const worst = worstCaseOf(call.price, promptTokens, writesCache);
    const result = this.book.reserve({
      id: call.id,
      scopes,
      fixed: { money: worst.promptCost, tokens: worst.promptTokens },
      outputPrice: worst.outputPrice,
      maxOutputTokens,
      policy: chain[0]?.overflowPolicy ?? this.options.defaultPolicy,
    }, now);
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
      this.book.release(call.id);
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

  /** Charges a settled call to its scopes; fires soft thresholds; ends runs whose clock reached zero. */
  settle(record: CallRecord): void {
    const tokens = record.inputTokens + record.cacheReadTokens + record.cacheWriteTokens + record.outputTokens;
    const events = this.book.settle(record.id, { money: record.cost, tokens, calls: 1 }, this.now());
    for (const event of events) void this.fireThreshold(event);
    this.events.emit('call-settled', record);
    for (const [scope, need] of this.pendingExhaustion) void this.exhaustOrWait(scope, need.code, need.money, need.tokens);
  }

  /**
   * A run whose clock cannot pay for a call is exhausted, but only once nothing is still
   * reserved in it: calls in flight are paid for, and settling them at their real cost
   * (below their worst case) may free enough for more. Until then the refusal waits here.
   */
  private async exhaustOrWait(scope: ScopeId, code: RefusalCode, money: Money, tokens: number): Promise<void> {
    const state = this.book.state(scope, this.now());
    if (!state) return;
    if (state.reserved.calls > 0) {
      this.pendingExhaustion.set(scope, { code, money, tokens });
      return;
    }
    this.pendingExhaustion.delete(scope);
    const left = this.book.remaining(scope, this.now());
    const stillShort = code === 'calls_exhausted' ? (left.calls ?? 1) < 1
      : code === 'tokens_exhausted' ? (left.tokens ?? Infinity) <= tokens
        : (left.money ?? money + 1n) <= money;
    if (stillShort) await this.endRun(scope.slice(4), 'exhausted', code);
  }

  release(callId: string): void {
    this.book.release(callId);
  }

  /** The clock of whoever is calling: its run (with sub-runs), or its key. */
  clock(identity: Identity): Clock | undefined {
    const scope = identity.kind === 'run' ? `run:${identity.run.id}` : `key:${identity.key.id}`;
    const state = this.book.state(scope, this.now());
    if (!state) return undefined;
    const remaining = this.book.remaining(scope, this.now());
    return { spent: state.spent.money, reserved: state.reserved.money, remaining: remaining.money, limits: state.definition.limits };
  }

  async runClock(runId: string): Promise<Clock | undefined> {
    const run = await this.run(runId);
    if (!run) return undefined;
    await this.ensureScope(`run:${run.id}`, runDefinition(run, this.options.softThreshold), { kind: 'run', id: run.id }, this.now());
    return this.clock({ kind: 'run', run });
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
  async endRun(runId: string, state: RunState, reason: string): Promise<void> {
    const run = await this.run(runId);
    if (!run || run.state === state || !isLive(run.state)) return;
    const at = this.now();
    const ended: RunRecord = { ...run, state, endedReason: reason, endedAt: at };
    this.runs.set(runId, ended);
    const error = runEndedError(ended);
    const cut = this.inflight.cutRun(runId, error);
    this.pauses.fail(runId, error);
    const timer = this.deadlines.get(runId);
    if (timer) clearTimeout(timer);
    this.deadlines.delete(runId);
    await this.ledger.setRunState(runId, state, reason, at);
    this.log.info('run ended', { run: runId, state, reason, callsCut: cut });
    this.events.emit('run-ended', { runId, state, reason } satisfies RunEndedEvent);
    for (const child of await this.ledger.listChildRuns(runId)) {
      await this.endRun(child.id, state, `parent ${runId} ${state}: ${reason}`);
    }
  }

  /** Pauses a running run: its new calls wait; calls in flight finish. */
  async pauseRun(runId: string): Promise<boolean> {
    const run = await this.run(runId);
    if (!run || run.state !== 'running') return false;
    this.runs.set(runId, { ...run, state: 'paused' });
    await this.ledger.setRunState(runId, 'paused', null, this.now());
    this.events.emit('run-paused', { runId });
    return true;
  }

  /** Resumes a paused run and releases its held calls in the order they came. */
  async resumeRun(runId: string): Promise<number | undefined> {
    const run = await this.run(runId);
    if (!run || run.state !== 'paused') return undefined;
    this.runs.set(runId, { ...run, state: 'running' });
    await this.ledger.setRunState(runId, 'running', null, this.now());
    // Held calls of sub-runs wait on this run too: release every queue under it.
    let released = this.pauses.release(runId);
    for (const child of await this.ledger.listChildRuns(runId)) released += this.pauses.release(child.id);
    this.events.emit('run-resumed', { runId });
    return released;
  }

  async setBudget(budget: BudgetRecord): Promise<void> {
    await this.ledger.putBudget(budget);
    this.budgets.set(budget.scope, budget);
    const [kind, id] = splitScope(budget.scope);
    const spent = await this.ledger.spentInScope({ kind, id } as ScopeRef, windowStartFor(budget.window, this.now()));
    this.book.define(budget.scope, budgetDefinition(budget, this.options.softThreshold), spent, this.now());
  }

  listBudgets(): BudgetRecord[] {
    return [...this.budgets.values()];
  }

  stop(): void {
    for (const timer of this.deadlines.values()) clearTimeout(timer);
    this.deadlines.clear();
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
    if (this.book.has(scope)) return;
    let loading = this.loading.get(scope);
    if (!loading) {
      loading = this.ledger.spentInScope(ref, windowStartFor(definition.window, now)).then((spent) => {
        if (!this.book.has(scope)) this.book.define(scope, definition, spent, now);
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

