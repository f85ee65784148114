import pg from 'pg';
import type { Amounts, WindowKind } from '../core/budget.js';
import { GatewayError } from '../protocols/errors.js';
import type {
  AuditEntry, BudgetRecord, CallRecord, ContractJudgement, ContractRecord, Identity, KeyRecord, LedgerStore, NewKey, NewRun, PrincipalRecord,
  ReservationRecord, Role, RunRecord, RunState, ScopeRef, SpendQuery, SpendRow, SpendTotals, WasteDimension, WasteRow,
} from './ledger.js';
import { CALL_COLUMN_NAMES, callValues, RESERVATION_COLUMN_NAMES, reservationValues } from './call-rows.js';
import { PgContractQueries, WASTED_SUM } from './pg-contracts.js';
import { PG_MIGRATIONS } from './pg-migrations.js';
import { redactUrl } from './redis-budget-store.js';
import { attributionFromRow, callFromRow, keyFromRow, principalFromRow, runFromRow, totalsFromRow } from './sqlite-ledger.js';
import { numberOrNull, stringOrNull } from './sqlite-rows.js';
import { callsWhere } from './calls-window.js';

type Row = Record<string, unknown>;

const placeholders = (count: number) => Array.from({ length: count }, (_, index) => `$${index + 1}`).join(', ');

// Exact sums: NUMERIC split into micro-dollars and the pico-dollar rest, as the SQLite ledger returns them.
const TOTALS_COLUMNS = `div(SUM(cost), 1000000) AS cost_high, mod(SUM(cost), 1000000) AS cost_low,
  SUM(input_tokens) AS input_tokens, SUM(cache_read_tokens) AS cache_read_tokens,
  SUM(cache_write_tokens) AS cache_write_tokens, SUM(output_tokens) AS output_tokens,
  COUNT(*) AS calls, SUM(estimated) AS estimated_calls,
  div(${WASTED_SUM}, 1000000) AS wasted_high, mod(${WASTED_SUM}, 1000000) AS wasted_low`;

const GROUP_EXPRESSIONS: Record<SpendQuery['by'], string> = {
  model: 'model', key: 'key_id', run: 'run_id', project: 'project', step: 'step', provider: 'provider',
  day: "to_char(to_timestamp(started_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
};

/**
 * The ledger on PostgreSQL, for replicas that share it. `postgres://…?schema=name` keeps
 * the tables in their own schema (created if missing). recordCall commits before it
 * resolves, so an entry survives the gateway (and, with PostgreSQL's defaults, the machine).
 */
export class PgLedger implements LedgerStore {
  /** The connection pool, for stores that keep their tables in the same database (approvals). */
  readonly pool: pg.Pool;
  private readonly schema: string | undefined;
  private readonly contracts = new PgContractQueries({ query: (sql, values) => this.query(sql, values), transaction: (work) => this.transaction(work) });

  private constructor(readonly url: string) {
    const parsed = new URL(url);
    this.schema = parsed.searchParams.get('schema') ?? undefined;
    if (this.schema !== undefined && !/^[a-z_][a-z0-9_]*$/i.test(this.schema)) throw new Error(`invalid schema name in --db: ${this.schema}`);
    parsed.searchParams.delete('schema');
    this.pool = new pg.Pool({
      connectionString: parsed.toString(),
      max: 10,
      connectionTimeoutMillis: 2000,
      options: this.schema ? `-c search_path=${this.schema}` : undefined,
    });
    this.pool.on('error', () => undefined); // an idle connection lost: the next query reconnects
  }

  static async open(url: string): Promise<PgLedger> {
    const ledger = new PgLedger(url);
    await ledger.migrate();
    return ledger;
  }

  private async migrate(): Promise<void> {
    await this.transaction(async (client) => {
      // One replica migrates at a time; the others wait here, then find nothing to do.
      await client.query('SELECT pg_advisory_xact_lock(7461626)');
      if (this.schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
      const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((row) => row.version));
      for (const migration of PG_MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations VALUES ($1, $2)', [migration.version, Date.now()]);
      }
    });
  }

