import type pg from 'pg';
import type { ApprovalPolicy } from '../core/tool-policy.js';
import type { ApprovalQuery, ApprovalRecord, ApprovalState, ApprovalStore } from './approvals.js';
import { approvalFromRow, policyFromRow } from './sqlite-approvals.js';

type Row = Record<string, unknown>;

/**
 * Approvals in the shared PostgreSQL ledger (tables from migration 3), so any replica can
 * list and decide an approval whichever replica holds its call. A decision is one
 * conditional UPDATE: of two replicas deciding at once, exactly one wins.
 */
export class PgApprovalStore implements ApprovalStore {
  constructor(private readonly pool: pg.Pool) {}

  async insert(a: ApprovalRecord): Promise<void> {
    await this.pool.query(`INSERT INTO approvals
      (id, run_id, call_id, tool_call_id, tool, arguments, protocol, model, state, created_at, expires_at, decided_by, note, decided_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    [a.id, a.runId, a.callId, a.toolCallId, a.tool, a.arguments, a.protocol, a.model, a.state, a.createdAt, a.expiresAt, a.decidedBy, a.note, a.decidedAt]);
  }

  async decide(id: string, decision: { state: Exclude<ApprovalState, 'pending'>; decidedBy: string; note: string | null; at: number }): Promise<ApprovalRecord | undefined> {
    const result = await this.pool.query(`UPDATE approvals SET state = $1, decided_by = $2, note = $3, decided_at = $4
      WHERE id = $5 AND state = 'pending' RETURNING *`, [decision.state, decision.decidedBy, decision.note, decision.at, id]);
    const row = result.rows[0] as Row | undefined;
    return row && approvalFromRow(row);
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    const row = (await this.pool.query('SELECT * FROM approvals WHERE id = $1', [id])).rows[0] as Row | undefined;
    return row && approvalFromRow(row);
  }

  async list(query: ApprovalQuery): Promise<ApprovalRecord[]> {
    const conditions: string[] = [];
    const parameters: unknown[] = [];
    if (query.state !== undefined) conditions.push(`state = $${parameters.push(query.state)}`);
    if (query.runId !== undefined) conditions.push(`run_id = $${parameters.push(query.runId)}`);
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const rows = (await this.pool.query(`SELECT * FROM approvals ${where} ORDER BY created_at DESC, id DESC LIMIT $${parameters.push(query.limit)}`, parameters)).rows as Row[];
    return rows.map(approvalFromRow);
  }

  /**
   * Shared by replicas, so a starting replica cannot tell which pending approvals belong to
   * calls another replica still holds: it abandons only those past their expiry, whose
   * holder (had it lived) would have timed them out.
   */
  async abandonPending(note: string, at: number): Promise<number> {
    const result = await this.pool.query(`UPDATE approvals SET state = 'abandoned', decided_by = 'gateway', note = $1, decided_at = $2
      WHERE state = 'pending' AND expires_at < $2`, [note, at]);
    return result.rowCount ?? 0;
  }

  async putPolicy(policy: ApprovalPolicy, at: number): Promise<void> {
    await this.pool.query(`INSERT INTO approval_policies (scope, tools, timeout_ms, on_deny, webhook, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (scope) DO UPDATE SET tools = excluded.tools, timeout_ms = excluded.timeout_ms, on_deny = excluded.on_deny,
        webhook = excluded.webhook, updated_at = excluded.updated_at`,
    [policy.scope, JSON.stringify(policy.tools), policy.timeoutMs, policy.onDeny, policy.webhook, at]);
  }

  async deletePolicy(scope: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM approval_policies WHERE scope = $1', [scope])).rowCount ?? 0) === 1;
  }

  async listPolicies(): Promise<ApprovalPolicy[]> {
    const rows = (await this.pool.query('SELECT * FROM approval_policies ORDER BY scope')).rows as Row[];
    return rows.map(policyFromRow);
  }
}
