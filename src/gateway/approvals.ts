import { compilePolicy, resolvePolicy, type ApprovalPolicy, type CompiledPolicy, type DenyAction } from '../core/tool-policy.js';
import { GatewayError } from '../protocols/errors.js';
import type { ApprovalQuery, ApprovalRecord, ApprovalState, ApprovalStore } from '../stores/approvals.js';
import { CallGate } from './approval-gate.js';
import type { Logger } from './log.js';
import { newId } from './secrets.js';
import type { CallContext } from './settle.js';
import { postWebhook } from './webhooks.js';

/** One line of the audit trail, as approvals write it. */
export interface ApprovalAuditEntry {
  actor: string;
  action: 'approval.approve' | 'approval.deny' | 'approval.timeout' | 'approval.abandon';
  runId: string | null;
  target: string;
  note: string | null;
}

export interface ApprovalOptions {
  /** The config file's `approvals` section: the global policy unless the API set one. */
  config: { tools: string[]; timeoutMs: number; onDeny: DenyAction; webhook?: string | undefined };
  log: Logger;
  /** Stops a run whose tool call was denied under `onDeny: stop`. */
  stopRun(runId: string, reason: string): Promise<void>;
  /** Where decisions are recorded for the audit trail. */
  audit: { record(entry: ApprovalAuditEntry): unknown };
  now?: () => number;
  /** Told of every approval opened or decided: the live dashboard and alerts listen. */
  onChange?: (record: ApprovalRecord) => void;
}

export type NewApproval = Pick<ApprovalRecord, 'runId' | 'callId' | 'toolCallId' | 'tool' | 'arguments' | 'protocol' | 'model'>;

export type PolicySource = 'config' | 'api';

interface Waiter {
  resolve(record: ApprovalRecord): void;
  timer: NodeJS.Timeout;
}

/**
 * The approvals of this gateway: policies (kept in memory, compiled, so a call resolves
 * its own without I/O), pending approvals with their timers, and their decisions. A
 * decision is written to the store first; only the writer that moved it out of pending
 * wakes the held call, so two deciders (or a decider and the timer) cannot both win.
 */
export class ApprovalRegistry {
  private policies = new Map<string, CompiledPolicy>();
  private storedGlobal = false;
  private readonly waiting = new Map<string, Waiter>();
  readonly now: () => number;

  constructor(private readonly store: ApprovalStore, private readonly options: ApprovalOptions) {
    this.now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    // Their calls died with the previous process: nothing is left to release or deny.
    const stale = await this.store.abandonPending('the gateway restarted while the call was held', this.now());
    if (stale > 0) this.options.log.warn('abandoned approvals of a previous process', { count: stale });
    await this.reloadPolicies();
  }

  /** The gate of one call, or undefined when no policy gates any tool for it (then nothing is inspected). */
  gateFor(call: CallContext, runIds: string[]): CallGate | undefined {
    if (this.policies.size === 0) return undefined;
    const identity = call.identity;
    const policy = resolvePolicy(this.policies, {
      runIds,
      keyId: identity.kind === 'key' ? identity.key.id : identity.run.keyId,
      project: identity.kind === 'key' ? identity.key.project : identity.run.project,
    }, { timeoutMs: this.options.config.timeoutMs, onDeny: this.options.config.onDeny, webhook: this.options.config.webhook ?? null });
    return policy && new CallGate(this, call, runIds, policy, this.options.stopRun);
  }

  /** Opens an approval; `decision` resolves when it is decided, times out, or is abandoned. */
  async open(input: NewApproval, timeoutMs: number, webhook: string | null): Promise<{ record: ApprovalRecord; decision: Promise<ApprovalRecord> }> {
    const createdAt = this.now();
    const record: ApprovalRecord = {
      ...input, id: newId('apr'), state: 'pending', createdAt, expiresAt: createdAt + timeoutMs, decidedBy: null, note: null, decidedAt: null,
    };
    await this.store.insert(record);
    const decision = new Promise<ApprovalRecord>((resolve) => {
      const timer = setTimeout(() => {
        void this.finish(record.id, 'timed_out', 'timeout', `no decision within ${formatDuration(timeoutMs)}`)
          .catch((error: Error) => this.options.log.error('approval timeout failed', { approval: record.id, error: error.message }));
      }, timeoutMs);
      timer.unref();
      this.waiting.set(record.id, { resolve, timer });
    });
    this.options.log.info('approval opened', { approval: record.id, call: record.callId, run: record.runId, tool: record.tool });
    this.options.onChange?.(record);
    if (webhook) {
      postWebhook(webhook, {
        type: 'approval.requested',
        approval: approvalView(record),
        text: `InTime: ${record.runId ? `run ${record.runId}` : `call ${record.callId}`} wants to call \`${record.tool}\` ` +
          `with ${truncate(record.arguments, 400)}. Approve: \`intime approve ${record.id}\` · deny: \`intime deny ${record.id} --note "why"\` ` +
          `(denied automatically in ${formatDuration(timeoutMs)})`,
      }, this.options.log);
    }
    return { record, decision };
  }

