import type Database from 'better-sqlite3';
import type { Forecast } from '../core/forecast.js';
import type { FeatureValue, HistoryRun } from '../core/forecast-history.js';
import type { ForecastStore, RunTaskRecord } from './forecasts.js';
import { numberOrNull, stringOrNull } from './sqlite-rows.js';

type Row = Record<string, unknown>;

const PICOS_PER_USD = 1e12;

/**
 * The most recent runs of each source the forecaster learns from: recent work is the
 * relevant kind, and a refit stays a few hundred milliseconds of CPU.
 */
export const HISTORY_LIMIT = 20_000;

/**
 * Forecast history in the ledger's SQLite database (tables from migration 6), through
 * the ledger's own connection.
 */
export class SqliteForecastStore implements ForecastStore {
  constructor(private readonly db: Database.Database) {}

  async saveRunTask(record: RunTaskRecord): Promise<void> {
    this.db.prepare(`INSERT INTO run_tasks (run_id, task_group, model, input_tokens, features, forecast, created_at)
      VALUES (@runId, @group, @model, @inputTokens, @features, @forecast, @createdAt)
      ON CONFLICT(run_id) DO UPDATE SET task_group = excluded.task_group, model = excluded.model, input_tokens = excluded.input_tokens,
        features = excluded.features, forecast = excluded.forecast`).run({
      runId: record.runId,
      group: record.task.group,
      model: record.task.model,
      inputTokens: record.task.inputTokens,
      features: JSON.stringify(record.task.features),
      forecast: record.forecast === null ? null : JSON.stringify(record.forecast),
      createdAt: record.createdAt,
    });
  }

