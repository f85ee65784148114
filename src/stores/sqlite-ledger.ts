import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type {
  CallRecord, Identity, KeyRecord, LedgerStore, NewKey, NewRun, RunRecord, RunState, SpendQuery, SpendRow, SpendTotals,
} from './ledger.js';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.js';

type Row = Record<string, unknown>;

/**
 * The embedded ledger: SQLite in WAL mode. A committed WAL transaction survives the
 * process being killed, so writing a call's entry before its response's last byte makes
 * the entry durable by the time the agent has its answer. (synchronous=FULL adds an
 * fsync per commit, for power loss too: `durability: 'fsync'`.)
 */
export class SqliteLedger implements LedgerStore {
  private readonly db: Database.Database;
  private readonly insertCall: Database.Statement;
  private readonly selectRunByToken: Database.Statement;
  private readonly selectKeyByToken: Database.Statement;

  constructor(path: string, options: { durability?: 'process' | 'fsync' } = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.durability === 'fsync' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.insertCall = this.db.prepare(`INSERT INTO calls (
      id, run_id, key_id, project, step, agent, provider, model, protocol, stream,
      input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
      cost, estimated, status, http_status, error_code, upstream_request_id, started_at, latency_ms, ttft_ms
    ) VALUES (
      @id, @runId, @keyId, @project, @step, @agent, @provider, @model, @protocol, @stream,
      @inputTokens, @cacheReadTokens, @cacheWriteTokens, @outputTokens, @reasoningTokens,
      @cost, @estimated, @status, @httpStatus, @errorCode, @upstreamRequestId, @startedAt, @latencyMs, @timeToFirstTokenMs
    )`);
    this.selectRunByToken = this.db.prepare('SELECT * FROM runs WHERE token_hash = ?').safeIntegers(true);
    this.selectKeyByToken = this.db.prepare('SELECT * FROM keys WHERE token_hash = ?');
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
    this.db.prepare(`INSERT INTO runs (id, token_hash, name, parent_id, project, state, budget, budget_tokens, max_calls, deadline_at, created_at)
      VALUES (@id, @tokenHash, @name, @parentId, @project, 'running', @budget, @budgetTokens, @maxCalls, @deadlineAt, @createdAt)`).run(run);
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
    this.insertCall.run({ ...call, stream: call.stream ? 1 : 0, estimated: call.estimated ? 1 : 0 });
  }

  async listCalls(runId: string): Promise<CallRecord[]> {
    const statement = this.db.prepare('SELECT * FROM calls WHERE run_id = ? ORDER BY started_at, rowid');
    statement.safeIntegers(true);
    return (statement.all(runId) as Row[]).map(callFromRow);
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
    const conditions: string[] = [];
    const parameters: unknown[] = [];
    if (query.since !== undefined) { conditions.push('started_at >= ?'); parameters.push(query.since); }
    if (query.until !== undefined) { conditions.push('started_at < ?'); parameters.push(query.until); }
    if (query.runId !== undefined) { conditions.push('run_id = ?'); parameters.push(query.runId); }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const statement = this.db.prepare(`SELECT ${GROUP_EXPRESSIONS[query.by]} AS grp, ${TOTALS_COLUMNS}
      FROM calls ${where} GROUP BY grp ORDER BY cost_high DESC, cost_low DESC`);
    statement.safeIntegers(true);
    return (statement.all(...parameters) as Row[]).map((row) => ({
      group: row.grp === null ? null : String(row.grp),
      ...totalsFromRow(row),
    }));
  }

  async close(): Promise<void> {
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
  COUNT(*) AS calls, SUM(estimated) AS estimated_calls`;

function totalsFromRow(row: Row): SpendTotals {
  return {
    cost: BigInt(row.cost_high as bigint) * 1_000_000n + BigInt(row.cost_low as bigint),
    inputTokens: Number(row.input_tokens),
    cacheReadTokens: Number(row.cache_read_tokens),
    cacheWriteTokens: Number(row.cache_write_tokens),
    outputTokens: Number(row.output_tokens),
    calls: Number(row.calls),
    estimatedCalls: Number(row.estimated_calls),
  };
}

const numberOrNull = (value: unknown) => (value === null || value === undefined ? null : Number(value));
const stringOrNull = (value: unknown) => (value === null || value === undefined ? null : String(value));

function runFromRow(row: Row): RunRecord {
  return {
    id: String(row.id),
    name: stringOrNull(row.name),
    parentId: stringOrNull(row.parent_id),
    project: stringOrNull(row.project),
    state: row.state as RunState,
    budget: row.budget === null ? null : BigInt(row.budget as bigint),
    budgetTokens: numberOrNull(row.budget_tokens),
    maxCalls: numberOrNull(row.max_calls),
    deadlineAt: numberOrNull(row.deadline_at),
    createdAt: Number(row.created_at),
    endedAt: numberOrNull(row.ended_at),
  };
}

function keyFromRow(row: Row): KeyRecord {
  return {
    id: String(row.id),
    name: String(row.name),
    project: stringOrNull(row.project),
    createdAt: Number(row.created_at),
    revokedAt: numberOrNull(row.revoked_at),
  };
}

function callFromRow(row: Row): CallRecord {
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
  };
}
