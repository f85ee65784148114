import type Database from 'better-sqlite3';
import type { Money } from '../core/money.js';

export type SeriesDimension = 'model' | 'key' | 'project' | 'provider';
export type SeriesBucket = 'hour' | 'day';

export interface SeriesPoint {
  /** Bucket start, epoch ms (UTC hours and days). */
  at: number;
  group: string | null;
  cost: Money;
  calls: number;
}

export const BUCKET_MS: Record<SeriesBucket, number> = { hour: 3_600_000, day: 86_400_000 };

/** How each dimension groups calls: the same SQL on both engines. */
export const GROUP: Record<SeriesDimension, string> = {
  model: 'model',
  provider: 'provider',
  project: 'project',
  // A run's calls carry no key of their own: they count under the key the run was started with.
  key: 'COALESCE(key_id, (SELECT runs.key_id FROM runs WHERE runs.id = calls.run_id))',
};

/** Spend over time, per bucket and group, for the dashboard's charts; optionally only some projects. */
export function spendSeries(db: Database.Database, query: { by: SeriesDimension; bucket: SeriesBucket; since: number; projects: string[] | null }): SeriesPoint[] {
  const size = BUCKET_MS[query.bucket];
  const projectFilter = query.projects === null ? '' : 'AND project IN (SELECT value FROM json_each(@projects))';
  const statement = db.prepare(`SELECT (started_at / @size) * @size AS at, ${GROUP[query.by]} AS grp,
      SUM(cost / 1000000) AS cost_high, SUM(cost % 1000000) AS cost_low, COUNT(*) AS calls
    FROM calls WHERE started_at >= @since ${projectFilter}
    GROUP BY at, grp ORDER BY at, grp`);
  statement.safeIntegers(true);
  const rows = statement.all({ size: BigInt(size), since: BigInt(Math.trunc(query.since)), ...(query.projects === null ? {} : { projects: JSON.stringify(query.projects) }) }) as Record<string, unknown>[];
  return rows.map((row) => ({
    at: Number(row.at),
    group: row.grp === null ? null : String(row.grp),
    cost: BigInt(row.cost_high as bigint) * 1_000_000n + BigInt(row.cost_low as bigint),
    calls: Number(row.calls),
  }));
}

/** Spend per bucket of every key and project since a time: the history burn-rate baselines start from. */
export function burnHistory(db: Database.Database, since: number, bucketMs: number): { scope: string; project: string | null; at: number; usd: number }[] {
  const statement = db.prepare(`SELECT (started_at / @size) * @size AS at, scope, project, SUM(cost) AS cost FROM (
      SELECT started_at, cost, project, 'key:' || COALESCE(key_id, (SELECT runs.key_id FROM runs WHERE runs.id = calls.run_id)) AS scope FROM calls WHERE started_at >= @since
      UNION ALL
      SELECT started_at, cost, project, 'project:' || project AS scope FROM calls WHERE started_at >= @since
    ) WHERE scope IS NOT NULL GROUP BY at, scope, project ORDER BY at`);
  statement.safeIntegers(true);
  const rows = statement.all({ size: BigInt(bucketMs), since: BigInt(Math.trunc(since)) }) as Record<string, unknown>[];
  return rows.map((row) => ({
    scope: String(row.scope),
    project: row.project === null ? null : String(row.project),
    at: Number(row.at),
    usd: Number(row.cost as bigint) / 1e12,
  }));
}