  async getRunTask(runId: string): Promise<RunTaskRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM run_tasks WHERE run_id = ?').get(runId) as Row | undefined;
    return row && runTaskFromRow(row);
  }

  async listRunTasks(runIds: readonly string[]): Promise<Map<string, RunTaskRecord>> {
    const tasks = new Map<string, RunTaskRecord>();
    if (runIds.length === 0) return tasks;
    const rows = this.db.prepare('SELECT * FROM run_tasks WHERE run_id IN (SELECT value FROM json_each(?))').all(JSON.stringify(runIds)) as Row[];
    for (const row of rows) tasks.set(String(row.run_id), runTaskFromRow(row));
    return tasks;
  }

  async importRuns(runs: readonly HistoryRun[], at: number): Promise<{ added: number; replaced: number }> {
    const exists = this.db.prepare('SELECT 1 FROM history_runs WHERE id = ?');
    const upsert = this.db.prepare(`INSERT INTO history_runs
      (id, task_group, model, input_tokens, features, used_input_tokens, used_output_tokens, calls, cost_usd, outcome, finished_at, imported_at)
      VALUES (@id, @group, @model, @inputTokens, @features, @usedInput, @usedOutput, @calls, @costUsd, @outcome, @finishedAt, @importedAt)
      ON CONFLICT(id) DO UPDATE SET task_group = excluded.task_group, model = excluded.model, input_tokens = excluded.input_tokens,
        features = excluded.features, used_input_tokens = excluded.used_input_tokens, used_output_tokens = excluded.used_output_tokens,
        calls = excluded.calls, cost_usd = excluded.cost_usd, outcome = excluded.outcome, finished_at = excluded.finished_at,
        imported_at = excluded.imported_at`);
    let replaced = 0;
    this.db.transaction(() => {
      for (const run of runs) {
        if (exists.get(run.id)) replaced++;
        upsert.run({
          id: run.id,
          group: run.task.group ?? '(none)',
          model: run.task.model,
          inputTokens: run.task.inputTokens,
          features: JSON.stringify(run.task.features),
          usedInput: run.outcome.inputTokens,
          usedOutput: run.outcome.outputTokens,
          calls: run.outcome.calls,
          costUsd: run.outcome.costUsd,
          outcome: run.status,
          finishedAt: run.finishedAt,
          importedAt: at,
        });
      }
    })();
    return { added: runs.length - replaced, replaced };
  }

  async history(): Promise<HistoryRun[]> {
    // A run's task input size, when it did not declare one, is its first call's prompt.
    const ledgerRows = this.db.prepare(`
      SELECT r.id, r.name, r.ended_at, t.task_group, t.model AS task_model, t.input_tokens AS task_input, t.features,
        c.cost_high, c.cost_low, c.used_input, c.used_output, c.calls,
        (SELECT input_tokens + cache_read_tokens + cache_write_tokens FROM calls f WHERE f.run_id = r.id ORDER BY started_at, rowid LIMIT 1) AS first_prompt,
        (SELECT model FROM calls m WHERE m.run_id = r.id GROUP BY model ORDER BY COUNT(*) DESC, model LIMIT 1) AS top_model
      FROM runs r
      LEFT JOIN (SELECT run_id, SUM(cost / 1000000) AS cost_high, SUM(cost % 1000000) AS cost_low,
          SUM(input_tokens + cache_read_tokens + cache_write_tokens) AS used_input, SUM(output_tokens) AS used_output, COUNT(*) AS calls
        FROM calls WHERE run_id IS NOT NULL GROUP BY run_id) c ON c.run_id = r.id
      LEFT JOIN run_tasks t ON t.run_id = r.id
      WHERE r.state = 'completed'
      ORDER BY r.ended_at DESC, r.id DESC LIMIT ?`).all(HISTORY_LIMIT) as Row[];
    const ledgerRuns = ledgerRows.map((row): HistoryRun => ({
      id: String(row.id),
      task: {
        group: stringOrNull(row.task_group) ?? stringOrNull(row.name),
        model: stringOrNull(row.task_model) ?? stringOrNull(row.top_model),
        inputTokens: numberOrNull(row.task_input) ?? numberOrNull(row.first_prompt),
        features: row.features === null ? {} : (JSON.parse(String(row.features)) as Record<string, FeatureValue>),
      },
      outcome: {
        costUsd: (Number(row.cost_high ?? 0) * 1_000_000 + Number(row.cost_low ?? 0)) / PICOS_PER_USD,
        inputTokens: Number(row.used_input ?? 0),
        outputTokens: Number(row.used_output ?? 0),
        calls: Number(row.calls ?? 0),
      },
      finishedAt: numberOrNull(row.ended_at),
      status: 'completed',
      source: 'ledger',
    }));
    const importedRows = this.db.prepare('SELECT * FROM history_runs ORDER BY finished_at DESC, imported_at DESC, id LIMIT ?').all(HISTORY_LIMIT) as Row[];
    const imported = importedRows.map((row): HistoryRun => ({
      id: String(row.id),
      task: {
        group: String(row.task_group),
        model: stringOrNull(row.model),
        inputTokens: numberOrNull(row.input_tokens),
        features: JSON.parse(String(row.features)) as Record<string, FeatureValue>,
      },
      outcome: {
        costUsd: Number(row.cost_usd),
        inputTokens: Number(row.used_input_tokens),
        outputTokens: Number(row.used_output_tokens),
        calls: Number(row.calls),
      },
      finishedAt: numberOrNull(row.finished_at),
      status: stringOrNull(row.outcome),
      source: 'import',
    }));
    return [...imported, ...ledgerRuns];
  }

  async historyVersion(): Promise<string> {
    const row = this.db.prepare(`SELECT
      (SELECT COUNT(*) FROM runs WHERE state = 'completed') AS completed,
      (SELECT MAX(ended_at) FROM runs WHERE state = 'completed') AS last_ended,
      (SELECT COUNT(*) FROM run_tasks) AS tasks,
      (SELECT COUNT(*) FROM history_runs) AS imported,
      (SELECT MAX(imported_at) FROM history_runs) AS last_import`).get() as Row;
    return [row.completed, row.last_ended, row.tasks, row.imported, row.last_import].join(':');
  }
}

function runTaskFromRow(row: Row): RunTaskRecord {
  return {
    runId: String(row.run_id),
    task: {
      group: stringOrNull(row.task_group),
      model: stringOrNull(row.model),
      inputTokens: numberOrNull(row.input_tokens),
      features: JSON.parse(String(row.features)) as Record<string, FeatureValue>,
    },
    forecast: row.forecast === null ? null : (JSON.parse(String(row.forecast)) as Forecast),
    createdAt: Number(row.created_at),
  };
}