  async createRun(run: NewRun): Promise<RunRecord> {
    await this.query(`INSERT INTO runs (id, token_hash, name, parent_id, key_id, project, state, budget, budget_tokens, max_calls, deadline_at, overflow_policy, created_at)
      VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, $9, $10, $11, $12)`,
    [run.id, run.tokenHash, run.name, run.parentId, run.keyId, run.project, run.budget, run.budgetTokens, run.maxCalls, run.deadlineAt, run.overflowPolicy, run.createdAt]);
    return (await this.getRun(run.id))!;
  }

  async createKey(key: NewKey): Promise<KeyRecord> {
    await this.query('INSERT INTO keys (id, token_hash, name, project, created_at) VALUES ($1, $2, $3, $4, $5)', [key.id, key.tokenHash, key.name, key.project, key.createdAt]);
    return { id: key.id, name: key.name, project: key.project, createdAt: key.createdAt, revokedAt: null };
  }

  async listKeys(): Promise<KeyRecord[]> {
    return (await this.query('SELECT id, name, project, created_at, revoked_at FROM keys ORDER BY created_at')).map(keyFromRow);
  }

  async findIdentity(tokenHash: string): Promise<Identity | undefined> {
    const [run] = await this.query('SELECT * FROM runs WHERE token_hash = $1', [tokenHash]);
    if (run) return { kind: 'run', run: runFromRow(run) };
    const [key] = await this.query('SELECT * FROM keys WHERE token_hash = $1', [tokenHash]);
    return key && { kind: 'key', key: keyFromRow(key) };
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const [row] = await this.query('SELECT * FROM runs WHERE id = $1', [id]);
    return row && runFromRow(row);
  }

  async listRuns(options: { limit: number; state?: RunState }): Promise<RunRecord[]> {
    const rows = options.state
      ? await this.query('SELECT * FROM runs WHERE state = $1 ORDER BY created_at DESC, id DESC LIMIT $2', [options.state, options.limit])
      : await this.query('SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT $1', [options.limit]);
    return rows.map(runFromRow);
  }

  /** The entry and the end of its reservation in one transaction. A second entry for the same call is ignored. */
  async recordCall(call: CallRecord): Promise<void> {
    const values = callValues(call);
    await this.transaction(async (client) => {
      await client.query(`INSERT INTO calls (${CALL_COLUMN_NAMES.join(', ')}) VALUES (${placeholders(CALL_COLUMN_NAMES.length)}) ON CONFLICT (id) DO NOTHING`, values);
      await client.query('DELETE FROM reservations WHERE id = $1', [call.id]);
    });
  }

  async setRunState(id: string, state: RunState, reason: string | null, at: number): Promise<void> {
    const ended = state === 'running' || state === 'paused' ? null : at;
    await this.query('UPDATE runs SET state = $1, ended_reason = $2, ended_at = $3 WHERE id = $4', [state, reason, ended, id]);
  }

  async listChildRuns(parentId: string): Promise<RunRecord[]> {
    return (await this.query('SELECT * FROM runs WHERE parent_id = $1 ORDER BY created_at', [parentId])).map(runFromRow);
  }

  async spentInScope(scope: ScopeRef, since: number): Promise<Amounts> {
    const sums = 'SUM(cost) AS cost, SUM(input_tokens + cache_read_tokens + cache_write_tokens + output_tokens) AS tokens, COUNT(*) AS calls';
    const sql = scope.kind === 'run'
      ? `WITH RECURSIVE tree(id) AS (SELECT $1::text UNION ALL SELECT r.id FROM runs r JOIN tree t ON r.parent_id = t.id)
         SELECT ${sums} FROM calls WHERE run_id IN (SELECT id FROM tree) AND started_at >= $2`
      : `SELECT ${sums} FROM calls WHERE ${scope.kind === 'key' ? 'key_id' : 'project'} = $1 AND started_at >= $2`;
    const [row] = await this.query(sql, [scope.id, since]);
    return { money: BigInt(String(row!.cost ?? '0')), tokens: Number(row!.tokens ?? 0), calls: Number(row!.calls ?? 0) };
  }

