import { formatUsd } from '../core/money.js';
import type { PrecedentObservation } from '../core/precedents.js';
import type { ApprovalRecord } from '../stores/approvals.js';
import type { CallRecord, RunRecord } from '../stores/ledger.js';
import type { RunEndedEvent } from './budgets.js';
import type { Gateway } from './gateway.js';

/**
 * Where precedents come from: each function turns one kind of failure the gateway sees
 * into an observation. None is on a call's path; each logs and gives up on error.
 */

/** A settled call: a failed contract is a precedent; a pass right after a failure is that precedent's fix. */
export async function precedentFromSettledCall(gateway: Gateway, record: CallRecord, run: RunRecord | undefined): Promise<void> {
  if (record.contractVerdict === 'failed') {
    await recordViolation(gateway, record, run, record.contractViolation ?? 'the output failed its contract');
  } else if (record.contractVerdict === 'passed' && record.retryOf) {
    await creditPass(gateway, record);
  }
}

/**
 * A verdict posted after the call (the library's checks): a new failure is a precedent,
 * and a pass it overturns no longer counts as anyone's fix.
 */
export async function precedentFromVerdict(gateway: Gateway, before: CallRecord, after: CallRecord): Promise<void> {
  if (before.contractVerdict === 'failed' || after.contractVerdict !== 'failed') {
    if (before.contractVerdict !== 'passed' && after.contractVerdict === 'passed' && after.retryOf) await creditPass(gateway, after);
    return;
  }
  await gateway.precedents.withdrawFix(after.id);
  const run = after.runId ? await gateway.ledger.getRun(after.runId) : undefined;
  await recordViolation(gateway, after, run, after.contractViolation ?? 'the output failed its checks');
}

async function recordViolation(gateway: Gateway, record: CallRecord, run: RunRecord | undefined, violation: string): Promise<void> {
  const recent = gateway.precedents.recentCall(record.id);
  await gateway.precedents.observe({
    kind: 'contract_violation',
    where: { pipeline: run?.name ?? null, stage: record.step, model: record.model, tool: null, contract: record.contractName ?? null },
    what: violation,
    evidence: recent?.output ? `output: ${recent.output}` : '',
    taskText: recent?.taskText ?? '',
    features: {
      protocol: record.protocol, promptTokens: record.inputTokens + record.cacheReadTokens + record.cacheWriteTokens,
      outputTokens: record.outputTokens, attempt: record.attempt ?? 1, ...(record.contractVersion ? { contractVersion: record.contractVersion } : {}),
    },
    fix: null, fixSource: null, project: record.project, runId: record.runId, callId: record.id, at: record.startedAt, createdBy: 'gateway',
  }, (record.precedentsInjected ?? []).map((entry) => entry.id));
}

/** The attempt that passed after a failure: a retry on the same model, or an escalation to another. */
async function creditPass(gateway: Gateway, passed: CallRecord): Promise<void> {
  const failed = await gateway.ledger.getCall(passed.retryOf!);
  if (!failed || failed.contractVerdict !== 'failed') return;
  const escalated = failed.model !== passed.model;
  const fix = escalated
    ? `escalating from ${failed.model} to ${passed.model} passed`
    : `a retry on ${passed.model} passed once told what was wrong`;
  await gateway.precedents.creditFix([failed.id], passed.id, escalated ? 'escalation' : 'retry', fix,
    async () => (await gateway.ledger.getCall(passed.id))?.contractVerdict === 'passed');
}

/** "stage NAME failed contract CONTRACT: violation", the note the library halts a run with. */
const HALTED_STAGE = /^stage (\S+) failed contract (\S+): ([\s\S]*)$/;

/** A run stopped with a note: a halted stage (the library's note) or an operator's reason. */
export async function precedentFromStop(gateway: Gateway, run: RunRecord, note: string, actor: string): Promise<void> {
  const halted = HALTED_STAGE.exec(note);
  const last = await lastCall(gateway, run.id);
  const recent = last && gateway.precedents.recentCall(last.id);
  await gateway.precedents.observe({
    kind: halted ? 'stage_halted' : 'run_stopped',
    where: { pipeline: run.name, stage: halted?.[1] ?? last?.step ?? null, model: last?.model ?? null, tool: null, contract: halted?.[2] ?? null },
    what: halted ? `the stage was halted: ${halted[3]}` : note,
    evidence: halted ? '' : `stopped by ${actor}`,
    taskText: recent?.taskText ?? '',
    features: { calls: (await gateway.ledger.runTotals([run.id])).get(run.id)?.calls ?? 0 },
    fix: null, fixSource: null, project: run.project, runId: run.id, callId: last?.id ?? null, at: Date.now(), createdBy: actor,
  });
}

/** A run that ran out of money, tokens, calls or time. Sub-runs ended with their parent are the parent's story. */
export async function precedentFromRunEnded(gateway: Gateway, event: RunEndedEvent): Promise<void> {
  if (event.state !== 'exhausted' || event.reason.startsWith('parent ')) return;
  const run = await gateway.ledger.getRun(event.runId);
  if (!run) return;
  const totals = (await gateway.ledger.runTotals([run.id])).get(run.id);
  const last = await lastCall(gateway, run.id);
  const recent = last && gateway.precedents.recentCall(last.id);
  const limits = [
    run.budget === null ? null : `budget $${formatUsd(run.budget)}`, run.budgetTokens === null ? null : `${run.budgetTokens} tokens`,
    run.maxCalls === null ? null : `${run.maxCalls} calls`,
  ].filter(Boolean).join(', ');
  await gateway.precedents.observe({
    kind: 'budget_exhausted',
    where: { pipeline: run.name, stage: last?.step ?? null, model: last?.model ?? null, tool: null, contract: null },
    what: `the run ran out (${event.reason.replace(/_/g, ' ')})${limits ? ` of its ${limits}` : ''}`,
    evidence: `spent $${formatUsd(totals?.cost ?? 0n)} in ${totals?.calls ?? 0} calls`,
    taskText: recent?.taskText ?? '',
    features: { calls: totals?.calls ?? 0, outputTokens: totals?.outputTokens ?? 0 },
    fix: null, fixSource: null, project: run.project, runId: run.id, callId: last?.id ?? null, at: Date.now(), createdBy: 'gateway',
  });
}

/** A tool call someone denied: the note is the operator's word on what to do instead. */
export async function precedentFromApproval(gateway: Gateway, record: ApprovalRecord): Promise<void> {
  if (record.state !== 'denied') return;
  const run = record.runId ? await gateway.ledger.getRun(record.runId) : undefined;
  const recent = gateway.precedents.recentCall(record.callId);
  const observation: PrecedentObservation = {
    kind: 'approval_denied',
    where: { pipeline: run?.name ?? null, stage: recent?.step ?? null, model: record.model, tool: record.tool, contract: null },
    what: `a call of tool ${record.tool} was denied${record.note ? `: ${record.note}` : ''}`,
    evidence: `arguments: ${record.arguments}`,
    taskText: recent?.taskText ?? '',
    features: { protocol: record.protocol },
    fix: record.note, fixSource: record.note ? 'operator' : null,
    project: run?.project ?? null, runId: record.runId, callId: record.callId, at: record.decidedAt ?? Date.now(), createdBy: record.decidedBy ?? 'gateway',
  };
  await gateway.precedents.observe(observation);
}

async function lastCall(gateway: Gateway, runId: string): Promise<CallRecord | undefined> {
  const calls = await gateway.ledger.listCalls(runId);
  return calls[calls.length - 1];
}
