import type pg from 'pg';
import { BUCKET_MS, GROUP, type SeriesBucket, type SeriesDimension, type SeriesPoint } from './sqlite-spend-series.js';

type Row = Record<string, unknown>;

/** The dashboard's spend over time on the PostgreSQL ledger: the same buckets and groups as sqlite-spend-series.ts. */
export async function pgSpendSeries(pool: pg.Pool, query: { by: SeriesDimension; bucket: SeriesBucket; since: number; projects: string[] | null }): Promise<SeriesPoint[]> {
  const parameters: unknown[] = [BUCKET_MS[query.bucket], Math.trunc(query.since)];
  const projectFilter = query.projects === null ? '' : `AND project = ANY($${parameters.push(query.projects)})`;
  const rows = (await pool.query(`SELECT (started_at / $1::bigint) * $1::bigint AS at, ${GROUP[query.by]} AS grp, SUM(cost) AS cost, COUNT(*) AS calls
    FROM calls WHERE started_at >= $2 ${projectFilter}
    GROUP BY 1, 2 ORDER BY 1, 2`, parameters)).rows as Row[];
  return rows.map((row) => ({
    at: Number(row.at),
    group: row.grp === null ? null : String(row.grp),
    cost: BigInt(String(row.cost)),
    calls: Number(row.calls),
  }));
}

/** Spend per bucket of every key and project since a time (burn-rate baselines), as burnHistory on SQLite. */
export async function pgBurnHistory(pool: pg.Pool, since: number, bucketMs: number): Promise<{ scope: string; project: string | null; at: number; usd: number }[]> {
  const rows = (await pool.query(`SELECT (started_at / $1::bigint) * $1::bigint AS at, scope, project, SUM(cost) AS cost FROM (
      SELECT started_at, cost, project, 'key:' || COALESCE(key_id, (SELECT runs.key_id FROM runs WHERE runs.id = calls.run_id)) AS scope FROM calls WHERE started_at >= $2
      UNION ALL
      SELECT started_at, cost, project, 'project:' || project AS scope FROM calls WHERE started_at >= $2
    ) spans WHERE scope IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1`, [bucketMs, Math.trunc(since)])).rows as Row[];
  return rows.map((row) => ({
    scope: String(row.scope),
    project: row.project === null ? null : String(row.project),
    at: Number(row.at),
    usd: Number(String(row.cost)) / 1e12,
  }));
}