  async putReservation(reservation: ReservationRecord): Promise<void> {
    await this.query(`INSERT INTO reservations (${RESERVATION_COLUMN_NAMES.join(', ')}) VALUES (${placeholders(RESERVATION_COLUMN_NAMES.length)})`,
      reservationValues(reservation));
  }

  async listReservations(): Promise<ReservationRecord[]> {
    return (await this.query('SELECT * FROM reservations ORDER BY created_at')).map((row) => ({
      ...attributionFromRow(row),
      promptTokens: Number(row.prompt_tokens),
      reserved: BigInt(String(row.reserved)),
      createdAt: Number(row.created_at),
    }));
  }

  async putBudget(budget: BudgetRecord): Promise<void> {
    await this.query(`INSERT INTO budgets (scope, money, tokens, calls, "window", soft_threshold, webhook, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
      ON CONFLICT (scope) DO UPDATE SET money = excluded.money, tokens = excluded.tokens, calls = excluded.calls,
        "window" = excluded."window", soft_threshold = excluded.soft_threshold, webhook = excluded.webhook, updated_at = excluded.updated_at`,
    [budget.scope, budget.money, budget.tokens, budget.calls, budget.window, budget.softThreshold, budget.webhook, budget.updatedAt]);
  }

  async listBudgets(): Promise<BudgetRecord[]> {
    return (await this.query('SELECT * FROM budgets ORDER BY scope')).map((row) => ({
      scope: String(row.scope),
      money: row.money === null ? null : BigInt(String(row.money)),
      tokens: numberOrNull(row.tokens),
      calls: numberOrNull(row.calls),
      window: String(row.window) as WindowKind,
      softThreshold: numberOrNull(row.soft_threshold),
      webhook: stringOrNull(row.webhook),
      updatedAt: Number(row.updated_at),
    }));
  }

