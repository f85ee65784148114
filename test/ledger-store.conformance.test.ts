import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { CallRecord, LedgerStore, NewRun, ReservationRecord } from '../src/stores/ledger.js';
import { PgLedger } from '../src/stores/pg-ledger.js';
import { PG_MIGRATIONS } from '../src/stores/pg-migrations.js';
import { burnHistoryOf, forecastStoreFor, precedentStoreFor, spendSeriesOf } from '../src/stores/companions.js';
import type { Precedent } from '../src/core/precedents.js';
import type { HistoryRun } from '../src/core/forecast-history.js';
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
    // A call without contract fields reads back with the defaults: no verdict, first attempt.
    expect(await ledger.getCall('c1')).toEqual({ ...entry, contractVerdict: 'none', contractName: null, contractVersion: null, contractViolation: null, attempt: 1, retryOf: null, routePolicy: null, precedentsInjected: null, precedentTokens: 0 });
    const judged = call('c4', { contractVerdict: 'failed', contractName: 'invoice', contractVersion: 2, contractViolation: '/total: must be number', attempt: 2, retryOf: 'c1', routePolicy: 'cheap-first',
      precedentsInjected: [{ id: 'prec_1', tokens: 40, relevance: 0.75 }], precedentTokens: 40 });
    await ledger.recordCall(judged);
    expect(await ledger.getCall('c4')).toEqual(judged);
    expect(await ledger.getCall('nope')).toBeUndefined();
    await ledger.recordCall(call('c3', { startedAt: T0 + 2000, model: 'gpt-4o', stream: false, estimated: true, timeToFirstTokenMs: null, errorCode: 'x', status: 'cut' }));
    expect((await ledger.listCalls('r1')).map((c) => c.id)).toEqual(['c1', 'c4', 'c3']);
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
    expect(byRun.get('r1')).toEqual({ cost: huge, inputTokens: 10, cacheReadTokens: 2, cacheWriteTokens: 3, outputTokens: 20, calls: 1, estimatedCalls: 0, wasted: 0n });
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

  it('merges contract verdicts (a failure stands), counts waste exactly by stage, model, run and day, and in spend totals', async () => {
    const ledger = await open();
    await ledger.createRun(newRun('r1'));
    const huge = 6_000_000_000_000_000_000n; // waste past 64 bits stays exact
    await ledger.recordCall(call('x1', { cost: huge, step: 'extract', contractVerdict: 'failed', contractName: 'items', contractVersion: 1, contractViolation: 'bad' }));
    await ledger.recordCall(call('x2', { cost: huge, step: 'extract', attempt: 2, retryOf: 'x1' }));
    await ledger.recordCall(call('s1', { cost: 5n, step: 'summarise', model: 'gpt-4o', startedAt: T0 + 86_400_000 }));
    await ledger.recordCall(call('o1', { runId: 'other', cost: 3n, step: null }));

    expect(await ledger.recordVerdict('nope', { verdict: 'passed', name: 'items', version: 1, violation: null })).toBeUndefined();
    const passed = await ledger.recordVerdict('x2', { verdict: 'passed', name: 'items', version: 1, violation: null });
    expect(passed).toMatchObject({ id: 'x2', contractVerdict: 'passed', contractName: 'items', contractVersion: 1, attempt: 2, retryOf: 'x1' });
    // A later pass does not overwrite a recorded failure; a later failure overwrites a pass.
    expect(await ledger.recordVerdict('x1', { verdict: 'passed', name: 'items', version: 2, violation: null })).toMatchObject({ contractVerdict: 'failed', contractVersion: 1, contractViolation: 'bad' });
    await ledger.recordVerdict('s1', { verdict: 'passed', name: 'summary', version: 1, violation: null });
    expect(await ledger.recordVerdict('s1', { verdict: 'failed', name: 'summary', version: 1, violation: 'empty' })).toMatchObject({ contractVerdict: 'failed', contractViolation: 'empty' });
    expect(await ledger.getCall('s1')).toMatchObject({ contractVerdict: 'failed', contractName: 'summary', contractViolation: 'empty' });
    // 'none' never replaces a verdict.
    expect(await ledger.recordVerdict('x2', { verdict: 'none', name: null, version: null, violation: null })).toMatchObject({ contractVerdict: 'passed' });

    const byStage = await ledger.waste({ by: 'stage' });
    expect(byStage).toEqual([
      { group: 'extract', cost: 2n * huge, wasted: huge, calls: 2, failedCalls: 1, retries: 1 },
      { group: 'summarise', cost: 5n, wasted: 5n, calls: 1, failedCalls: 1, retries: 0 },
      { group: null, cost: 3n, wasted: 0n, calls: 1, failedCalls: 0, retries: 0 },
    ]);
    expect((await ledger.waste({ by: 'model' })).map((row) => [row.group, row.wasted])).toEqual([['gpt-4o-mini', huge], ['gpt-4o', 5n]]);
    expect((await ledger.waste({ by: 'run', runId: 'r1' })).map((row) => [row.group, row.cost, row.wasted])).toEqual([['r1', 2n * huge + 5n, huge + 5n]]);
    expect((await ledger.waste({ by: 'day', since: T0 + 3_600_000 })).map((row) => [row.group, row.wasted])).toEqual([['2026-06-16', 5n]]);
    expect(await ledger.waste({ by: 'day', until: T0 })).toEqual([]);
    expect((await ledger.runTotals(['r1'])).get('r1')).toMatchObject({ calls: 3, wasted: huge + 5n });
    expect((await ledger.spend({ by: 'step' })).map((row) => [row.group, row.wasted])).toEqual([['extract', huge], ['summarise', 5n], [null, 0n]]);
  });

  it('hands the router its evidence: answered calls of a routing policy or of a judged step, the latest, oldest first', async () => {
    const ledger = await open();
    await ledger.recordCall(call('p1', { routePolicy: 'cheap-first', step: null, startedAt: T0 + 1 }));
    await ledger.recordCall(call('j1', { contractVerdict: 'passed', startedAt: T0 + 2 }));
    await ledger.recordCall(call('n1', { startedAt: T0 + 3 })); // no policy, no verdict: teaches nothing
    await ledger.recordCall(call('u1', { contractVerdict: 'failed', step: null, startedAt: T0 + 4 })); // judged, but no step
    await ledger.recordCall(call('e1', { routePolicy: 'cheap-first', status: 'upstream_error', startedAt: T0 + 5 }));
    await ledger.recordCall(call('p2', { routePolicy: 'cheap-first', contractVerdict: 'failed', startedAt: T0 + 6 }));
    expect((await ledger.routingEvidence(10)).map((c) => c.id)).toEqual(['p1', 'j1', 'p2']);
    const latest = await ledger.routingEvidence(2);
    expect(latest.map((c) => [c.id, c.routePolicy, c.contractVerdict])).toEqual([['j1', null, 'passed'], ['p2', 'cheap-first', 'failed']]);
  });

  it('keeps precedents: upsert by id, one per merge key, occurrences, fixes credited and withdrawn, injections and stage counts', async () => {
    const ledger = await open();
    const store = precedentStoreFor(ledger);
    const precedent: Precedent = {
      id: 'prec_1', kind: 'contract_violation', where: { pipeline: 'invoices', stage: 'extract', model: 'gpt-4o-mini', tool: null, contract: 'invoice@1' },
      what: 'total must be integer', evidence: '{"total":"x"}', signature: 'extract the invoice', features: { promptTokens: 120, stream: false },
      fix: null, fixSource: null, mergeKey: 'k-1', project: 'proj', count: 1, firstSeen: T0, lastSeen: T0, retired: false,
      lastRunId: 'r1', lastCallId: 'c1', createdBy: 'gateway',
    };
    await store.save(precedent);
    expect(await store.get('prec_1')).toEqual(precedent);
    expect(await store.findByMergeKey('k-1')).toEqual(precedent);
    expect(await store.findByMergeKey('nope')).toBeUndefined();
    // A second precedent with the same merge key is refused: repeats merge into the first.
    await expect(store.save({ ...precedent, id: 'prec_dup' })).rejects.toThrow();
    const credited = { ...precedent, fix: 'say the total as an integer', fixSource: 'retry' as const, count: 2, lastSeen: T0 + 5 };
    await store.save(credited, 'c2');
    expect(await store.get('prec_1')).toEqual(credited);
    await store.save({ ...precedent, id: 'prec_2', mergeKey: 'k-2', where: { ...precedent.where, stage: 'summarise' }, lastSeen: T0 + 9 });
    await store.save({ ...precedent, id: 'prec_3', mergeKey: 'k-3', retired: true });
    expect((await store.list({})).map((p) => p.id)).toEqual(['prec_2', 'prec_1']);
    expect((await store.list({ stage: 'extract', includeRetired: true })).map((p) => p.id).sort()).toEqual(['prec_1', 'prec_3']);
    expect(await store.list({ kind: 'run_stopped', includeRetired: true })).toEqual([]);
    expect((await store.list({ kind: 'contract_violation', limit: 1 })).map((p) => p.id)).toEqual(['prec_2']);
    expect((await store.active()).map((p) => p.id).sort()).toEqual(['prec_1', 'prec_2']);

    await store.addOccurrence({ precedentId: 'prec_1', callId: 'c1', runId: 'r1', at: T0, injected: false });
    await store.addOccurrence({ precedentId: 'prec_1', callId: null, runId: null, at: T0 + 5, injected: true });
    expect(await store.occurrences('prec_1')).toEqual([
      { precedentId: 'prec_1', callId: 'c1', runId: 'r1', at: T0, injected: false },
      { precedentId: 'prec_1', callId: null, runId: null, at: T0 + 5, injected: true },
    ]);
    expect(await store.precedentsOfCall('c1')).toEqual(['prec_1']);
    // The fix came from call c2: overturning c2 withdraws it (an operator's fix would stay).
    expect(await store.clearFixFromCall('c9')).toEqual([]);
    expect(await store.clearFixFromCall('c2')).toEqual(['prec_1']);
    expect(await store.get('prec_1')).toMatchObject({ fix: null, fixSource: null });
    await store.save({ ...precedent, fix: 'by hand', fixSource: 'operator' }, 'c3');
    expect(await store.clearFixFromCall('c3')).toEqual([]);

    await ledger.recordCall(call('i1', { step: 'extract', precedentsInjected: [{ id: 'prec_1', tokens: 40, relevance: 0.9 }, { id: 'prec_2', tokens: 12, relevance: 0.5 }], precedentTokens: 52, contractVerdict: 'passed', startedAt: T0 + 10 }));
    await ledger.recordCall(call('i2', { step: 'extract', precedentsInjected: [{ id: 'prec_1', tokens: 41, relevance: 0.8 }], precedentTokens: 41, startedAt: T0 + 20 }));
    await ledger.recordCall(call('i3', { step: 'summarise', startedAt: T0 + 30 }));
    expect(await store.injections('prec_1')).toEqual([
      { callId: 'i1', at: T0 + 10, model: 'gpt-4o-mini', step: 'extract', tokens: 40, verdict: 'passed' },
      { callId: 'i2', at: T0 + 20, model: 'gpt-4o-mini', step: 'extract', tokens: 41, verdict: 'none' },
    ]);
    expect(await store.injections('prec_3')).toEqual([]);
    expect(await store.callsAtStage('extract', T0, T0 + 20)).toBe(1);
    expect(await store.callsAtStage('extract', T0, T0 + 21)).toBe(2);
  });

  it('registers contracts in versions from 1 per name and reads any version back', async () => {
    const ledger = await open();
    expect(await ledger.getContract('invoice')).toBeUndefined();
    const schema = { type: 'object', required: ['total'], properties: { total: { type: 'number' } } };
    const first = await ledger.putContract({ name: 'invoice', schema, description: 'totals', createdAt: T0, createdBy: 'ops' });
    expect(first).toEqual({ name: 'invoice', version: 1, schema, description: 'totals', createdAt: T0, createdBy: 'ops' });
    const schema2 = { ...schema, additionalProperties: false };
    // Registrations racing on one name get consecutive versions, none lost.
    const racing = await Promise.all([1, 2, 3].map((n) => ledger.putContract({ name: 'invoice', schema: schema2, description: null, createdAt: T0 + n, createdBy: null })));
    expect(racing.map((contract) => contract.version).sort()).toEqual([2, 3, 4]);
    await ledger.putContract({ name: 'another', schema: { type: 'array' }, description: null, createdAt: T0, createdBy: null });
    expect(await ledger.getContract('invoice')).toMatchObject({ version: 4, schema: schema2 });
    expect(await ledger.getContract('invoice', 1)).toEqual(first);
    expect(await ledger.getContract('invoice', 9)).toBeUndefined();
    expect((await ledger.listContracts()).map((contract) => [contract.name, contract.version])).toEqual([['another', 1], ['invoice', 1], ['invoice', 2], ['invoice', 3], ['invoice', 4]]);
  });

  it('keeps forecast history: run tasks, imports (last line wins), completed runs only, and a version that moves', async () => {
    const ledger = await open();
    const forecasts = forecastStoreFor(ledger);
    const version0 = await forecasts.historyVersion();
    await ledger.createRun(newRun('done', { name: 'nightly' }));
    await ledger.recordCall(call('d1', { runId: 'done', cost: 2_000_000_000n, inputTokens: 100, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 7, model: 'gpt-4o' }));
    await ledger.recordCall(call('d2', { runId: 'done', cost: 1_000_000_000n, inputTokens: 50, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 3, startedAt: T0 + 2000 }));
    await ledger.recordCall(call('d3', { runId: 'done', cost: 0n, inputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 0, startedAt: T0 + 3000, model: 'gpt-4o' }));
    await ledger.setRunState('done', 'completed', null, T0 + 5000);
    await ledger.createRun(newRun('live'));
    const task = { group: 'triage', model: 'gpt-4o-mini', inputTokens: 1234, features: { difficulty: 'hard', pages: 3 } };
    await forecasts.saveRunTask({ runId: 'live', task, forecast: null, createdAt: T0 });
    expect(await forecasts.getRunTask('live')).toEqual({ runId: 'live', task, forecast: null, createdAt: T0 });
    expect([...(await forecasts.listRunTasks(['live', 'done'])).keys()]).toEqual(['live']);

    const imported = (id: string, costUsd: number, finishedAt: number | null): HistoryRun => ({
      id, task: { group: 'triage', model: null, inputTokens: null, features: {} }, outcome: { costUsd, inputTokens: 10, outputTokens: 5, calls: 1 },
      finishedAt, status: 'completed', source: 'import',
    });
    expect(await forecasts.importRuns([imported('e1', 0.5, T0), imported('e2', 0.25, null), imported('e1', 0.75, T0 + 1)], T0)).toEqual({ added: 2, replaced: 1 });
    expect(await forecasts.importRuns([imported('e2', 1, T0 - 1)], T0 + 1)).toEqual({ added: 0, replaced: 1 });
    const history = await forecasts.history();
    expect(history.map((run) => [run.source, run.id, run.outcome.costUsd])).toEqual([['import', 'e1', 0.75], ['import', 'e2', 1], ['ledger', 'done', 0.003]]);
    // Undeclared: the run's name as its group, its most used model, its first call's prompt as the input size.
    expect(history[2]).toMatchObject({ task: { group: 'nightly', model: 'gpt-4o', inputTokens: 100 }, outcome: { inputTokens: 151, outputTokens: 10, calls: 3 }, finishedAt: T0 + 5000 });
    expect(await forecasts.historyVersion()).not.toBe(version0);
  });

  it('buckets spend over time for the dashboard and the burn-rate baselines', async () => {
    const ledger = await open();
    await ledger.createKey({ id: 'k1', tokenHash: 'hash-k1', name: 'ci', project: 'proj', createdAt: T0 });
    await ledger.createRun(newRun('r1', { keyId: 'k1' }));
    await ledger.recordCall(call('a', { cost: 1_000_000_000_000n, startedAt: T0 + 60_000 }));
    await ledger.recordCall(call('b', { cost: 500_000_000_000n, startedAt: T0 + 120_000, model: 'gpt-4o' }));
    await ledger.recordCall(call('c', { runId: null, keyId: null, project: 'else', cost: 7n, startedAt: T0 + 3_600_000 }));
    const hour = 3_600_000;
    const byKey = await spendSeriesOf(ledger, { by: 'key', bucket: 'hour', since: T0, projects: null });
    expect(byKey).toEqual([{ at: T0, group: 'k1', cost: 1_500_000_000_000n, calls: 2 }, { at: T0 + hour, group: null, cost: 7n, calls: 1 }]);
    expect(await spendSeriesOf(ledger, { by: 'model', bucket: 'day', since: T0, projects: ['proj'] }))
      .toEqual([{ at: Date.UTC(2026, 5, 15), group: 'gpt-4o', cost: 500_000_000_000n, calls: 1 }, { at: Date.UTC(2026, 5, 15), group: 'gpt-4o-mini', cost: 1_000_000_000_000n, calls: 1 }]);
    const burn = await burnHistoryOf(ledger, T0, 60_000);
    expect(burn.map((b) => [b.scope, b.at, b.usd]).sort()).toEqual([
      ['key:k1', T0 + 120_000, 0.5], ['key:k1', T0 + 60_000, 1], ['project:else', T0 + hour, 7e-12], ['project:proj', T0 + 120_000, 0.5], ['project:proj', T0 + 60_000, 1],
    ].sort());
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

  it('a ledger left at v4 (before contracts, forecasts, routing) migrates in place; its calls read back with the defaults', async () => {
    const schema = `intime_test_${randomUUID().replaceAll('-', '')}`;
    schemas.push(schema);
    const client = new pg.Client(`${PG_URL}`);
    await client.connect();
    try {
      await client.query(`CREATE SCHEMA ${schema}; SET search_path = ${schema}`);
      await client.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
      for (const migration of PG_MIGRATIONS.filter((m) => m.version <= 4)) {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations VALUES ($1, $2)', [migration.version, T0]);
      }
      await client.query(`INSERT INTO calls (id, run_id, provider, model, protocol, stream, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens,
        reasoning_tokens, cost, estimated, status, http_status, started_at, latency_ms) VALUES ('old', 'r0', 'openai', 'gpt-4o-mini', 'openai-chat', 0, 1, 0, 0, 2, 0, 99, 0, 'ok', 200, $1, 1)`, [T0]);
    } finally {
      await client.end();
    }
    const ledger = await PgLedger.open(`${PG_URL}?schema=${schema}`);
    opened.push(ledger);
    expect(await ledger.getCall('old')).toMatchObject({ cost: 99n, contractVerdict: 'none', attempt: 1, retryOf: null, routePolicy: null, precedentsInjected: null, precedentTokens: 0 });
    expect(await ledger.waste({ by: 'model' })).toEqual([{ group: 'gpt-4o-mini', cost: 99n, wasted: 0n, calls: 1, failedCalls: 0, retries: 0 }]);
    expect(await forecastStoreFor(ledger).history()).toEqual([]);
    const versions = await ledger.pool.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(versions.rows.map((row: { version: number }) => row.version)).toEqual(PG_MIGRATIONS.map((m) => m.version));
  });

  it('an unreachable server is a named, non-retryable ledger_unavailable', async () => {
    const failure = await PgLedger.open('postgres://postgres@127.0.0.1:1/test').catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'ledger_unavailable', retryable: false });
    expect((failure as Error).message).toContain('PostgreSQL at postgres://postgres@127.0.0.1:1/test');
  });
});
