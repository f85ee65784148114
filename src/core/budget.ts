import type { Money } from './money.js';

/**
 * Budgets and reservations, pure and synchronous. A call is admitted only if its worst
 * case fits every scope above it (run, parent runs, key, project) at once; it is then
 * settled to its real cost and the rest released. Because JavaScript runs this code
 * without interleaving, check-and-reserve is atomic across all scopes: no two calls can
 * both see the same remaining money, so settled spend never exceeds a limit.
 */

export type ScopeId = string; // "run:<id>", "key:<id>", "project:<name>"
export type WindowKind = 'total' | 'day' | 'month';

export interface Amounts {
  money: Money;
  tokens: number;
  calls: number;
}

export interface Limits {
  money: Money | null;
  tokens: number | null;
  calls: number | null;
}

export interface ScopeDefinition {
  limits: Limits;
  window: WindowKind;
  /** Share of a limit (0..1) at which a soft-threshold event fires, once per window. */
  softThreshold: number | null;
}

export interface ScopeState {
  definition: ScopeDefinition;
  windowStart: number;
  spent: Amounts;
  reserved: Amounts;
  softThresholdFired: boolean;
}

export interface Reservation {
  id: string;
  scopes: ScopeId[];
  amounts: Amounts;
}

export type RefusalCode = 'budget_exhausted' | 'tokens_exhausted' | 'calls_exhausted';

export interface ReserveRequest {
  id: string;
  scopes: ScopeId[];
  /** The worst case of everything but output: prompt tokens at the highest prompt price. */
  fixed: { money: Money; tokens: number };
  /** Price of one output token. */
  outputPrice: Money;
  /** Output tokens the request asks for at most. */
  maxOutputTokens: number;
  /** With 'clamp', a call whose output does not fit is admitted with fewer output tokens. */
  policy: 'clamp' | 'refuse';
}

export type ReserveResult =
  | { ok: true; reservation: Reservation; outputTokens: number; clamped: boolean }
  | { ok: false; code: RefusalCode; scope: ScopeId; message: string; /** True when not even a minimal call fits: the scope's clock is at zero. */ final: boolean };

export interface ThresholdEvent {
  scope: ScopeId;
  dimension: keyof Amounts;
  spent: Amounts;
  limits: Limits;
  windowStart: number;
}

export const ZERO_AMOUNTS: Readonly<Amounts> = Object.freeze({ money: 0n, tokens: 0, calls: 0 });
export const NO_LIMITS: Readonly<Limits> = Object.freeze({ money: null, tokens: null, calls: null });

/** Start of the window containing `now`, calendar-aligned in UTC. */
export function windowStartFor(kind: WindowKind, now: number): number {
  if (kind === 'total') return 0;
  const date = new Date(now);
  return kind === 'day'
    ? Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate())
    : Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
}

export class BudgetBook {
  private readonly scopes = new Map<ScopeId, ScopeState>();
  private readonly reservations = new Map<string, Reservation>();

  /** Declares (or redefines) a scope; its spend so far in the current window comes from the ledger. */
  define(scope: ScopeId, definition: ScopeDefinition, spentInWindow: Amounts, now: number): void {
    const existing = this.scopes.get(scope);
    this.scopes.set(scope, {
      definition,
      windowStart: windowStartFor(definition.window, now),
      spent: { ...spentInWindow },
      reserved: existing ? existing.reserved : { ...ZERO_AMOUNTS },
      softThresholdFired: existing?.softThresholdFired ?? false,
    });
  }

  has(scope: ScopeId): boolean {
    return this.scopes.has(scope);
  }

  state(scope: ScopeId, now: number): ScopeState | undefined {
    const state = this.scopes.get(scope);
    if (state) this.roll(state, now);
    return state;
  }

  /** What is left before a limit, after spend and outstanding reservations; null when unlimited. */
  remaining(scope: ScopeId, now: number): Limits {
    const state = this.state(scope, now);
    return state ? remainingOf(state) : { ...NO_LIMITS };
  }

  reserve(request: ReserveRequest, now: number): ReserveResult {
    const result = planReservation(request, request.scopes.map((scope) => this.remaining(scope, now)));
    if (!result.ok) return result;
    for (const scope of request.scopes) {
      const state = this.scopes.get(scope);
      if (state) add(state.reserved, result.reservation.amounts);
    }
    this.reservations.set(result.reservation.id, result.reservation);
    return result;
  }

  /**
   * Charges a call's real cost to every scope it reserved in and returns the rest.
   * Idempotent: a reservation settles or releases once; later calls are no-ops.
   */
  settle(reservationId: string, actual: Amounts, now: number): ThresholdEvent[] {
    const reservation = this.reservations.get(reservationId);
    if (!reservation) return [];
    this.reservations.delete(reservationId);
    const events: ThresholdEvent[] = [];
    for (const scope of reservation.scopes) {
      const state = this.scopes.get(scope);
      if (!state) continue;
      subtract(state.reserved, reservation.amounts);
      this.roll(state, now);
      add(state.spent, actual);
      const crossed = crossedSoftThreshold(state);
      if (crossed) {
        state.softThresholdFired = true;
        events.push({ scope, dimension: crossed, spent: { ...state.spent }, limits: state.definition.limits, windowStart: state.windowStart });
      }
    }
    return events;
  }

