import type { Forecast } from '../core/forecast.js';
import type { HistoryRun, TaskFeatures } from '../core/forecast-history.js';

/** What a run was declared to be and what was forecast for it when it was created. */
export interface RunTaskRecord {
  runId: string;
  task: TaskFeatures;
  forecast: Forecast | null;
  createdAt: number;
}

/**
 * History for the forecaster: the ledger's finished runs with their declared tasks, and
 * runs imported from elsewhere.
 */
export interface ForecastStore {
  saveRunTask(record: RunTaskRecord): Promise<void>;
  getRunTask(runId: string): Promise<RunTaskRecord | undefined>;
  /** The tasks of many runs at once (run lists), keyed by run id; runs without one are absent. */
  listRunTasks(runIds: readonly string[]): Promise<Map<string, RunTaskRecord>>;
  /** Adds or replaces (by id) imported runs, all in one transaction. */
  importRuns(runs: readonly HistoryRun[], at: number): Promise<{ added: number; replaced: number }>;
  /** Completed ledger runs (runs that hit a budget are censored, so left out) and imported runs, the most recent of each. */
  history(): Promise<HistoryRun[]>;
  /** Changes whenever history() would: for caching a fitted forecaster. */
  historyVersion(): Promise<string>;
}
