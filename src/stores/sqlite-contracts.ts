import type Database from 'better-sqlite3';
import type { CallRecord, ContractJudgement, ContractRecord, WasteDimension, WasteRow } from './ledger.js';
import { mergeJudgements } from './ledger.js';
import { stringOrNull } from './sqlite-rows.js';
import { callsWhere } from './calls-window.js';

type Row = Record<string, unknown>;

/** The SQLite side of output contracts: verdicts on calls, waste, registered contracts (tables from migration v5). */
export class SqliteContractQueries {
  constructor(private readonly db: Database.Database, private readonly callFromRow: (row: Row) => CallRecord) {}

  async getCall(id: string): Promise<CallRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM calls WHERE id = ?').safeIntegers(true).get(id) as Row | undefined;
    return row && this.callFromRow(row);
  }

  async recordVerdict(callId: string, judgement: ContractJudgement): Promise<CallRecord | undefined> {
    return this.db.transaction(() => {
      const row = this.db.prepare('SELECT * FROM calls WHERE id = ?').safeIntegers(true).get(callId) as Row | undefined;
      if (!row) return undefined;
      const call = this.callFromRow(row);
      const merged = mergeJudgements({
        verdict: call.contractVerdict ?? 'none', name: call.contractName ?? null, version: call.contractVersion ?? null, violation: call.contractViolation ?? null,
      }, judgement);
      this.db.prepare('UPDATE calls SET contract_verdict = ?, contract_name = ?, contract_version = ?, contract_violation = ? WHERE id = ?')
        .run(merged.verdict, merged.name, merged.version, merged.violation, callId);
      return { ...call, contractVerdict: merged.verdict, contractName: merged.name, contractVersion: merged.version, contractViolation: merged.violation };
    })();
  }

  async waste(query: { by: WasteDimension; since?: number; until?: number; runId?: string }): Promise<WasteRow[]> {
    const { where, parameters } = callsWhere(query, 'sqlite');
    const group = WASTE_GROUPS[query.by];
    const statement = this.db.prepare(`SELECT ${group} AS grp, SUM(cost / 1000000) AS cost_high, SUM(cost % 1000000) AS cost_low, ${WASTE_COLUMNS},
        COUNT(*) AS calls, SUM(contract_verdict = 'failed') AS failed_calls, SUM(attempt > 1) AS retries
      FROM calls ${where} GROUP BY grp ORDER BY wasted_high DESC, wasted_low DESC, cost_high DESC, cost_low DESC`);
    statement.safeIntegers(true);
    return (statement.all(...parameters) as Row[]).map((row) => ({
      group: row.grp === null ? null : String(row.grp),
      cost: BigInt(row.cost_high as bigint) * 1_000_000n + BigInt(row.cost_low as bigint),
      wasted: wastedFromRow(row),
      calls: Number(row.calls),
      failedCalls: Number(row.failed_calls),
      retries: Number(row.retries),
    }));
  }

  async putContract(contract: Omit<ContractRecord, 'version'>): Promise<ContractRecord> {
    return this.db.transaction(() => {
      const latest = this.db.prepare('SELECT MAX(version) AS version FROM contracts WHERE name = ?').get(contract.name) as Row;
      const version = Number(latest.version ?? 0) + 1;
      this.db.prepare('INSERT INTO contracts (name, version, schema, description, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)')
        .run(contract.name, version, JSON.stringify(contract.schema), contract.description, contract.createdAt, contract.createdBy);
      return { ...contract, version };
    })();
  }

  async getContract(name: string, version?: number): Promise<ContractRecord | undefined> {
    const row = (version === undefined
      ? this.db.prepare('SELECT * FROM contracts WHERE name = ? ORDER BY version DESC LIMIT 1').get(name)
      : this.db.prepare('SELECT * FROM contracts WHERE name = ? AND version = ?').get(name, version)) as Row | undefined;
    return row && contractFromRow(row);
  }

  async listContracts(): Promise<ContractRecord[]> {
    return (this.db.prepare('SELECT * FROM contracts ORDER BY name, version').all() as Row[]).map(contractFromRow);
  }
}

const WASTE_GROUPS: Record<WasteDimension, string> = {
  stage: 'step',
  model: 'model',
  run: 'run_id',
  day: "strftime('%Y-%m-%d', started_at / 1000, 'unixepoch')",
};

// Split sums, like the spend totals: exact past SQLite's 64-bit range.
export const WASTE_COLUMNS = `SUM(CASE WHEN contract_verdict = 'failed' THEN cost / 1000000 ELSE 0 END) AS wasted_high,
  SUM(CASE WHEN contract_verdict = 'failed' THEN cost % 1000000 ELSE 0 END) AS wasted_low`;

export function wastedFromRow(row: Row): bigint {
  return BigInt((row.wasted_high as bigint | null) ?? 0n) * 1_000_000n + BigInt((row.wasted_low as bigint | null) ?? 0n);
}

/** A contracts row, as either engine returns it. */
export function contractFromRow(row: Row): ContractRecord {
  return {
    name: String(row.name),
    version: Number(row.version),
    schema: JSON.parse(String(row.schema)) as Record<string, unknown>,
    description: stringOrNull(row.description),
    createdAt: Number(row.created_at),
    createdBy: stringOrNull(row.created_by),
  };
}