  async createPrincipal(principal: PrincipalRecord & { tokenHash: string }): Promise<void> {
    await this.query('INSERT INTO principals (id, token_hash, name, role, projects, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [principal.id, principal.tokenHash, principal.name, principal.role, principal.projects === null ? null : JSON.stringify(principal.projects), principal.createdAt, principal.revokedAt]);
  }

  async findPrincipal(tokenHash: string): Promise<PrincipalRecord | undefined> {
    const [row] = await this.query('SELECT * FROM principals WHERE token_hash = $1', [tokenHash]);
    return row && principalFromRow(row);
  }

  async listPrincipals(): Promise<PrincipalRecord[]> {
    return (await this.query('SELECT * FROM principals ORDER BY created_at')).map(principalFromRow);
  }

  async recordAudit(entry: AuditEntry): Promise<void> {
    await this.query('INSERT INTO audit (at, actor, role, action, run_id, target, note) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [entry.at, entry.actor, entry.role, entry.action, entry.runId, entry.target, entry.note]);
  }

  async listAudit(query: { runId?: string; limit: number }): Promise<AuditEntry[]> {
    const rows = query.runId === undefined
      ? await this.query('SELECT * FROM audit ORDER BY id DESC LIMIT $1', [query.limit])
      : await this.query('SELECT * FROM audit WHERE run_id = $1 ORDER BY id DESC LIMIT $2', [query.runId, query.limit]);
    return rows.map((row) => ({
      at: Number(row.at), actor: String(row.actor), role: row.role as Role, action: String(row.action),
      runId: stringOrNull(row.run_id), target: stringOrNull(row.target), note: stringOrNull(row.note),
    }));
  }

  async markThresholdFired(scope: string, windowStart: number, at: number): Promise<boolean> {
    const result = await this.pool.query('INSERT INTO thresholds_fired (scope, window_start, fired_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [scope, windowStart, at])
      .catch((error: Error) => { throw ledgerUnavailable(this.url, error); });
    return result.rowCount === 1;
  }

  async listCalls(runId: string): Promise<CallRecord[]> {
    return (await this.query('SELECT * FROM calls WHERE run_id = $1 ORDER BY started_at, seq', [runId])).map(callFromRow);
  }

  async getCall(id: string): Promise<CallRecord | undefined> {
    const [row] = await this.query('SELECT * FROM calls WHERE id = $1', [id]);
    return row && callFromRow(row);
  }

  async routingEvidence(limit: number): Promise<CallRecord[]> {
    const rows = await this.query(`SELECT * FROM calls
      WHERE status = 'ok' AND (route_policy IS NOT NULL OR (contract_verdict != 'none' AND step IS NOT NULL))
      ORDER BY started_at DESC, seq DESC LIMIT $1`, [limit]);
    return rows.map(callFromRow).reverse();
  }

  async lastModel(runId: string): Promise<string | null> {
    const [row] = await this.query('SELECT model FROM calls WHERE run_id = $1 ORDER BY started_at DESC, seq DESC LIMIT 1', [runId]);
    return row ? String(row.model) : null;
  }

  async runTotals(runIds: string[]): Promise<Map<string, SpendTotals>> {
    const totals = new Map<string, SpendTotals>();
    if (runIds.length === 0) return totals;
    const rows = await this.query(`SELECT run_id AS grp, ${TOTALS_COLUMNS} FROM calls WHERE run_id = ANY($1) GROUP BY run_id`, [runIds]);
    for (const row of rows) totals.set(String(row.grp), totalsFromRow(row));
    return totals;
  }

  async spend(query: SpendQuery): Promise<SpendRow[]> {
    const { where, parameters } = callsWhere(query, 'postgres');
    const rows = await this.query(`SELECT ${GROUP_EXPRESSIONS[query.by]} AS grp, ${TOTALS_COLUMNS}
      FROM calls ${where} GROUP BY grp ORDER BY SUM(cost) DESC`, parameters);
    return rows.map((row) => ({ group: row.grp === null ? null : String(row.grp), ...totalsFromRow(row) }));
  }

  // Output contracts: the queries live in pg-contracts.ts.
  async recordVerdict(callId: string, judgement: ContractJudgement): Promise<CallRecord | undefined> {
    return this.contracts.recordVerdict(callId, judgement);
  }

  async waste(query: { by: WasteDimension; since?: number; until?: number; runId?: string }): Promise<WasteRow[]> {
    return this.contracts.waste(query);
  }

  async putContract(contract: Omit<ContractRecord, 'version'>): Promise<ContractRecord> {
    return this.contracts.putContract(contract);
  }

  async getContract(name: string, version?: number): Promise<ContractRecord | undefined> {
    return this.contracts.getContract(name, version);
  }

  async listContracts(): Promise<ContractRecord[]> {
    return this.contracts.listContracts();
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async query(sql: string, values: unknown[] = []): Promise<Row[]> {
    try {
      return (await this.pool.query(sql, values)).rows as Row[];
    } catch (error) {
      throw ledgerUnavailable(this.url, error as Error);
    }
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw ledgerUnavailable(this.url, error as Error);
    }
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw ledgerUnavailable(this.url, error as Error);
    } finally {
      client.release();
    }
  }
}

/** A ledger failure: PostgreSQL away (named, non-retryable) or a statement it refused (passed on as is). */
function ledgerUnavailable(url: string, error: Error & { code?: string }): Error {
  if (error instanceof GatewayError) return error;
  // SQLSTATE classes 08 (connection) and 57 (operator intervention, e.g. shutdown), or a socket error.
  const unreachable = !error.code || /^(08|57)/.test(error.code) || /^E[A-Z]+$/.test(error.code);
  if (!unreachable) return error;
  return new GatewayError('ledger_unavailable', 'internal',
    `the ledger (PostgreSQL at ${redactUrl(url)}) is unreachable (${error.message}); calls are refused until it is back`, { status: 503, retryable: false });
}
