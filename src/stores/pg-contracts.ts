import type pg from 'pg';
import type { CallRecord, ContractJudgement, ContractRecord, WasteDimension, WasteRow } from './ledger.js';
import { mergeJudgements } from './ledger.js';
import { callFromRow } from './sqlite-ledger.js';
import { callsWhere } from './calls-window.js';
import { contractFromRow } from './sqlite-contracts.js';

type Row = Record<string, unknown>;

export interface PgAccess {
  query(sql: string, values?: unknown[]): Promise<Row[]>;
  transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T>;
}

/**
 * The PostgreSQL side of output contracts (tables from migration 5), the same queries as
 * sqlite-contracts.ts. Verdicts merge under a row lock and contract versions are numbered
 * under a per-name advisory lock, so replicas judging or registering at once stay consistent.
 */
export class PgContractQueries {
  constructor(private readonly db: PgAccess) {}

  async recordVerdict(callId: string, judgement: ContractJudgement): Promise<CallRecord | undefined> {
    return this.db.transaction(async (client) => {
      const row = (await client.query('SELECT * FROM calls WHERE id = $1 FOR UPDATE', [callId])).rows[0] as Row | undefined;
      if (!row) return undefined;
      const call = callFromRow(row);
      const merged = mergeJudgements({
        verdict: call.contractVerdict ?? 'none', name: call.contractName ?? null, version: call.contractVersion ?? null, violation: call.contractViolation ?? null,
      }, judgement);
      await client.query('UPDATE calls SET contract_verdict = $1, contract_name = $2, contract_version = $3, contract_violation = $4 WHERE id = $5',
        [merged.verdict, merged.name, merged.version, merged.violation, callId]);
      return { ...call, contractVerdict: merged.verdict, contractName: merged.name, contractVersion: merged.version, contractViolation: merged.violation };
    });
  }

  async waste(query: { by: WasteDimension; since?: number; until?: number; runId?: string }): Promise<WasteRow[]> {
    const { where, parameters } = callsWhere(query, 'postgres');
    const rows = await this.db.query(`SELECT ${WASTE_GROUPS[query.by]} AS grp, SUM(cost) AS cost, ${WASTED_SUM} AS wasted,
        COUNT(*) AS calls, COUNT(*) FILTER (WHERE contract_verdict = 'failed') AS failed_calls, COUNT(*) FILTER (WHERE attempt > 1) AS retries
      FROM calls ${where} GROUP BY grp ORDER BY wasted DESC, cost DESC`, parameters);
    return rows.map((row) => ({
      group: row.grp === null ? null : String(row.grp),
      cost: BigInt(String(row.cost)),
      wasted: BigInt(String(row.wasted)),
      calls: Number(row.calls),
      failedCalls: Number(row.failed_calls),
      retries: Number(row.retries),
    }));
  }

  async putContract(contract: Omit<ContractRecord, 'version'>): Promise<ContractRecord> {
    return this.db.transaction(async (client) => {
      // Two replicas registering the same name at once: one after the other, versions n and n+1.
      await client.query('SELECT pg_advisory_xact_lock(7461627, hashtext($1))', [contract.name]);
      const latest = (await client.query('SELECT MAX(version) AS version FROM contracts WHERE name = $1', [contract.name])).rows[0] as Row;
      const version = Number(latest.version ?? 0) + 1;
      await client.query('INSERT INTO contracts (name, version, schema, description, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)',
        [contract.name, version, JSON.stringify(contract.schema), contract.description, contract.createdAt, contract.createdBy]);
      return { ...contract, version };
    });
  }

  async getContract(name: string, version?: number): Promise<ContractRecord | undefined> {
    const [row] = version === undefined
      ? await this.db.query('SELECT * FROM contracts WHERE name = $1 ORDER BY version DESC LIMIT 1', [name])
      : await this.db.query('SELECT * FROM contracts WHERE name = $1 AND version = $2', [name, version]);
    return row && contractFromRow(row);
  }

  async listContracts(): Promise<ContractRecord[]> {
    return (await this.db.query('SELECT * FROM contracts ORDER BY name, version')).map(contractFromRow);
  }
}

const WASTE_GROUPS: Record<WasteDimension, string> = {
  stage: 'step',
  model: 'model',
  run: 'run_id',
  day: "to_char(to_timestamp(started_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
};

/** Spend on failed outputs; NUMERIC, so exact past 64 bits. */
export const WASTED_SUM = "COALESCE(SUM(cost) FILTER (WHERE contract_verdict = 'failed'), 0)";

