import {
  BudgetBook, NO_LIMITS, remainingOf,
  type Amounts, type Limits, type ReserveRequest, type ReserveResult, type ScopeDefinition, type ScopeId, type ScopeState, type ThresholdEvent,
} from '../core/budget.js';

/**
 * Where budgets and reservations are kept: in this process (embedded, the default) or
 * shared by replicas (Redis). Every store has the same semantics, checked by one
 * conformance suite: a reservation is admitted only if it fits every one of its scopes at
 * once; settle charges the real cost and returns the rest; settle and release are
 * idempotent; a refusal reserves nothing anywhere.
 */
export interface BudgetStore {
  readonly kind: 'embedded' | 'redis';
  /** True once this process has declared the scope (its definition is known to the store). */
  has(scope: ScopeId): boolean;
  /**
   * Declares (or redefines) a scope's limits. `spentInWindow` (from the ledger) seeds its
   * spend only when the store does not know the scope yet: a shared store's counter is the
   * authority once it exists.
   */
  define(scope: ScopeId, definition: ScopeDefinition, spentInWindow: Amounts, now: number): Promise<void>;
  reserve(request: ReserveRequest, now: number): Promise<ReserveResult>;
  /** Charges the real cost to every scope the reservation holds and frees the rest. Idempotent. */
  settle(reservationId: string, actual: Amounts, now: number): Promise<ThresholdEvent[]>;
  /** Frees a reservation without charging. Idempotent. */
  release(reservationId: string): Promise<void>;
  state(scope: ScopeId, now: number): Promise<ScopeState | undefined>;
  remaining(scope: ScopeId, now: number): Promise<Limits>;
  /** The scope's state as this process last saw it, without I/O (for response headers). */
  lastKnown(scope: ScopeId, now: number): ScopeState | undefined;
  /**
   * Forgets what this process knows of a scope it no longer uses (an idle or ended run), unless
   * a reservation of this process still holds it; the next use declares it again. A shared
   * store's counters stay where they are: only this process's copy goes. False when held.
   */
  forget(scope: ScopeId): boolean;
  /**
   * A scope that takes no more calls (an ended run): a shared store drops its counters after
   * `afterMs`, so Redis does not keep every run ever made; the ledger rebuilds them if asked.
   */
  retire(scope: ScopeId, afterMs: number): Promise<void>;
  close(): Promise<void>;
}

/** The default store: a BudgetBook in this process. Atomic because JavaScript does not interleave it. */
export class EmbeddedBudgetStore implements BudgetStore {
  readonly kind = 'embedded' as const;
  readonly book = new BudgetBook();

  has(scope: ScopeId): boolean {
    return this.book.has(scope);
  }

  // Each method does its work before its first await (there is none), so callers that do
  // not wait see the effect at once, as they did when the book was called directly.
  async define(scope: ScopeId, definition: ScopeDefinition, spentInWindow: Amounts, now: number): Promise<void> {
    this.book.define(scope, definition, spentInWindow, now);
  }

  async reserve(request: ReserveRequest, now: number): Promise<ReserveResult> {
    return this.book.reserve(request, now);
  }

  async settle(reservationId: string, actual: Amounts, now: number): Promise<ThresholdEvent[]> {
    return this.book.settle(reservationId, actual, now);
  }

  async release(reservationId: string): Promise<void> {
    this.book.release(reservationId);
  }

  async state(scope: ScopeId, now: number): Promise<ScopeState | undefined> {
    return this.lastKnown(scope, now);
  }

  async remaining(scope: ScopeId, now: number): Promise<Limits> {
    const state = this.book.state(scope, now);
    return state ? remainingOf(state) : { ...NO_LIMITS };
  }

  forget(scope: ScopeId): boolean {
    return this.book.forget(scope);
  }

  /** In this process, forgetting idle scopes is enough. */
  async retire(): Promise<void> {}

  lastKnown(scope: ScopeId, now: number): ScopeState | undefined {
    const state = this.book.state(scope, now);
    return state && { ...state, spent: { ...state.spent }, reserved: { ...state.reserved } };
  }

  async close(): Promise<void> {}
}