  release(reservationId: string): void {
    const reservation = this.reservations.get(reservationId);
    if (!reservation) return;
    this.reservations.delete(reservationId);
    for (const scope of reservation.scopes) {
      const state = this.scopes.get(scope);
      if (state) subtract(state.reserved, reservation.amounts);
    }
  }

  outstanding(): number {
    return this.reservations.size;
  }

  /**
   * Drops a scope no open reservation holds, so a long-lived process does not keep every
   * run it ever saw; its next use defines it again from the ledger. False when it is held.
   */
  forget(scope: ScopeId): boolean {
    const state = this.scopes.get(scope);
    if (!state) return true;
    if (state.reserved.calls > 0 || state.reserved.money > 0n || state.reserved.tokens > 0) return false;
    this.scopes.delete(scope);
    return true;
  }

  /** How many scopes this book holds. */
  size(): number {
    return this.scopes.size;
  }

  private roll(state: ScopeState, now: number): void {
    rollWindow(state, now);
  }
}

/** Moves a scope into the window containing `now`: spend starts over; reservations still held carry into it. */
export function rollWindow(state: ScopeState, now: number): void {
  const start = windowStartFor(state.definition.window, now);
  if (start === state.windowStart) return;
  state.windowStart = start;
  state.spent = { ...ZERO_AMOUNTS };
  state.softThresholdFired = false;
}

/** What is left before each limit, after spend and outstanding reservations; null when unlimited. */
export function remainingOf(state: ScopeState): Limits {
  const { limits } = state.definition;
  return {
    money: limits.money === null ? null : limits.money - state.spent.money - state.reserved.money,
    tokens: limits.tokens === null ? null : limits.tokens - state.spent.tokens - state.reserved.tokens,
    calls: limits.calls === null ? null : limits.calls - state.spent.calls - state.reserved.calls,
  };
}

/** The dimension whose soft threshold the scope's spend has reached, unless it already fired this window. */
export function crossedSoftThreshold(state: ScopeState): keyof Amounts | undefined {
  const share = state.definition.softThreshold;
  if (share === null || state.softThresholdFired) return undefined;
  const { limits } = state.definition;
  // Compare in integers: spent / limit >= share  <=>  spent * 10^6 >= limit * share * 10^6.
  const scaled = BigInt(Math.round(share * 1_000_000));
  if (limits.money !== null && state.spent.money * 1_000_000n >= limits.money * scaled) return 'money';
  if (limits.tokens !== null && BigInt(state.spent.tokens) * 1_000_000n >= BigInt(limits.tokens) * scaled) return 'tokens';
  if (limits.calls !== null && BigInt(state.spent.calls) * 1_000_000n >= BigInt(limits.calls) * scaled) return 'calls';
  return undefined;
}

/**
 * Decides a reservation from what is left in each of its scopes (in request order): the
 * output tokens that fit everywhere, or the first scope that refuses. Pure, so every store
 * decides the same way; a store then commits the amounts atomically (or tries again).
 */
export function planReservation(request: ReserveRequest, left: Limits[]): ReserveResult {
  let outputTokens = request.maxOutputTokens;
  let binding: { code: RefusalCode; scope: ScopeId } | undefined;
  for (const [index, scope] of request.scopes.entries()) {
    const remaining = left[index]!;
    if (remaining.calls !== null && remaining.calls < 1) {
      return refuse('calls_exhausted', scope, `scope ${scope} has no calls left`, true);
    }
    if (remaining.money !== null) {
      const forOutput = remaining.money - request.fixed.money;
      if (forOutput < 0n) return refuse('budget_exhausted', scope, `scope ${scope} cannot pay for this prompt`, true);
      if (request.outputPrice > 0n) {
        const fits = forOutput / request.outputPrice;
        if (fits < BigInt(outputTokens)) {
          outputTokens = Number(fits);
          binding = { code: 'budget_exhausted', scope };
        }
      }
    }
    if (remaining.tokens !== null) {
      const fits = remaining.tokens - request.fixed.tokens;
      if (fits < 0) return refuse('tokens_exhausted', scope, `scope ${scope} has fewer tokens left than this prompt`, true);
      if (fits < outputTokens) {
        outputTokens = fits;
        binding = { code: 'tokens_exhausted', scope };
      }
    }
  }
  const clamped = outputTokens < request.maxOutputTokens;
  if (clamped && (request.policy === 'refuse' || outputTokens < 1)) {
    return refuse(binding!.code, binding!.scope,
      outputTokens < 1
        ? `scope ${binding!.scope} has nothing left for output`
        : `scope ${binding!.scope} fits ${outputTokens} output tokens, not the ${request.maxOutputTokens} requested`,
      outputTokens < 1);
  }
  const amounts: Amounts = {
    money: request.fixed.money + BigInt(outputTokens) * request.outputPrice,
    tokens: request.fixed.tokens + outputTokens,
    calls: 1,
  };
  return { ok: true, reservation: { id: request.id, scopes: [...request.scopes], amounts }, outputTokens, clamped };
}

function refuse(code: RefusalCode, scope: ScopeId, message: string, final: boolean): ReserveResult {
  return { ok: false, code, scope, message, final };
}

function add(target: Amounts, amounts: Amounts): void {
  target.money += amounts.money;
  target.tokens += amounts.tokens;
  target.calls += amounts.calls;
}

function subtract(target: Amounts, amounts: Amounts): void {
  target.money -= amounts.money;
  target.tokens -= amounts.tokens;
  target.calls -= amounts.calls;
}
