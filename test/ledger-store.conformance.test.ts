import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { CallRecord, LedgerStore, NewRun, ReservationRecord } from '../src/stores/ledger.js';
import { PgLedger } from '../src/stores/pg-ledger.js';
import { SqliteLedger } from '../src/stores/sqlite-ledger.js';

const PG_URL = process.env.INTIME_TEST_PG_URL;
if (!PG_URL) console.warn('[ledger-store.conformance] INTIME_TEST_PG_URL is not set: the PostgreSQL ledger is not tested');

const schemas: string[] = [];
const opened: LedgerStore[] = [];

afterAll(async () => {
  for (const ledger of opened) await ledger.close();
  if (PG_URL && schemas.length > 0) {
    const client = new pg.Client(PG_URL);
    await client.connect();
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  }
});

async function pgLedger(): Promise<LedgerStore> {
  const schema = `intime_test_${randomUUID().replaceAll('-', '')}`;
  schemas.push(schema);
  const ledger = await PgLedger.open(`${PG_URL}?schema=${schema}`);
  opened.push(ledger);
  return ledger;
}

const ledgers: [string, () => Promise<LedgerStore>][] = [['sqlite', async () => {
  const ledger = new SqliteLedger(':memory:');
  opened.push(ledger);
  return ledger;
}]];
if (PG_URL) ledgers.push(['postgres', pgLedger]);

const T0 = Date.UTC(2026, 5, 15, 12);

function newRun(id: string, extra: Partial<NewRun> = {}): NewRun {
  return {
    id, tokenHash: `hash-${id}`, name: `run ${id}`, parentId: null, keyId: null, project: 'proj', budget: 5_000_000_000_000n,
    budgetTokens: 1000, maxCalls: 10, deadlineAt: T0 + 60_000, overflowPolicy: 'refuse', createdAt: T0, ...extra,
  };
}

function call(id: string, extra: Partial<CallRecord> = {}): CallRecord {
  return {
    id, runId: 'r1', keyId: null, project: 'proj', step: 'plan', agent: 'a1', provider: 'openai', model: 'gpt-4o-mini', protocol: 'openai-chat', stream: true,
    inputTokens: 10, cacheReadTokens: 2, cacheWriteTokens: 3, outputTokens: 20, reasoningTokens: 4, cost: 123_456_789n, estimated: false,
    status: 'ok', httpStatus: 200, errorCode: null, upstreamRequestId: 'req-1', startedAt: T0 + 1000, latencyMs: 12.5, timeToFirstTokenMs: 3.25, ...extra,
  };
}

function reservation(id: string): ReservationRecord {
  return { id, runId: 'r1', keyId: null, project: 'proj', step: null, agent: null, provider: 'openai', model: 'gpt-4o-mini', protocol: 'openai-chat', stream: false, promptTokens: 42, reserved: 9_999n, createdAt: T0 };
}

