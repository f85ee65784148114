import type { Money } from '../core/money.js';
import type { Protocol } from '../core/tokenizer.js';
import type { Usage } from '../core/usage.js';
import type { Amounts, WindowKind } from '../core/budget.js';

export type RunState = 'running' | 'paused' | 'stopped' | 'exhausted' | 'completed';

export interface RunRecord {
  id: string;
  name: string | null;
  parentId: string | null;
  /** The virtual key the run was started under: its budget applies to the run's calls. */
  keyId: string | null;
  project: string | null;
  state: RunState;
  budget: Money | null;
  budgetTokens: number | null;
  maxCalls: number | null;
  /** Epoch milliseconds after which the run may not spend. */
  deadlineAt: number | null;
  /** When a call's output does not fit: admit it with fewer output tokens, or refuse it. */
  overflowPolicy: OverflowPolicy;
  createdAt: number;
  endedAt: number | null;
  /** Why the run left 'running': budget_exhausted, deadline_exceeded, a note... */
  endedReason: string | null;
}

export type OverflowPolicy = 'clamp' | 'refuse';

export interface KeyRecord {
  id: string;
  name: string;
  project: string | null;
  createdAt: number;
  revokedAt: number | null;
}

/** Who is calling: a run's own token, or a long-lived virtual key. */
export type Identity = { kind: 'run'; run: RunRecord } | { kind: 'key'; key: KeyRecord };

export type CallStatus =
  | 'ok'            // completed, usage from the upstream
  | 'upstream_error' // the upstream answered with an error status
  | 'failed'        // the upstream broke (disconnect, malformed answer, unreachable)
  | 'client_aborted' // the agent went away mid-call
  | 'cut'           // the gateway ended it: deadline, exhausted or stopped run
  | 'interrupted';  // in flight when the gateway crashed; reconciled on restart

/** One ledger entry: a model call, priced. */
export interface CallRecord extends Usage {
  id: string;
  runId: string | null;
  keyId: string | null;
  project: string | null;
  step: string | null;
  agent: string | null;
  provider: string;
  model: string;
  protocol: Protocol;
  stream: boolean;
  cost: Money;
  /** True when some token counts came from our tokenizer, not from the upstream's usage. */
  estimated: boolean;
  status: CallStatus;
  httpStatus: number;
  errorCode: string | null;
  upstreamRequestId: string | null;
  startedAt: number;
  latencyMs: number;
  timeToFirstTokenMs: number | null;
  /** The routing policy this call was an attempt of (intime/auto:<policy>), else null. */
  routePolicy?: string | null;
  // Output contracts (optional so older writers and stores still type-check; absent means
  // no contract, attempt 1).
  /** Whether the output met its contract: `none` when no contract applied. */
  contractVerdict?: ContractVerdict;
  contractName?: string | null;
  contractVersion?: number | null;
  /** Why the output failed, short and human-readable. */
  contractViolation?: string | null;
  /** 1 for a first try; the library counts its retries and escalations up from there. */
  attempt?: number;
  /** The call this one retries, when it is a retry. */
  retryOf?: string | null;
  /** Precedents injected into this call's prompt (their tokens are part of its input). */
  precedentsInjected?: { id: string; tokens: number; relevance: number }[] | null;
  /** Prompt tokens the injected precedents added (as the tokenizer counts them). */
  precedentTokens?: number;
}

export type ContractVerdict = 'passed' | 'failed' | 'none';

/** A verdict on one call's output, from the gateway's validator or the library's checks. */
export interface ContractJudgement {
  verdict: ContractVerdict;
  name: string | null;
  version: number | null;
  violation: string | null;
}

/** A contract registered by API: a JSON Schema under a name, versioned from 1. */
export interface ContractRecord {
  name: string;
  version: number;
  schema: Record<string, unknown>;
  description: string | null;
  createdAt: number;
  createdBy: string | null;
}

/**
 * Silent burn, per group: spend on outputs that failed their contract. `wasted` is the
 * cost of failed calls (first tries and retries alike); `cost` is all spend in the group.
 */
export interface WasteRow {
  group: string | null;
  cost: Money;
  wasted: Money;
  calls: number;
  failedCalls: number;
  /** Calls that were retries (attempt > 1), failed or not. */
  retries: number;
}

export type WasteDimension = 'stage' | 'model' | 'run' | 'day';

export interface SpendTotals {
  cost: Money;
  inputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  calls: number;
  estimatedCalls: number;
  /** Cost of calls whose output failed its contract (silent burn). Absent: not computed. */
  wasted?: Money;
}

export type SpendDimension = 'model' | 'key' | 'day' | 'run' | 'project' | 'step' | 'provider';

export interface SpendRow extends SpendTotals {
  group: string | null;
}

export interface NewRun {
  id: string;
  tokenHash: string;
  name: string | null;
  parentId: string | null;
  keyId: string | null;
  project: string | null;
  budget: Money | null;
  budgetTokens: number | null;
  maxCalls: number | null;
  deadlineAt: number | null;
  overflowPolicy: OverflowPolicy;
  createdAt: number;
}

