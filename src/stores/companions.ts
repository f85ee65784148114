import type { ApprovalStore } from './approvals.js';
import type { ForecastStore } from './forecasts.js';
import type { LedgerStore } from './ledger.js';
import type { PrecedentStore } from './precedents.js';
import { PgPrecedentStore } from './pg-precedents.js';
import { SqlitePrecedentStore } from './sqlite-precedents.js';
import { PgApprovalStore } from './pg-approvals.js';
import { PgForecastStore } from './pg-forecasts.js';
import { PgLedger } from './pg-ledger.js';
import { pgBurnHistory, pgSpendSeries } from './pg-spend-series.js';
import { SqliteApprovalStore } from './sqlite-approvals.js';
import { SqliteForecastStore } from './sqlite-forecasts.js';
import { SqliteLedger } from './sqlite-ledger.js';
import { burnHistory, spendSeries, type SeriesBucket, type SeriesDimension, type SeriesPoint } from './sqlite-spend-series.js';

/**
 * The stores and queries that keep their tables in the ledger's own database (approvals,
 * forecast history, precedents, the dashboard's time series), on whichever ledger the gateway opened:
 * SQLite through its connection, PostgreSQL through its pool.
 */
function backend(ledger: LedgerStore): { kind: 'pg'; ledger: PgLedger } | { kind: 'sqlite'; ledger: SqliteLedger } {
  if (ledger instanceof PgLedger) return { kind: 'pg', ledger };
  if (ledger instanceof SqliteLedger) return { kind: 'sqlite', ledger };
  throw new Error('the ledger must be the SQLite or the PostgreSQL one');
}

export function approvalStoreFor(ledger: LedgerStore): ApprovalStore {
  const side = backend(ledger);
  return side.kind === 'pg' ? new PgApprovalStore(side.ledger.pool) : new SqliteApprovalStore(side.ledger.database);
}

export function forecastStoreFor(ledger: LedgerStore): ForecastStore {
  const side = backend(ledger);
  return side.kind === 'pg' ? new PgForecastStore(side.ledger.pool) : new SqliteForecastStore(side.ledger.database);
}

export function precedentStoreFor(ledger: LedgerStore): PrecedentStore {
  const side = backend(ledger);
  return side.kind === 'pg' ? new PgPrecedentStore(side.ledger.pool) : new SqlitePrecedentStore(side.ledger.database);
}

export async function spendSeriesOf(ledger: LedgerStore, query: { by: SeriesDimension; bucket: SeriesBucket; since: number; projects: string[] | null }): Promise<SeriesPoint[]> {
  const side = backend(ledger);
  return side.kind === 'pg' ? pgSpendSeries(side.ledger.pool, query) : spendSeries(side.ledger.database, query);
}

export async function burnHistoryOf(ledger: LedgerStore, since: number, bucketMs: number): Promise<{ scope: string; project: string | null; at: number; usd: number }[]> {
  const side = backend(ledger);
  return side.kind === 'pg' ? pgBurnHistory(side.ledger.pool, since, bucketMs) : burnHistory(side.ledger.database, since, bucketMs);
}
