import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Amounts, WindowKind } from '../core/budget.js';
import type {
  AuditEntry, BudgetRecord, CallRecord, ContractJudgement, ContractRecord, Identity, KeyRecord, LedgerStore, NewKey, NewRun, OverflowPolicy, PrincipalRecord, ReservationRecord,
  Role, RunRecord, RunState, ScopeRef, SpendQuery, SpendRow, SpendTotals, WasteDimension, WasteRow,
} from './ledger.js';
import { SqliteContractQueries, WASTE_COLUMNS, wastedFromRow } from './sqlite-contracts.js';
import { WalCheckpointer } from './sqlite-checkpointer.js';
import { CALL_COLUMN_NAMES, callValues, RESERVATION_COLUMN_NAMES, reservationValues } from './call-rows.js';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.js';
import { numberOrNull, stringOrNull } from './sqlite-rows.js';
import { callsWhere } from './calls-window.js';

type Row = Record<string, unknown>;

/** An insert bound by position (see call-rows.ts for why). */
function insertSql(table: string, columns: readonly string[]): string {
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`;
}
interface PendingWrite { write: () => void; resolve: () => void; reject: (error: unknown) => void }

/**
 * The embedded ledger: SQLite in WAL mode. A committed WAL transaction survives the
 * process being killed, so writing a call's entry before its response's last byte makes
 * the entry durable by the time the agent has its answer. (synchronous=FULL adds an
 * fsync per commit, for power loss too: `durability: 'fsync'`.)
 */
export class SqliteLedger implements LedgerStore {
  private readonly db: Database.Database;
  /** The connection, for stores that keep their tables in the same file (approvals). */
  get database(): Database.Database { return this.db; }
  private readonly insertCall: Database.Statement;
  private readonly deleteReservation: Database.Statement;
  private readonly insertReservation: Database.Statement;
  private readonly commitBatch: (batch: PendingWrite[]) => void;
  private readonly selectRunByToken: Database.Statement;
  private readonly selectKeyByToken: Database.Statement;
  private readonly contracts: SqliteContractQueries;
  private pendingWrites: PendingWrite[] = [];
  /** Runs WAL checkpoints in a worker thread (none for an in-memory database). */
  readonly checkpointer: WalCheckpointer | undefined;

  constructor(path: string, options: { durability?: 'process' | 'fsync'; onWarning?: (message: string) => void } = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.durability === 'fsync' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    if (path !== ':memory:') {
      this.db.pragma('wal_autocheckpoint = 0');
      // A WAL that grew under a burst is cut back once a checkpoint has emptied it.
      this.db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
      this.checkpointer = new WalCheckpointer(path, {
        fallBack: () => this.db.pragma('wal_autocheckpoint = 1000'),
        // PASSIVE, not RESTART: RESTART waits for readers (another process reading the ledger)
        // on this thread. Once this pass has copied the rest, the next write starts the WAL over.
        restart: () => this.db.pragma('wal_checkpoint(PASSIVE)'),
      }, options.onWarning ?? ((message) => process.emitWarning(message)));
    }
    this.migrate();
    this.insertCall = this.db.prepare(insertSql('calls', CALL_COLUMN_NAMES));
    this.deleteReservation = this.db.prepare('DELETE FROM reservations WHERE id = ?');
    this.insertReservation = this.db.prepare(insertSql('reservations', RESERVATION_COLUMN_NAMES));
    this.commitBatch = this.db.transaction((batch: PendingWrite[]) => {
      for (const pending of batch) pending.write();
    });
    this.selectRunByToken = this.db.prepare('SELECT * FROM runs WHERE token_hash = ?').safeIntegers(true);
    this.selectKeyByToken = this.db.prepare('SELECT * FROM keys WHERE token_hash = ?');
    this.contracts = new SqliteContractQueries(this.db, callFromRow);
  }

  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
    const applied = new Set(
      (this.db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((row) => row.version),
    );
    for (const migration of SQLITE_MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      this.db.transaction(() => {
        this.db.exec(migration.sql);
        this.db.prepare('INSERT INTO schema_migrations VALUES (?, ?)').run(migration.version, Date.now());
      })();
    }
  }

  async createRun(run: NewRun): Promise<RunRecord> {
    this.db.prepare(`INSERT INTO runs (id, token_hash, name, parent_id, key_id, project, state, budget, budget_tokens, max_calls, deadline_at, overflow_policy, created_at)
      VALUES (@id, @tokenHash, @name, @parentId, @keyId, @project, 'running', @budget, @budgetTokens, @maxCalls, @deadlineAt, @overflowPolicy, @createdAt)`).run(run);
    return (await this.getRun(run.id))!;
  }

  async createKey(key: NewKey): Promise<KeyRecord> {
    this.db.prepare('INSERT INTO keys (id, token_hash, name, project, created_at) VALUES (@id, @tokenHash, @name, @project, @createdAt)').run(key);
    return { id: key.id, name: key.name, project: key.project, createdAt: key.createdAt, revokedAt: null };
  }

  async listKeys(): Promise<KeyRecord[]> {
    const rows = this.db.prepare('SELECT id, name, project, created_at, revoked_at FROM keys ORDER BY created_at').all() as Row[];
    return rows.map(keyFromRow);
  }

  async findIdentity(tokenHash: string): Promise<Identity | undefined> {
    const run = this.selectRunByToken.get(tokenHash) as Row | undefined;
    if (run) return { kind: 'run', run: runFromRow(run) };
    const key = this.selectKeyByToken.get(tokenHash) as Row | undefined;
    return key && { kind: 'key', key: keyFromRow(key) };
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const statement = this.db.prepare('SELECT * FROM runs WHERE id = ?');
    statement.safeIntegers(true);
    const row = statement.get(id) as Row | undefined;
    return row && runFromRow(row);
  }

  async listRuns(options: { limit: number; state?: RunState }): Promise<RunRecord[]> {
    const statement = options.state
      ? this.db.prepare('SELECT * FROM runs WHERE state = ? ORDER BY created_at DESC, id DESC LIMIT ?').bind(options.state, options.limit)
      : this.db.prepare('SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT ?').bind(options.limit);
    statement.safeIntegers(true);
    return (statement.all() as Row[]).map(runFromRow);
  }

  async recordCall(call: CallRecord): Promise<void> {
    const values = callValues(call);
    // Not a transaction of its own: inside the group commit's, a nested one is a savepoint,
    // which cost more than the two statements. A batch that fails is retried write by write.
    return this.commitSoon(() => {
      this.insertCall.run(values);
      this.deleteReservation.run(call.id);
    });
  }

  /**
   * Group commit: writes that arrive in the same turn of the event loop share one
   * transaction (one WAL append), and each caller is answered only after that commit.
   * Under concurrency this turns N commits into one; alone, a call waits one loop turn.
   */
  private commitSoon(write: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pendingWrites.push({ write, resolve, reject });
      if (this.pendingWrites.length === 1) setImmediate(() => this.flushWrites());
    });
  }

  private flushWrites(): void {
    const batch = this.pendingWrites;
    this.pendingWrites = [];
    if (batch.length === 0) return;
    try {
      this.commitBatch(batch);
      this.checkpointer?.noteCommit();
      for (const pending of batch) pending.resolve();
    } catch {
      // One bad write must not sink the others: retry each alone, failing only its caller.
      for (const pending of batch) {
        try {
          this.db.transaction(pending.write)();
          this.checkpointer?.noteCommit();
          pending.resolve();
        } catch (error) {
          pending.reject(error);
        }
      }
    }
  }

  async setRunState(id: string, state: RunState, reason: string | null, at: number): Promise<void> {
    const ended = state === 'running' || state === 'paused' ? null : at;
    this.db.prepare('UPDATE runs SET state = ?, ended_reason = ?, ended_at = ? WHERE id = ?').run(state, reason, ended, id);
  }

  async listChildRuns(parentId: string): Promise<RunRecord[]> {
    const statement = this.db.prepare('SELECT * FROM runs WHERE parent_id = ? ORDER BY created_at').safeIntegers(true);
    return (statement.all(parentId) as Row[]).map(runFromRow);
  }

  async spentInScope(scope: ScopeRef, since: number): Promise<Amounts> {
    const sums = `SUM(cost / 1000000) AS cost_high, SUM(cost % 1000000) AS cost_low,
      SUM(input_tokens + cache_read_tokens + cache_write_tokens + output_tokens) AS tokens, COUNT(*) AS calls`;
    const sql = scope.kind === 'run'
      ? `WITH RECURSIVE tree(id) AS (SELECT @id UNION ALL SELECT r.id FROM runs r JOIN tree t ON r.parent_id = t.id)
         SELECT ${sums} FROM calls WHERE run_id IN (SELECT id FROM tree) AND started_at >= @since`
      : `SELECT ${sums} FROM calls WHERE ${scope.kind === 'key' ? 'key_id' : 'project'} = @id AND started_at >= @since`;
    const row = this.db.prepare(sql).safeIntegers(true).get({ id: scope.id, since }) as Row;
    return {
      money: BigInt((row.cost_high as bigint | null) ?? 0n) * 1_000_000n + BigInt((row.cost_low as bigint | null) ?? 0n),
      tokens: Number(row.tokens ?? 0),
      calls: Number(row.calls ?? 0),
    };
  }

  async putReservation(reservation: ReservationRecord): Promise<void> {
    const values = reservationValues(reservation);
    return this.commitSoon(() => this.insertReservation.run(values));
  }

  async listReservations(): Promise<ReservationRecord[]> {
    const rows = this.db.prepare('SELECT * FROM reservations ORDER BY created_at').safeIntegers(true).all() as Row[];
    return rows.map((row) => ({
      ...attributionFromRow(row),
      promptTokens: Number(row.prompt_tokens),
      reserved: BigInt(row.reserved as bigint),
      createdAt: Number(row.created_at),
    }));
  }

  async putBudget(budget: BudgetRecord): Promise<void> {
    this.db.prepare(`INSERT INTO budgets (scope, money, tokens, calls, window, soft_threshold, webhook, updated_at)
      VALUES (@scope, @money, @tokens, @calls, @window, @softThreshold, @webhook, @updatedAt)
      ON CONFLICT(scope) DO UPDATE SET money = excluded.money, tokens = excluded.tokens, calls = excluded.calls,
        window = excluded.window, soft_threshold = excluded.soft_threshold, webhook = excluded.webhook, updated_at = excluded.updated_at`).run(budget);
  }

  async listBudgets(): Promise<BudgetRecord[]> {
    const rows = this.db.prepare('SELECT * FROM budgets ORDER BY scope').safeIntegers(true).all() as Row[];
    return rows.map((row) => ({
      scope: String(row.scope),
      money: row.money === null ? null : BigInt(row.money as bigint),
      tokens: numberOrNull(row.tokens),
      calls: numberOrNull(row.calls),
      window: String(row.window) as WindowKind,
      softThreshold: numberOrNull(row.soft_threshold),
      webhook: stringOrNull(row.webhook),
      updatedAt: Number(row.updated_at),
    }));
  }

  async createPrincipal(principal: PrincipalRecord & { tokenHash: string }): Promise<void> {
    this.db.prepare(`INSERT INTO principals (id, token_hash, name, role, projects, created_at, revoked_at)
      VALUES (@id, @tokenHash, @name, @role, @projects, @createdAt, @revokedAt)`)
      .run({ ...principal, projects: principal.projects === null ? null : JSON.stringify(principal.projects) });
  }

  async findPrincipal(tokenHash: string): Promise<PrincipalRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM principals WHERE token_hash = ?').get(tokenHash) as Row | undefined;
    return row && principalFromRow(row);
  }

  async listPrincipals(): Promise<PrincipalRecord[]> {
    return (this.db.prepare('SELECT * FROM principals ORDER BY created_at').all() as Row[]).map(principalFromRow);
  }

  async recordAudit(entry: AuditEntry): Promise<void> {
    this.db.prepare('INSERT INTO audit (at, actor, role, action, run_id, target, note) VALUES (@at, @actor, @role, @action, @runId, @target, @note)').run(entry);
  }

  async listAudit(query: { runId?: string; limit: number }): Promise<AuditEntry[]> {
    const rows = (query.runId === undefined
      ? this.db.prepare('SELECT * FROM audit ORDER BY id DESC LIMIT ?').all(query.limit)
      : this.db.prepare('SELECT * FROM audit WHERE run_id = ? ORDER BY id DESC LIMIT ?').all(query.runId, query.limit)) as Row[];
    return rows.map((row) => ({
      at: Number(row.at), actor: String(row.actor), role: row.role as Role, action: String(row.action),
      runId: stringOrNull(row.run_id), target: stringOrNull(row.target), note: stringOrNull(row.note),
    }));
  }

  async markThresholdFired(scope: string, windowStart: number, at: number): Promise<boolean> {
    const result = this.db.prepare('INSERT OR IGNORE INTO thresholds_fired (scope, window_start, fired_at) VALUES (?, ?, ?)').run(scope, windowStart, at);
    return result.changes === 1;
  }

  async listCalls(runId: string): Promise<CallRecord[]> {
    const statement = this.db.prepare('SELECT * FROM calls WHERE run_id = ? ORDER BY started_at, rowid');
    statement.safeIntegers(true);
    return (statement.all(runId) as Row[]).map(callFromRow);
  }

  async routingEvidence(limit: number): Promise<CallRecord[]> {
    const statement = this.db.prepare(`SELECT * FROM calls
      WHERE status = 'ok' AND (route_policy IS NOT NULL OR (contract_verdict != 'none' AND step IS NOT NULL))
      ORDER BY started_at DESC, rowid DESC LIMIT ?`);
    statement.safeIntegers(true);
    return (statement.all(limit) as Row[]).map(callFromRow).reverse();
  }

  async lastModel(runId: string): Promise<string | null> {
    const row = this.db.prepare('SELECT model FROM calls WHERE run_id = ? ORDER BY started_at DESC, rowid DESC LIMIT 1').get(runId) as Row | undefined;
    return row ? String(row.model) : null;
  }

  async runTotals(runIds: string[]): Promise<Map<string, SpendTotals>> {
    const totals = new Map<string, SpendTotals>();
    if (runIds.length === 0) return totals;
    const statement = this.db.prepare(`SELECT run_id AS grp, ${TOTALS_COLUMNS} FROM calls
      WHERE run_id IN (SELECT value FROM json_each(?)) GROUP BY run_id`);
    statement.safeIntegers(true);
    for (const row of statement.all(JSON.stringify(runIds)) as Row[]) totals.set(String(row.grp), totalsFromRow(row));
    return totals;
  }

  async spend(query: SpendQuery): Promise<SpendRow[]> {
    const { where, parameters } = callsWhere(query, 'sqlite');
    const statement = this.db.prepare(`SELECT ${GROUP_EXPRESSIONS[query.by]} AS grp, ${TOTALS_COLUMNS}
      FROM calls ${where} GROUP BY grp ORDER BY cost_high DESC, cost_low DESC`);
    statement.safeIntegers(true);
    return (statement.all(...parameters) as Row[]).map((row) => ({
      group: row.grp === null ? null : String(row.grp),
      ...totalsFromRow(row),
    }));
  }

  // Output contracts: the queries live in sqlite-contracts.ts.
  async getCall(id: string): Promise<CallRecord | undefined> {
    this.flushWrites();
    return this.contracts.getCall(id);
  }

  async recordVerdict(callId: string, judgement: ContractJudgement): Promise<CallRecord | undefined> {
    this.flushWrites();
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
    this.flushWrites();
    await this.checkpointer?.close();
    this.db.close();
  }
}

const GROUP_EXPRESSIONS: Record<SpendQuery['by'], string> = {
  model: 'model',
  key: 'key_id',
  run: 'run_id',
  project: 'project',
  step: 'step',
  provider: 'provider',
  day: "strftime('%Y-%m-%d', started_at / 1000, 'unixepoch')",
};

// Summing high and low parts separately keeps the total exact far past SQLite's 64-bit
// integer range ($9.2M in pico-dollars), where a plain SUM would overflow.
const TOTALS_COLUMNS = `SUM(cost / 1000000) AS cost_high, SUM(cost % 1000000) AS cost_low,
  SUM(input_tokens) AS input_tokens, SUM(cache_read_tokens) AS cache_read_tokens,
  SUM(cache_write_tokens) AS cache_write_tokens, SUM(output_tokens) AS output_tokens,
  COUNT(*) AS calls, SUM(estimated) AS estimated_calls, ${WASTE_COLUMNS}`;

export function totalsFromRow(row: Row): SpendTotals {
  return {
    cost: BigInt(row.cost_high as bigint) * 1_000_000n + BigInt(row.cost_low as bigint),
    inputTokens: Number(row.input_tokens),
    cacheReadTokens: Number(row.cache_read_tokens),
    cacheWriteTokens: Number(row.cache_write_tokens),
    outputTokens: Number(row.output_tokens),
    calls: Number(row.calls),
    estimatedCalls: Number(row.estimated_calls),
    wasted: wastedFromRow(row),
  };
}


export function runFromRow(row: Row): RunRecord {
  return {
    id: String(row.id),
    name: stringOrNull(row.name),
    parentId: stringOrNull(row.parent_id),
    keyId: stringOrNull(row.key_id),
    project: stringOrNull(row.project),
    state: row.state as RunState,
    budget: row.budget === null ? null : BigInt(row.budget as bigint),
    budgetTokens: numberOrNull(row.budget_tokens),
    maxCalls: numberOrNull(row.max_calls),
    deadlineAt: numberOrNull(row.deadline_at),
    overflowPolicy: (stringOrNull(row.overflow_policy) ?? 'clamp') as OverflowPolicy,
    createdAt: Number(row.created_at),
    endedAt: numberOrNull(row.ended_at),
    endedReason: stringOrNull(row.ended_reason),
  };
}

export function principalFromRow(row: Row): PrincipalRecord {
  return {
    id: String(row.id),
    name: String(row.name),
    role: row.role as Role,
    projects: row.projects === null ? null : (JSON.parse(String(row.projects)) as string[]),
    createdAt: Number(row.created_at),
    revokedAt: numberOrNull(row.revoked_at),
  };
}

export function keyFromRow(row: Row): KeyRecord {
  return {
    id: String(row.id),
    name: String(row.name),
    project: stringOrNull(row.project),
    createdAt: Number(row.created_at),
    revokedAt: numberOrNull(row.revoked_at),
  };
}

/** Who made a call and where it went: shared by call entries and reservations. */
export function attributionFromRow(row: Row) {
  return {
    id: String(row.id),
    runId: stringOrNull(row.run_id),
    keyId: stringOrNull(row.key_id),
    project: stringOrNull(row.project),
    step: stringOrNull(row.step),
    agent: stringOrNull(row.agent),
    provider: String(row.provider),
    model: String(row.model),
    protocol: row.protocol as CallRecord['protocol'],
    stream: Number(row.stream) === 1,
  };
}

export function callFromRow(row: Row): CallRecord {
  return {
    ...attributionFromRow(row),
    inputTokens: Number(row.input_tokens),
    cacheReadTokens: Number(row.cache_read_tokens),
    cacheWriteTokens: Number(row.cache_write_tokens),
    outputTokens: Number(row.output_tokens),
    reasoningTokens: Number(row.reasoning_tokens),
    cost: BigInt(row.cost as bigint),
    estimated: Number(row.estimated) === 1,
    status: row.status as CallRecord['status'],
    httpStatus: Number(row.http_status),
    errorCode: stringOrNull(row.error_code),
    upstreamRequestId: stringOrNull(row.upstream_request_id),
    startedAt: Number(row.started_at),
    latencyMs: Number(row.latency_ms),
    timeToFirstTokenMs: numberOrNull(row.ttft_ms),
    routePolicy: stringOrNull(row.route_policy),
    contractVerdict: (stringOrNull(row.contract_verdict) ?? 'none') as CallRecord['contractVerdict'],
    contractName: stringOrNull(row.contract_name),
    contractVersion: numberOrNull(row.contract_version),
    contractViolation: stringOrNull(row.contract_violation),
    attempt: Number(row.attempt ?? 1),
    retryOf: stringOrNull(row.retry_of),
    precedentsInjected: row.precedents_injected === null || row.precedents_injected === undefined
      ? null : (JSON.parse(String(row.precedents_injected)) as CallRecord['precedentsInjected']),
    precedentTokens: Number(row.precedent_tokens ?? 0),
  };
}
