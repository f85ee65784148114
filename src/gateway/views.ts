import { formatUsd, type Money } from '../core/money.js';
import type { CallRecord, KeyRecord, RunRecord, SpendRow, SpendTotals } from '../stores/ledger.js';
import { emptyTotals } from '../stores/ledger.js';
import type { Clock } from './budgets.js';

/** API shapes. Money is a decimal string in USD: exact, and readable without a unit table. */
const usd = (amount: Money) => formatUsd(amount);
const iso = (epochMs: number | null) => (epochMs === null ? null : new Date(epochMs).toISOString());

/**
 * A run as the API shows it. Its clock (spent, reserved, remaining) includes its sub-runs;
 * `ownSpentUsd` and the token counts are its own calls.
 */
export function runView(run: RunRecord, totals: SpendTotals = emptyTotals(), clock?: Clock) {
  const spent = clock?.spent ?? totals.cost;
  const reserved = clock?.reserved ?? 0n;
  return {
    id: run.id,
    name: run.name,
    parent: run.parentId,
    key: run.keyId,
    project: run.project,
    state: run.state,
    endedReason: run.endedReason,
    spentUsd: usd(spent),
    ownSpentUsd: usd(totals.cost),
    reservedUsd: usd(reserved),
    budgetUsd: run.budget === null ? null : usd(run.budget),
    remainingUsd: run.budget === null ? null : usd(run.budget - spent - reserved),
    overflowPolicy: run.overflowPolicy,
    budgetTokens: run.budgetTokens,
    maxCalls: run.maxCalls,
    deadline: iso(run.deadlineAt),
    inputTokens: totals.inputTokens,
    cacheReadTokens: totals.cacheReadTokens,
    cacheWriteTokens: totals.cacheWriteTokens,
    outputTokens: totals.outputTokens,
    calls: totals.calls,
    estimatedCalls: totals.estimatedCalls,
    /** Spend on this run's own calls whose output failed its contract. */
    wastedUsd: usd(totals.wasted ?? 0n),
    createdAt: iso(run.createdAt),
    endedAt: iso(run.endedAt),
  };
}

export function callView(call: CallRecord) {
  return {
    id: call.id,
    run: call.runId,
    key: call.keyId,
    project: call.project,
    step: call.step,
    agent: call.agent,
    provider: call.provider,
    model: call.model,
    protocol: call.protocol,
    stream: call.stream,
    inputTokens: call.inputTokens,
    cacheReadTokens: call.cacheReadTokens,
    cacheWriteTokens: call.cacheWriteTokens,
    outputTokens: call.outputTokens,
    reasoningTokens: call.reasoningTokens,
    costUsd: usd(call.cost),
    estimated: call.estimated,
    status: call.status,
    httpStatus: call.httpStatus,
    errorCode: call.errorCode,
    upstreamRequestId: call.upstreamRequestId,
    startedAt: iso(call.startedAt),
    latencyMs: call.latencyMs,
    timeToFirstTokenMs: call.timeToFirstTokenMs,
    routePolicy: call.routePolicy ?? null,
    contract: {
      verdict: call.contractVerdict ?? 'none',
      name: call.contractName ?? null,
      version: call.contractVersion ?? null,
      violation: call.contractViolation ?? null,
    },
    attempt: call.attempt ?? 1,
    retryOf: call.retryOf ?? null,
    precedents: { injected: call.precedentsInjected ?? [], tokens: call.precedentTokens ?? 0 },
  };
}

export function spendRowView(row: SpendRow) {
  return { group: row.group, ...totalsView(row) };
}

export function totalsView(totals: SpendTotals) {
  return {
    costUsd: usd(totals.cost),
    inputTokens: totals.inputTokens,
    cacheReadTokens: totals.cacheReadTokens,
    cacheWriteTokens: totals.cacheWriteTokens,
    outputTokens: totals.outputTokens,
    calls: totals.calls,
    estimatedCalls: totals.estimatedCalls,
    wastedUsd: usd(totals.wasted ?? 0n),
  };
}

export function keyView(key: KeyRecord) {
  return { id: key.id, name: key.name, project: key.project, createdAt: iso(key.createdAt), revokedAt: iso(key.revokedAt) };
}
