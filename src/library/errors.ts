import { formatUsd, type Money } from '../core/money.js';
import type { Violation } from './contract.js';

/** One try at a stage: which model, which ledger entry, what it cost, what the contract said. */
export interface AttemptRecord {
  /** 1, 2, 3 … across retries and escalations of one stage run. */
  attempt: number;
  model: string;
  callId: string;
  cost: Money;
  costUsd: string;
  verdict: 'passed' | 'failed';
  violation: Violation | null;
  /** Precedents injected into this attempt's instructions (ids), and the prompt tokens they added (part of `cost`). */
  precedents: string[];
  precedentTokens: number;
}

/**
 * A stage whose every allowed attempt failed its contract. The bad output went no further;
 * this carries the last violation, every attempt, and what they cost (all of it waste).
 */
export class ContractViolationError extends Error {
  readonly code = 'contract_violation';
  /** Total cost of the attempts, in pico-dollars; every one failed, so this is all waste. */
  readonly cost: Money;

  constructor(
    readonly stage: string,
    readonly contract: string,
    readonly violation: Violation,
    readonly attempts: AttemptRecord[],
    /** Whether the run was stopped on the gateway (only a run this library created can be). */
    readonly runHalted: boolean,
  ) {
    const cost = attempts.reduce((sum, attempt) => sum + attempt.cost, 0n);
    super(`stage "${stage}" failed contract "${contract}" after ${attempts.length} attempt${attempts.length === 1 ? '' : 's'} ($${formatUsd(cost)}): ${violation.message}`);
    this.name = 'ContractViolationError';
    this.cost = cost;
  }

  get costUsd(): string {
    return formatUsd(this.cost);
  }
}