  /** A human's (or a policy's) decision on a pending approval. */
  async decide(id: string, state: 'approved' | 'denied', actor: string, note: string | null): Promise<ApprovalRecord> {
    const decided = await this.finish(id, state, actor, note);
    if (decided) return decided;
    const current = await this.store.get(id);
    if (!current) throw new GatewayError('not_found', 'not_found', `approval ${id} not found`, { retryable: false });
    throw new GatewayError('invalid_request', 'invalid_request', `approval ${id} is already ${current.state}`, { status: 409, retryable: false });
  }

  /** The call ended while it waited (agent gone, run stopped): nothing to decide any more. */
  async abandon(id: string, note: string): Promise<void> {
    await this.finish(id, 'abandoned', 'gateway', note);
  }

  get(id: string): Promise<ApprovalRecord | undefined> {
    return this.store.get(id);
  }

  list(query: ApprovalQuery): Promise<ApprovalRecord[]> {
    return this.store.list(query);
  }

  async setPolicy(policy: ApprovalPolicy): Promise<void> {
    await this.store.putPolicy(policy, this.now());
    await this.reloadPolicies();
  }

  async deletePolicy(scope: string): Promise<boolean> {
    const deleted = await this.store.deletePolicy(scope);
    await this.reloadPolicies();
    return deleted;
  }

  /** Every policy in force, and where it comes from (an API-set global replaces the config file's). */
  listPolicies(): { policy: ApprovalPolicy; source: PolicySource }[] {
    return [...this.policies.values()].map(({ policy }) => ({
      policy, source: policy.scope === 'global' && !this.storedGlobal ? 'config' : 'api',
    }));
  }

  /** Stops the timers; held calls end with their connections (their approvals are abandoned then or at the next start). */
  close(): void {
    for (const waiter of this.waiting.values()) clearTimeout(waiter.timer);
    this.waiting.clear();
  }

  private async finish(id: string, state: Exclude<ApprovalState, 'pending'>, actor: string, note: string | null): Promise<ApprovalRecord | undefined> {
    const record = await this.store.decide(id, { state, decidedBy: actor, note, at: this.now() });
    if (!record) return undefined;
    const waiter = this.waiting.get(id);
    this.waiting.delete(id);
    if (waiter) clearTimeout(waiter.timer);
    this.options.log.info('approval decided', { approval: id, state, by: actor });
    // AUDIT: the one place approval decisions reach the audit trail.
    this.options.audit.record({ actor, action: AUDIT_ACTION[state], runId: record.runId, target: id, note });
    waiter?.resolve(record);
    this.options.onChange?.(record);
    return record;
  }

  private async reloadPolicies(): Promise<void> {
    const stored = await this.store.listPolicies();
    const policies = new Map<string, CompiledPolicy>();
    const { config } = this.options;
    if (config.tools.length > 0) {
      policies.set('global', compilePolicy({ scope: 'global', tools: config.tools, timeoutMs: null, onDeny: null, webhook: null }));
    }
    for (const policy of stored) policies.set(policy.scope, compilePolicy(policy));
    this.storedGlobal = stored.some((policy) => policy.scope === 'global');
    this.policies = policies;
  }
}

const AUDIT_ACTION: Record<Exclude<ApprovalState, 'pending'>, ApprovalAuditEntry['action']> = {
  approved: 'approval.approve',
  denied: 'approval.deny',
  timed_out: 'approval.timeout',
  abandoned: 'approval.abandon',
};

/** An approval as the API, the CLI and webhooks show it: arguments parsed when they are JSON. */
export function approvalView(record: ApprovalRecord) {
  const iso = (epochMs: number | null) => (epochMs === null ? null : new Date(epochMs).toISOString());
  let parsed: unknown = record.arguments;
  try {
    parsed = JSON.parse(record.arguments);
  } catch {
    // Cut short (max tokens) or not JSON: shown as the model wrote it.
  }
  return {
    id: record.id,
    run: record.runId,
    call: record.callId,
    toolCallId: record.toolCallId,
    tool: record.tool,
    arguments: parsed,
    protocol: record.protocol,
    model: record.model,
    state: record.state,
    createdAt: iso(record.createdAt),
    expiresAt: iso(record.expiresAt),
    decidedBy: record.decidedBy,
    note: record.note,
    decidedAt: iso(record.decidedAt),
  };
}

export function formatDuration(milliseconds: number): string {
  if (milliseconds >= 60_000 && milliseconds % 60_000 === 0) return `${milliseconds / 60_000} minute${milliseconds === 60_000 ? '' : 's'}`;
  if (milliseconds >= 1000 && milliseconds % 1000 === 0) return `${milliseconds / 1000} s`;
  return `${milliseconds} ms`;
}

function truncate(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length)}…`;
}