describe.each(ledgers)('ledger store conformance: %s', (_name, open) => {
  it('keeps runs, keys and identities, with exact money and nullable fields', async () => {
    const ledger = await open();
    const key = await ledger.createKey({ id: 'k1', tokenHash: 'hash-k1', name: 'ci', project: 'proj', createdAt: T0 });
    expect(await ledger.listKeys()).toEqual([key]);
    const run = await ledger.createRun(newRun('r1', { keyId: 'k1' }));
    expect(run).toMatchObject({ id: 'r1', state: 'running', budget: 5_000_000_000_000n, budgetTokens: 1000, maxCalls: 10, keyId: 'k1', overflowPolicy: 'refuse', endedAt: null });
    await ledger.createRun(newRun('r2', { parentId: 'r1', budget: null, budgetTokens: null, maxCalls: null, deadlineAt: null, name: null, createdAt: T0 + 1 }));
    expect(await ledger.findIdentity('hash-r1')).toEqual({ kind: 'run', run });
    expect(await ledger.findIdentity('hash-k1')).toEqual({ kind: 'key', key });
    expect(await ledger.findIdentity('nope')).toBeUndefined();
    expect((await ledger.getRun('r2'))).toMatchObject({ parentId: 'r1', budget: null, name: null, deadlineAt: null });
    expect((await ledger.listChildRuns('r1')).map((child) => child.id)).toEqual(['r2']);
    await ledger.setRunState('r2', 'stopped', 'by hand', T0 + 5);
    expect(await ledger.getRun('r2')).toMatchObject({ state: 'stopped', endedReason: 'by hand', endedAt: T0 + 5 });
    expect((await ledger.listRuns({ limit: 10 })).map((r) => r.id)).toEqual(['r2', 'r1']);
    expect((await ledger.listRuns({ limit: 10, state: 'running' })).map((r) => r.id)).toEqual(['r1']);
  });

  it('records a call and ends its reservation together; reads it back field for field', async () => {
    const ledger = await open();
    await ledger.createRun(newRun('r1'));
    await ledger.putReservation(reservation('c1'));
    await ledger.putReservation(reservation('c2'));
    expect((await ledger.listReservations()).map((r) => r.id)).toEqual(['c1', 'c2']);
    expect((await ledger.listReservations())[0]).toEqual(reservation('c1'));
    const entry = call('c1', { cost: 9_000_000_000_000_000n }); // beyond 2^53: exact
    await ledger.recordCall(entry);
    expect((await ledger.listReservations()).map((r) => r.id)).toEqual(['c2']);
    expect(await ledger.getCall('c1')).toEqual(entry);
    expect(await ledger.getCall('nope')).toBeUndefined();
    await ledger.recordCall(call('c3', { startedAt: T0 + 2000, model: 'gpt-4o', stream: false, estimated: true, timeToFirstTokenMs: null, errorCode: 'x', status: 'cut' }));
    expect((await ledger.listCalls('r1')).map((c) => c.id)).toEqual(['c1', 'c3']);
    expect(await ledger.lastModel('r1')).toBe('gpt-4o');
  });

  it('sums spend exactly past 64 bits, by scope (a run with its sub-runs, a key, a project) and by dimension', async () => {
    const ledger = await open();
    await ledger.createRun(newRun('r1'));
    await ledger.createRun(newRun('r2', { parentId: 'r1' }));
    const huge = 6_000_000_000_000_000_000n; // two of them overflow a signed 64-bit sum
    await ledger.recordCall(call('a', { cost: huge, keyId: 'k1' }));
    await ledger.recordCall(call('b', { runId: 'r2', cost: huge + 1n, keyId: 'k1', startedAt: T0 + 86_400_000 }));
    await ledger.recordCall(call('c', { runId: 'other', project: 'else', cost: 7n, estimated: true }));
    expect(await ledger.spentInScope({ kind: 'run', id: 'r1' }, 0)).toEqual({ money: 2n * huge + 1n, tokens: 70, calls: 2 });
    expect(await ledger.spentInScope({ kind: 'run', id: 'r2' }, 0)).toEqual({ money: huge + 1n, tokens: 35, calls: 1 });
    expect(await ledger.spentInScope({ kind: 'key', id: 'k1' }, T0 + 10_000)).toEqual({ money: huge + 1n, tokens: 35, calls: 1 });
    expect(await ledger.spentInScope({ kind: 'project', id: 'proj' }, 0)).toMatchObject({ money: 2n * huge + 1n, calls: 2 });
    expect(await ledger.spentInScope({ kind: 'project', id: 'none' }, 0)).toEqual({ money: 0n, tokens: 0, calls: 0 });
    const byRun = await ledger.runTotals(['r1', 'r2', 'missing']);
    expect(byRun.get('r1')).toEqual({ cost: huge, inputTokens: 10, cacheReadTokens: 2, cacheWriteTokens: 3, outputTokens: 20, calls: 1, estimatedCalls: 0 });
    expect(byRun.has('missing')).toBe(false);
    const byDay = await ledger.spend({ by: 'day' });
    expect(byDay.map((row) => [row.group, row.cost, row.calls])).toEqual([['2026-06-15', huge + 7n, 2], ['2026-06-16', huge + 1n, 1]]);
    const byProject = await ledger.spend({ by: 'project', until: T0 + 10_000 });
    expect(byProject.map((row) => [row.group, row.cost, row.estimatedCalls])).toEqual([['proj', huge, 0], ['else', 7n, 1]]);
    expect((await ledger.spend({ by: 'model', runId: 'r2' })).map((row) => row.cost)).toEqual([huge + 1n]);
  });

  it('keeps budgets (upsert), principals, audit and soft thresholds fired once', async () => {
    const ledger = await open();
    const budget = { scope: 'project:p', money: 1_000n, tokens: null, calls: 5, window: 'day' as const, softThreshold: 0.5, webhook: null, updatedAt: T0 };
    await ledger.putBudget(budget);
    await ledger.putBudget({ ...budget, money: 2_000n, webhook: 'http://127.0.0.1/hook' });
    expect(await ledger.listBudgets()).toEqual([{ ...budget, money: 2_000n, webhook: 'http://127.0.0.1/hook' }]);
    const principal = { id: 'p1', name: 'ops', role: 'operator' as const, projects: ['a', 'b'], createdAt: T0, revokedAt: null };
    await ledger.createPrincipal({ ...principal, tokenHash: 'hash-p1' });
    expect(await ledger.findPrincipal('hash-p1')).toEqual(principal);
    expect(await ledger.listPrincipals()).toEqual([principal]);
    await ledger.recordAudit({ at: T0, actor: 'ops', role: 'operator', action: 'run.stop', runId: 'r1', target: 'r1', note: null });
    await ledger.recordAudit({ at: T0 + 1, actor: 'ops', role: 'operator', action: 'run.pause', runId: 'r2', target: 'r2', note: 'why' });
    expect((await ledger.listAudit({ limit: 10 })).map((entry) => entry.action)).toEqual(['run.pause', 'run.stop']);
    expect(await ledger.listAudit({ runId: 'r2', limit: 10 })).toEqual([{ at: T0 + 1, actor: 'ops', role: 'operator', action: 'run.pause', runId: 'r2', target: 'r2', note: 'why' }]);
    expect(await ledger.markThresholdFired('project:p', T0, T0)).toBe(true);
    expect(await ledger.markThresholdFired('project:p', T0, T0 + 1)).toBe(false);
    expect(await ledger.markThresholdFired('project:p', T0 + 86_400_000, T0)).toBe(true);
  });
});

describe.skipIf(!PG_URL)('postgres ledger', () => {
  it('migrates once however many replicas open it at the same time', async () => {
    const schema = `intime_test_${randomUUID().replaceAll('-', '')}`;
    schemas.push(schema);
    const replicas = await Promise.all([1, 2, 3].map(() => PgLedger.open(`${PG_URL}?schema=${schema}`)));
    opened.push(...replicas);
    await replicas[0]!.createRun(newRun('shared'));
    expect((await replicas[2]!.getRun('shared'))?.id).toBe('shared');
  });

  it('an unreachable server is a named, non-retryable ledger_unavailable', async () => {
    const failure = await PgLedger.open('postgres://postgres@127.0.0.1:1/test').catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'ledger_unavailable', retryable: false });
    expect((failure as Error).message).toContain('PostgreSQL at postgres://postgres@127.0.0.1:1/test');
  });
});
