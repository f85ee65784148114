import type { ApprovalPolicy } from '../core/tool-policy.js';
import type { Protocol } from '../core/tokenizer.js';

/**
 * pending until decided; approved and denied by someone; timed_out when nobody decided in
 * time (it acts as a deny); abandoned when the call ended while it waited (the agent left,
 * the run was stopped, the gateway restarted), so nothing is left to release.
 */
export type ApprovalState = 'pending' | 'approved' | 'denied' | 'timed_out' | 'abandoned';

/** One tool call a model asked for that waits for (or got) a decision. */
export interface ApprovalRecord {
  id: string;
  runId: string | null;
  /** The model call whose response is held. */
  callId: string;
  /** The provider's id of the tool call (call_…, toolu_…), when it gave one. */
  toolCallId: string | null;
  tool: string;
  /** The arguments as the model wrote them (JSON text, possibly cut short). */
  arguments: string;
  protocol: Protocol;
  model: string;
  state: ApprovalState;
  createdAt: number;
  /** When it times out if nobody decides. */
  expiresAt: number;
  decidedBy: string | null;
  note: string | null;
  decidedAt: number | null;
}

export interface ApprovalQuery {
  state?: ApprovalState;
  runId?: string;
  limit: number;
}

/** Where approvals and approval policies are kept (SQLite here; one table each). */
export interface ApprovalStore {
  insert(approval: ApprovalRecord): Promise<void>;
  /** Records a decision on a pending approval; undefined if it was not pending (someone else decided first). */
  decide(id: string, decision: { state: Exclude<ApprovalState, 'pending'>; decidedBy: string; note: string | null; at: number }): Promise<ApprovalRecord | undefined>;
  get(id: string): Promise<ApprovalRecord | undefined>;
  list(query: ApprovalQuery): Promise<ApprovalRecord[]>;
  /** Marks every pending approval abandoned: at start, they belong to calls a previous process held. */
  abandonPending(note: string, at: number): Promise<number>;
  putPolicy(policy: ApprovalPolicy, at: number): Promise<void>;
  deletePolicy(scope: string): Promise<boolean>;
  listPolicies(): Promise<ApprovalPolicy[]>;
}
