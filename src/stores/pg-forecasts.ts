import type pg from 'pg';
import type { HistoryRun } from '../core/forecast-history.js';
import type { ForecastStore, RunTaskRecord } from './forecasts.js';
import { HISTORY_LIMIT, HISTORY_VERSION_SQL, importedRunFromRow, ledgerRunFromRow, runTaskFromRow } from './sqlite-forecasts.js';

type Row = Record<string, unknown>;

const IMPORT_COLUMNS = ['id', 'task_group', 'model', 'input_tokens', 'features', 'used_input_tokens', 'used_output_tokens', 'calls', 'cost_usd', 'outcome', 'finished_at', 'imported_at'];
/** Rows per INSERT of an import: well under PostgreSQL's 65,535 parameters. */
const IMPORT_BATCH = 1000;

/**
 * Forecast history in the shared PostgreSQL ledger (tables from migration 6), the same
 * queries as sqlite-forecasts.ts, so every replica forecasts from the same history.
 * (SQLite sorts NULLs first, PostgreSQL last: descending orders say NULLS LAST to agree.)
 */
export class PgForecastStore implements ForecastStore {
  constructor(private readonly pool: pg.Pool) {}

  async saveRunTask(record: RunTaskRecord): Promise<void> {
    await this.pool.query(`INSERT INTO run_tasks (run_id, task_group, model, input_tokens, features, forecast, created_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7)
      ON CONFLICT (run_id) DO UPDATE SET task_group = excluded.task_group, model = excluded.model, input_tokens = excluded.input_tokens,
        features = excluded.features, forecast = excluded.forecast`, [
      record.runId, record.task.group, record.task.model, record.task.inputTokens, JSON.stringify(record.task.features),
      record.forecast === null ? null : JSON.stringify(record.forecast), record.createdAt,
    ]);
  }

  async getRunTask(runId: string): Promise<RunTaskRecord | undefined> {
    const row = (await this.pool.query('SELECT * FROM run_tasks WHERE run_id = $1', [runId])).rows[0] as Row | undefined;
    return row && runTaskFromRow(row);
  }

  async listRunTasks(runIds: readonly string[]): Promise<Map<string, RunTaskRecord>> {
    const tasks = new Map<string, RunTaskRecord>();
    if (runIds.length === 0) return tasks;
    const rows = (await this.pool.query('SELECT * FROM run_tasks WHERE run_id = ANY($1)', [runIds])).rows as Row[];
    for (const row of rows) tasks.set(String(row.run_id), runTaskFromRow(row));
    return tasks;
  }

  /** All or nothing, like SQLite's: a later line with an id already seen (here or before) replaces it. */
  async importRuns(runs: readonly HistoryRun[], at: number): Promise<{ added: number; replaced: number }> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const known = new Set(((await client.query('SELECT id FROM history_runs WHERE id = ANY($1)', [runs.map((run) => run.id)])).rows as Row[]).map((row) => String(row.id)));
      let replaced = 0;
      const latest = new Map<string, HistoryRun>();
      for (const run of runs) {
        if (known.has(run.id) || latest.has(run.id)) replaced++;
        latest.delete(run.id); // re-inserted below: last one wins
        latest.set(run.id, run);
      }
      const unique = [...latest.values()];
      for (let start = 0; start < unique.length; start += IMPORT_BATCH) {
        const batch = unique.slice(start, start + IMPORT_BATCH);
        const values = batch.flatMap((run) => [
          run.id, run.task.group ?? '(none)', run.task.model, run.task.inputTokens, JSON.stringify(run.task.features),
          run.outcome.inputTokens, run.outcome.outputTokens, run.outcome.calls, run.outcome.costUsd, run.status, run.finishedAt, at,
        ]);
        const tuples = batch.map((_, row) => `(${IMPORT_COLUMNS.map((__, column) => `$${row * IMPORT_COLUMNS.length + column + 1}`).join(', ')})`);
        await client.query(`INSERT INTO history_runs (${IMPORT_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}
          ON CONFLICT (id) DO UPDATE SET ${IMPORT_COLUMNS.slice(1).map((column) => `${column} = excluded.${column}`).join(', ')}`, values);
      }
      await client.query('COMMIT');
      return { added: runs.length - replaced, replaced };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async history(): Promise<HistoryRun[]> {
    // A run's task input size, when it did not declare one, is its first call's prompt.
    const ledgerRows = (await this.pool.query(`
      SELECT r.id, r.name, r.ended_at, t.task_group, t.model AS task_model, t.input_tokens AS task_input, t.features,
        c.cost_high, c.cost_low, c.used_input, c.used_output, c.calls,
        (SELECT input_tokens + cache_read_tokens + cache_write_tokens FROM calls f WHERE f.run_id = r.id ORDER BY started_at, seq LIMIT 1) AS first_prompt,
        (SELECT model FROM calls m WHERE m.run_id = r.id GROUP BY model ORDER BY COUNT(*) DESC, model LIMIT 1) AS top_model
      FROM runs r
      LEFT JOIN (SELECT run_id, div(SUM(cost), 1000000) AS cost_high, mod(SUM(cost), 1000000) AS cost_low,
          SUM(input_tokens + cache_read_tokens + cache_write_tokens) AS used_input, SUM(output_tokens) AS used_output, COUNT(*) AS calls
        FROM calls WHERE run_id IS NOT NULL GROUP BY run_id) c ON c.run_id = r.id
      LEFT JOIN run_tasks t ON t.run_id = r.id
      WHERE r.state = 'completed'
      ORDER BY r.ended_at DESC NULLS LAST, r.id DESC LIMIT $1`, [HISTORY_LIMIT])).rows as Row[];
    const importedRows = (await this.pool.query('SELECT * FROM history_runs ORDER BY finished_at DESC NULLS LAST, imported_at DESC, id LIMIT $1', [HISTORY_LIMIT])).rows as Row[];
    return [...importedRows.map(importedRunFromRow), ...ledgerRows.map(ledgerRunFromRow)];
  }

  async historyVersion(): Promise<string> {
    const row = (await this.pool.query(HISTORY_VERSION_SQL)).rows[0] as Row;
    return [row.completed, row.last_ended, row.tasks, row.imported, row.last_import].join(':');
  }
}