export interface NewKey {
  id: string;
  tokenHash: string;
  name: string;
  project: string | null;
  createdAt: number;
}

export interface SpendQuery {
  by: SpendDimension;
  since?: number;
  until?: number;
  runId?: string;
}

/** A call admitted and forwarded but not yet settled: what a crash would leave behind. */
export interface ReservationRecord {
  id: string;
  runId: string | null;
  keyId: string | null;
  project: string | null;
  step: string | null;
  agent: string | null;
  provider: string;
  model: string;
  protocol: Protocol;
  stream: boolean;
  promptTokens: number;
  reserved: Money;
  createdAt: number;
}

/** A budget on a key or a project ("key:<id>", "project:<name>"), per window. */
export interface BudgetRecord {
  scope: string;
  money: Money | null;
  tokens: number | null;
  calls: number | null;
  window: WindowKind;
  softThreshold: number | null;
  webhook: string | null;
  updatedAt: number;
}

export type Role = 'admin' | 'operator' | 'viewer';

/** Someone allowed to use the control API: a role, and the projects it applies to (null: all). */
export interface PrincipalRecord {
  id: string;
  name: string;
  role: Role;
  projects: string[] | null;
  createdAt: number;
  revokedAt: number | null;
}

export interface AuditEntry {
  at: number;
  actor: string;
  role: Role;
  action: string;
  runId: string | null;
  target: string | null;
  note: string | null;
}

export type ScopeRef = { kind: 'run'; id: string } | { kind: 'key'; id: string } | { kind: 'project'; id: string };

/**
 * The durable record of runs, keys and calls. recordCall resolves only once the entry is
 * durable (it survives the gateway process being killed).
 */
export interface LedgerStore {
  createRun(run: NewRun): Promise<RunRecord>;
  createKey(key: NewKey): Promise<KeyRecord>;
  listKeys(): Promise<KeyRecord[]>;
  findIdentity(tokenHash: string): Promise<Identity | undefined>;
  getRun(id: string): Promise<RunRecord | undefined>;
  listRuns(options: { limit: number; state?: RunState }): Promise<RunRecord[]>;
  /** Writes a call's entry and drops its reservation, in one transaction. */
  recordCall(call: CallRecord): Promise<void>;
  setRunState(id: string, state: RunState, reason: string | null, at: number): Promise<void>;
  listChildRuns(parentId: string): Promise<RunRecord[]>;
  /** Spend of a scope since a time: a run's includes its sub-runs'. Tokens count every kind. */
  spentInScope(scope: ScopeRef, since: number): Promise<Amounts>;
  putReservation(reservation: ReservationRecord): Promise<void>;
  listReservations(): Promise<ReservationRecord[]>;
  putBudget(budget: BudgetRecord): Promise<void>;
  listBudgets(): Promise<BudgetRecord[]>;
  createPrincipal(principal: PrincipalRecord & { tokenHash: string }): Promise<void>;
  findPrincipal(tokenHash: string): Promise<PrincipalRecord | undefined>;
  listPrincipals(): Promise<PrincipalRecord[]>;
  recordAudit(entry: AuditEntry): Promise<void>;
  listAudit(query: { runId?: string; limit: number }): Promise<AuditEntry[]>;
  /** Records that a soft threshold fired in a window; false if it had already. */
  markThresholdFired(scope: string, windowStart: number, at: number): Promise<boolean>;
  listCalls(runId: string): Promise<CallRecord[]>;
  /**
   * The most recent answered calls the router learns from (those of a routing policy, and
   * those of a named step that a contract judged), oldest first.
   */
  routingEvidence(limit: number): Promise<CallRecord[]>;
  /** The model of the run's latest call, for the live clock. */
  lastModel(runId: string): Promise<string | null>;
  runTotals(runIds: string[]): Promise<Map<string, SpendTotals>>;
  spend(query: SpendQuery): Promise<SpendRow[]>;
  // Output contracts.
  getCall(id: string): Promise<CallRecord | undefined>;
  /** Merges a verdict into a recorded call (a failure is never overwritten by a pass); undefined if no such call. */
  recordVerdict(callId: string, judgement: ContractJudgement): Promise<CallRecord | undefined>;
  waste(query: { by: WasteDimension; since?: number; until?: number; runId?: string }): Promise<WasteRow[]>;
  /** Registers the next version of a contract (1 for a new name) and returns it. */
  putContract(contract: Omit<ContractRecord, 'version'>): Promise<ContractRecord>;
  /** The given version of a contract, or its latest. */
  getContract(name: string, version?: number): Promise<ContractRecord | undefined>;
  listContracts(): Promise<ContractRecord[]>;
  close(): Promise<void>;
}

export function emptyTotals(): SpendTotals {
  return { cost: 0n, inputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 0, calls: 0, estimatedCalls: 0, wasted: 0n };
}

/** Two verdicts on one output: a failure from either side stands. */
export function mergeJudgements(recorded: ContractJudgement, incoming: ContractJudgement): ContractJudgement {
  if (recorded.verdict === 'failed' || incoming.verdict === 'none') return recorded;
  return incoming;
}
