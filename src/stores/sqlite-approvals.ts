import type Database from 'better-sqlite3';
import type { ApprovalPolicy, DenyAction } from '../core/tool-policy.js';
import type { ApprovalQuery, ApprovalRecord, ApprovalState, ApprovalStore } from './approvals.js';
import { stringOrNull } from './sqlite-rows.js';

type Row = Record<string, unknown>;

/**
 * Approvals in the ledger's SQLite database (tables from migration 3), through the
 * ledger's own connection so they share its WAL and durability.
 */
export class SqliteApprovalStore implements ApprovalStore {
  private readonly insertStatement: Database.Statement;
  private readonly decideStatement: Database.Statement;
  private readonly getStatement: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.insertStatement = db.prepare(`INSERT INTO approvals
      (id, run_id, call_id, tool_call_id, tool, arguments, protocol, model, state, created_at, expires_at, decided_by, note, decided_at)
      VALUES (@id, @runId, @callId, @toolCallId, @tool, @arguments, @protocol, @model, @state, @createdAt, @expiresAt, @decidedBy, @note, @decidedAt)`);
    // Only a pending approval can be decided: of two deciders racing, exactly one wins.
    this.decideStatement = db.prepare(`UPDATE approvals SET state = @state, decided_by = @decidedBy, note = @note, decided_at = @at
      WHERE id = @id AND state = 'pending'`);
    this.getStatement = db.prepare('SELECT * FROM approvals WHERE id = ?');
  }

  async insert(approval: ApprovalRecord): Promise<void> {
    this.insertStatement.run(approval);
  }

  async decide(id: string, decision: { state: Exclude<ApprovalState, 'pending'>; decidedBy: string; note: string | null; at: number }): Promise<ApprovalRecord | undefined> {
    if (this.decideStatement.run({ id, ...decision }).changes !== 1) return undefined;
    return this.get(id);
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    const row = this.getStatement.get(id) as Row | undefined;
    return row && approvalFromRow(row);
  }

  async list(query: ApprovalQuery): Promise<ApprovalRecord[]> {
    const conditions: string[] = [];
    const parameters: unknown[] = [];
    if (query.state !== undefined) { conditions.push('state = ?'); parameters.push(query.state); }
    if (query.runId !== undefined) { conditions.push('run_id = ?'); parameters.push(query.runId); }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const rows = this.db.prepare(`SELECT * FROM approvals ${where} ORDER BY created_at DESC, rowid DESC LIMIT ?`).all(...parameters, query.limit) as Row[];
    return rows.map(approvalFromRow);
  }

  async abandonPending(note: string, at: number): Promise<number> {
    return this.db.prepare(`UPDATE approvals SET state = 'abandoned', decided_by = 'gateway', note = ?, decided_at = ? WHERE state = 'pending'`)
      .run(note, at).changes;
  }

  async putPolicy(policy: ApprovalPolicy, at: number): Promise<void> {
    this.db.prepare(`INSERT INTO approval_policies (scope, tools, timeout_ms, on_deny, webhook, updated_at)
      VALUES (@scope, @tools, @timeoutMs, @onDeny, @webhook, @at)
      ON CONFLICT(scope) DO UPDATE SET tools = excluded.tools, timeout_ms = excluded.timeout_ms, on_deny = excluded.on_deny,
        webhook = excluded.webhook, updated_at = excluded.updated_at`).run({ ...policy, tools: JSON.stringify(policy.tools), at });
  }

  async deletePolicy(scope: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM approval_policies WHERE scope = ?').run(scope).changes === 1;
  }

  async listPolicies(): Promise<ApprovalPolicy[]> {
    const rows = this.db.prepare('SELECT * FROM approval_policies ORDER BY scope').all() as Row[];
    return rows.map(policyFromRow);
  }
}


export function approvalFromRow(row: Row): ApprovalRecord {
  return {
    id: String(row.id),
    runId: stringOrNull(row.run_id),
    callId: String(row.call_id),
    toolCallId: stringOrNull(row.tool_call_id),
    tool: String(row.tool),
    arguments: String(row.arguments),
    protocol: row.protocol as ApprovalRecord['protocol'],
    model: String(row.model),
    state: row.state as ApprovalState,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    decidedBy: stringOrNull(row.decided_by),
    note: stringOrNull(row.note),
    decidedAt: row.decided_at === null ? null : Number(row.decided_at),
  };
}

/** An approval_policies row, as either engine returns it. */
export function policyFromRow(row: Row): ApprovalPolicy {
  return {
    scope: String(row.scope),
    tools: JSON.parse(String(row.tools)) as string[],
    timeoutMs: row.timeout_ms === null ? null : Number(row.timeout_ms),
    onDeny: row.on_deny === null ? null : (String(row.on_deny) as DenyAction),
    webhook: row.webhook === null ? null : String(row.webhook),
  };
}
