import type pg from 'pg';
import type { Precedent } from '../core/precedents.js';
import type { PrecedentInjectionRecord, PrecedentOccurrence, PrecedentQuery, PrecedentStore } from './precedents.js';
import { precedentFromRow } from './sqlite-precedents.js';
import { stringOrNull } from './sqlite-rows.js';

type Row = Record<string, unknown>;

const COLUMNS = ['id', 'kind', 'pipeline', 'stage', 'model', 'tool', 'contract', 'what', 'evidence', 'signature', 'features',
  'fix', 'fix_source', 'fix_call_id', 'merge_key', 'project', 'count', 'first_seen', 'last_seen', 'retired', 'last_run_id', 'last_call_id', 'created_by', 'updated_at'];
const UPDATED = COLUMNS.filter((column) => column !== 'id' && column !== 'created_by' && column !== 'fix_call_id');

/**
 * Precedents in the shared PostgreSQL ledger (tables from migration 8): the same queries as
 * sqlite-precedents.ts, so every replica records into and reads from one set.
 */
export class PgPrecedentStore implements PrecedentStore {
  constructor(private readonly pool: pg.Pool) {}

  private async rows(sql: string, values: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query(sql, values)).rows as Row[];
  }

  async get(id: string): Promise<Precedent | undefined> {
    const [row] = await this.rows('SELECT * FROM precedents WHERE id = $1', [id]);
    return row && precedentFromRow(row);
  }

  async findByMergeKey(mergeKey: string): Promise<Precedent | undefined> {
    const [row] = await this.rows('SELECT * FROM precedents WHERE merge_key = $1', [mergeKey]);
    return row && precedentFromRow(row);
  }

  async save(precedent: Precedent, fixCallId: string | null = null): Promise<void> {
    const { where } = precedent;
    const values = [precedent.id, precedent.kind, where.pipeline, where.stage, where.model, where.tool, where.contract, precedent.what, precedent.evidence,
      precedent.signature, JSON.stringify(precedent.features), precedent.fix, precedent.fixSource, fixCallId, precedent.mergeKey, precedent.project,
      precedent.count, precedent.firstSeen, precedent.lastSeen, precedent.retired ? 1 : 0, precedent.lastRunId, precedent.lastCallId, precedent.createdBy, Date.now()];
    await this.pool.query(`INSERT INTO precedents (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, index) => `$${index + 1}`).join(', ')})
      ON CONFLICT (id) DO UPDATE SET ${UPDATED.map((column) => `${column} = excluded.${column}`).join(', ')},
        fix_call_id = CASE WHEN excluded.fix_source IS NULL OR excluded.fix_source = 'operator' THEN NULL ELSE COALESCE(excluded.fix_call_id, precedents.fix_call_id) END`,
    values);
  }

  async list(query: PrecedentQuery): Promise<Precedent[]> {
    const conditions: string[] = [];
    const parameters: unknown[] = [];
    if (query.stage !== undefined) conditions.push(`stage = $${parameters.push(query.stage)}`);
    if (query.kind !== undefined) conditions.push(`kind = $${parameters.push(query.kind)}`);
    if (!query.includeRetired) conditions.push('retired = 0');
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const limit = `$${parameters.push(query.limit ?? 1000)}`;
    return (await this.rows(`SELECT * FROM precedents ${where} ORDER BY last_seen DESC, id LIMIT ${limit}`, parameters)).map(precedentFromRow);
  }

  async active(): Promise<Precedent[]> {
    return (await this.rows('SELECT * FROM precedents WHERE retired = 0')).map(precedentFromRow);
  }

  async addOccurrence(occurrence: PrecedentOccurrence): Promise<void> {
    await this.pool.query('INSERT INTO precedent_occurrences (precedent_id, call_id, run_id, at, injected) VALUES ($1, $2, $3, $4, $5)',
      [occurrence.precedentId, occurrence.callId, occurrence.runId, occurrence.at, occurrence.injected ? 1 : 0]);
  }

  async occurrences(precedentId: string): Promise<PrecedentOccurrence[]> {
    const rows = await this.rows('SELECT * FROM precedent_occurrences WHERE precedent_id = $1 ORDER BY at, seq', [precedentId]);
    return rows.map((row) => ({
      precedentId: String(row.precedent_id), callId: stringOrNull(row.call_id), runId: stringOrNull(row.run_id),
      at: Number(row.at), injected: Number(row.injected) === 1,
    }));
  }

  async precedentsOfCall(callId: string): Promise<string[]> {
    return (await this.rows('SELECT DISTINCT precedent_id FROM precedent_occurrences WHERE call_id = $1', [callId])).map((row) => String(row.precedent_id));
  }

  async clearFixFromCall(callId: string): Promise<string[]> {
    const rows = await this.rows(`UPDATE precedents SET fix = NULL, fix_source = NULL, fix_call_id = NULL, updated_at = $1
      WHERE fix_call_id = $2 AND fix_source != 'operator' RETURNING id`, [Date.now(), callId]);
    return rows.map((row) => String(row.id));
  }

  async injections(precedentId: string): Promise<PrecedentInjectionRecord[]> {
    const rows = await this.rows(`SELECT c.id, c.started_at, c.model, c.step, c.contract_verdict, j->>'tokens' AS tokens
      FROM calls c CROSS JOIN LATERAL jsonb_array_elements(c.precedents_injected::jsonb) j
      WHERE c.precedents_injected IS NOT NULL AND j->>'id' = $1
      ORDER BY c.started_at, c.seq`, [precedentId]);
    return rows.map((row) => ({
      callId: String(row.id), at: Number(row.started_at), model: String(row.model), step: stringOrNull(row.step),
      tokens: Number(row.tokens ?? 0), verdict: String(row.contract_verdict ?? 'none'),
    }));
  }

  async changedSince(since: number): Promise<Precedent[]> {
    return (await this.rows('SELECT * FROM precedents WHERE updated_at >= $1', [since])).map(precedentFromRow);
  }

  async callsAtStage(stage: string, since: number, until: number): Promise<number> {
    const [row] = await this.rows('SELECT COUNT(*) AS n FROM calls WHERE step = $1 AND started_at >= $2 AND started_at < $3', [stage, since, until]);
    return Number(row!.n);
  }
}
