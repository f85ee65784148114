import type Database from 'better-sqlite3';
import type { FeatureValue, FixSource, Precedent, PrecedentKind } from '../core/precedents.js';
import type { PrecedentInjectionRecord, PrecedentOccurrence, PrecedentQuery, PrecedentStore } from './precedents.js';
import { stringOrNull } from './sqlite-rows.js';

type Row = Record<string, unknown>;

/** Precedents in the ledger's SQLite database (tables from migration 8), through its connection. */
export class SqlitePrecedentStore implements PrecedentStore {
  private readonly upsert: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.upsert = db.prepare(`INSERT INTO precedents (id, kind, pipeline, stage, model, tool, contract, what, evidence, signature, features,
        fix, fix_source, fix_call_id, merge_key, project, count, first_seen, last_seen, retired, last_run_id, last_call_id, created_by, updated_at)
      VALUES (@id, @kind, @pipeline, @stage, @model, @tool, @contract, @what, @evidence, @signature, @features,
        @fix, @fixSource, @fixCallId, @mergeKey, @project, @count, @firstSeen, @lastSeen, @retired, @lastRunId, @lastCallId, @createdBy, @updatedAt)
      ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, pipeline = excluded.pipeline, stage = excluded.stage, model = excluded.model,
        tool = excluded.tool, contract = excluded.contract, what = excluded.what, evidence = excluded.evidence, signature = excluded.signature,
        features = excluded.features, fix = excluded.fix, fix_source = excluded.fix_source,
        fix_call_id = CASE WHEN excluded.fix_source IS NULL OR excluded.fix_source = 'operator' THEN NULL ELSE COALESCE(excluded.fix_call_id, precedents.fix_call_id) END,
        merge_key = excluded.merge_key, project = excluded.project, count = excluded.count, first_seen = excluded.first_seen,
        last_seen = excluded.last_seen, retired = excluded.retired, last_run_id = excluded.last_run_id, last_call_id = excluded.last_call_id,
        updated_at = excluded.updated_at`);
  }

  async get(id: string): Promise<Precedent | undefined> {
    const row = this.db.prepare('SELECT * FROM precedents WHERE id = ?').get(id) as Row | undefined;
    return row && precedentFromRow(row);
  }

  async findByMergeKey(mergeKey: string): Promise<Precedent | undefined> {
    const row = this.db.prepare('SELECT * FROM precedents WHERE merge_key = ?').get(mergeKey) as Row | undefined;
    return row && precedentFromRow(row);
  }

  async save(precedent: Precedent, fixCallId: string | null = null): Promise<void> {
    this.upsert.run({
      id: precedent.id, kind: precedent.kind, ...precedent.where, what: precedent.what, evidence: precedent.evidence,
      signature: precedent.signature, features: JSON.stringify(precedent.features), fix: precedent.fix, fixSource: precedent.fixSource,
      fixCallId, mergeKey: precedent.mergeKey, project: precedent.project, count: precedent.count, firstSeen: precedent.firstSeen,
      lastSeen: precedent.lastSeen, retired: precedent.retired ? 1 : 0, lastRunId: precedent.lastRunId, lastCallId: precedent.lastCallId,
      createdBy: precedent.createdBy, updatedAt: Date.now(),
    });
  }

  async list(query: PrecedentQuery): Promise<Precedent[]> {
    const conditions: string[] = [];
    const parameters: unknown[] = [];
    if (query.stage !== undefined) { conditions.push('stage = ?'); parameters.push(query.stage); }
    if (query.kind !== undefined) { conditions.push('kind = ?'); parameters.push(query.kind); }
    if (!query.includeRetired) conditions.push('retired = 0');
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    parameters.push(query.limit ?? 1000);
    return (this.db.prepare(`SELECT * FROM precedents ${where} ORDER BY last_seen DESC, id LIMIT ?`).all(...parameters) as Row[]).map(precedentFromRow);
  }

  async active(): Promise<Precedent[]> {
    return (this.db.prepare('SELECT * FROM precedents WHERE retired = 0').all() as Row[]).map(precedentFromRow);
  }

  async addOccurrence(occurrence: PrecedentOccurrence): Promise<void> {
    this.db.prepare('INSERT INTO precedent_occurrences (precedent_id, call_id, run_id, at, injected) VALUES (?, ?, ?, ?, ?)')
      .run(occurrence.precedentId, occurrence.callId, occurrence.runId, occurrence.at, occurrence.injected ? 1 : 0);
  }

  async occurrences(precedentId: string): Promise<PrecedentOccurrence[]> {
    const rows = this.db.prepare('SELECT * FROM precedent_occurrences WHERE precedent_id = ? ORDER BY at, rowid').all(precedentId) as Row[];
    return rows.map((row) => ({
      precedentId: String(row.precedent_id), callId: stringOrNull(row.call_id), runId: stringOrNull(row.run_id),
      at: Number(row.at), injected: Number(row.injected) === 1,
    }));
  }

  async precedentsOfCall(callId: string): Promise<string[]> {
    const rows = this.db.prepare('SELECT DISTINCT precedent_id FROM precedent_occurrences WHERE call_id = ?').all(callId) as Row[];
    return rows.map((row) => String(row.precedent_id));
  }

  async clearFixFromCall(callId: string): Promise<string[]> {
    const rows = this.db.prepare(`UPDATE precedents SET fix = NULL, fix_source = NULL, fix_call_id = NULL, updated_at = ?
      WHERE fix_call_id = ? AND fix_source != 'operator' RETURNING id`).all(Date.now(), callId) as Row[];
    return rows.map((row) => String(row.id));
  }

  async injections(precedentId: string): Promise<PrecedentInjectionRecord[]> {
    const rows = this.db.prepare(`SELECT c.id, c.started_at, c.model, c.step, c.contract_verdict, json_extract(j.value, '$.tokens') AS tokens
      FROM calls c, json_each(c.precedents_injected) j
      WHERE c.precedents_injected IS NOT NULL AND json_extract(j.value, '$.id') = ?
      ORDER BY c.started_at, c.rowid`).all(precedentId) as Row[];
    return rows.map((row) => ({
      callId: String(row.id), at: Number(row.started_at), model: String(row.model), step: stringOrNull(row.step),
      tokens: Number(row.tokens ?? 0), verdict: String(row.contract_verdict ?? 'none'),
    }));
  }

  async callsAtStage(stage: string, since: number, until: number): Promise<number> {
    const row = this.db.prepare('SELECT COUNT(*) AS n FROM calls WHERE step = ? AND started_at >= ? AND started_at < ?').get(stage, since, until) as Row;
    return Number(row.n);
  }
}

export function precedentFromRow(row: Row): Precedent {
  return {
    id: String(row.id),
    kind: row.kind as PrecedentKind,
    where: {
      pipeline: stringOrNull(row.pipeline), stage: stringOrNull(row.stage), model: stringOrNull(row.model),
      tool: stringOrNull(row.tool), contract: stringOrNull(row.contract),
    },
    what: String(row.what),
    evidence: String(row.evidence),
    signature: String(row.signature),
    features: JSON.parse(String(row.features)) as Record<string, FeatureValue>,
    fix: stringOrNull(row.fix),
    fixSource: stringOrNull(row.fix_source) as FixSource | null,
    mergeKey: String(row.merge_key),
    project: stringOrNull(row.project),
    count: Number(row.count),
    firstSeen: Number(row.first_seen),
    lastSeen: Number(row.last_seen),
    retired: Number(row.retired) === 1,
    lastRunId: stringOrNull(row.last_run_id),
    lastCallId: stringOrNull(row.last_call_id),
    createdBy: String(row.created_by),
  };
}
