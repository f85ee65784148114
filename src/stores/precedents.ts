import type { Precedent, PrecedentKind } from '../core/precedents.js';

export interface PrecedentQuery {
  stage?: string;
  kind?: PrecedentKind;
  includeRetired?: boolean;
  limit?: number;
}

/** One time a precedent's failure happened. */
export interface PrecedentOccurrence {
  precedentId: string;
  callId: string | null;
  runId: string | null;
  at: number;
  /** Whether the failing call had been told of this precedent. */
  injected: boolean;
}

/** One call that carried a precedent in its prompt. */
export interface PrecedentInjectionRecord {
  callId: string;
  at: number;
  model: string;
  step: string | null;
  tokens: number;
  verdict: string;
}

export interface PrecedentStore {
  get(id: string): Promise<Precedent | undefined>;
  findByMergeKey(mergeKey: string): Promise<Precedent | undefined>;
  /** Inserts or replaces (by id); `fixCallId` is the call whose pass supplied an inferred fix. */
  save(precedent: Precedent, fixCallId?: string | null): Promise<void>;
  list(query: PrecedentQuery): Promise<Precedent[]>;
  /** Every precedent not retired: what retrieval indexes. */
  active(): Promise<Precedent[]>;
  addOccurrence(occurrence: PrecedentOccurrence): Promise<void>;
  occurrences(precedentId: string): Promise<PrecedentOccurrence[]>;
  /** The precedent recorded from a call's failure, if any (for crediting the retry that followed). */
  precedentsOfCall(callId: string): Promise<string[]>;
  /** Drops an inferred fix that came from this call (its pass was overturned). Returns the precedents changed. */
  clearFixFromCall(callId: string): Promise<string[]>;
  injections(precedentId: string): Promise<PrecedentInjectionRecord[]>;
  /** Calls at a stage (step) in [since, until): the denominator of a failure rate. */
  callsAtStage(stage: string, since: number, until: number): Promise<number>;
  /**
   * Precedents written since a time, retired ones too. Only a store shared by replicas has
   * it: the others' writes reach this replica's index through it.
   */
  changedSince?(since: number): Promise<Precedent[]>;
}
