import { toApproximateUsd, formatUsd } from '../core/money.js';
import type { ThresholdEvent } from '../core/budget.js';
import type { ApprovalRecord } from '../stores/approvals.js';
import type { BudgetRecord, CallRecord } from '../stores/ledger.js';
import type { RunEndedEvent } from './budgets.js';
import type { Gateway } from './gateway.js';
import { burnHistoryOf } from '../stores/companions.js';

/** How far back burn-rate baselines are rebuilt at start: a day, or four warm-ups if longer, at most a week. */
export async function seedBurnBaselines(gateway: Gateway): Promise<void> {
  const options = gateway.config.alerts.burnRate;
  if (!options) return;
  const span = Math.min(Math.max(86_400_000, options.warmupBuckets * 4 * options.bucketMs), 7 * 86_400_000);
  gateway.alerts.seed(await burnHistoryOf(gateway.ledger, gateway.budgets.now() - span, options.bucketMs));
}

/**
 * Connects what happens in the gateway (calls settled, runs changed, approvals opened,
 * thresholds crossed) to who watches: the live dashboard, alerts, metrics, OTLP.
 * Nothing here is on a call's path: it all runs after the fact, and a failure is logged.
 */
export function wireSignals(gateway: Gateway): void {
  const { budgets, live, alerts, metrics, log } = gateway;
  const changed = () => live.emit('runs');
  const guard = (what: string, work: () => Promise<void>) => {
    work().catch((error: Error) => log.error(`${what} failed`, { error: error.message }));
  };

  // Deferred a turn: a stop settles many calls at once, and their agents' last bytes should not
  // wait behind metrics, burn rates and alerts for all of them.
  budgets.events.on('call-settled', (record: CallRecord) => setImmediate(guard, 'call signals', async () => {
    metrics.observeCall(record);
    const chain = record.runId ? await budgets.runChain(record.runId) : [];
    live.recordSpend(chain.map((run) => run.id), record, budgets.now());
    changed();
    const keyId = record.keyId ?? chain[0]?.keyId ?? null;
    const scopes: { scope: string; project: string | null }[] = [];
    if (keyId !== null) scopes.push({ scope: `key:${keyId}`, project: record.project });
    if (record.project !== null) scopes.push({ scope: `project:${record.project}`, project: record.project });
    alerts.observeSpend(toApproximateUsd(record.cost), scopes);
    if (record.runId) alerts.observeRunOutput(record.runId, record.project, toApproximateUsd(record.cost), record.contractVerdict === 'failed');
    gateway.otlp?.exportCall(record, chain);
  }));
  budgets.events.on('run-ended', (event: RunEndedEvent) => guard('run signals', async () => {
    changed();
    live.forget(event.runId);
    alerts.forgetRun(event.runId);
    if (!gateway.otlp) return;
    const chain = await budgets.runChain(event.runId);
    if (chain[0]) gateway.otlp.exportRun(chain[0], chain, await gateway.ledger.listCalls(event.runId));
  }));
  for (const name of ['call-admitted', 'run-paused', 'run-resumed', 'run-tracked']) budgets.events.on(name, changed);
  alerts.events.on('alert', (alert) => live.emit('alert', alert));
}

/**
 * A verdict posted after its call settled (the library judges with checks the gateway
 * cannot see). Any verdict tells open run pages to refetch the run's calls. Its first
 * failure turns the call's cost into waste: the waste metric, the run's silent-burn watch
 * and a verdict span under the call's span learn it here. A pass, or a failure already
 * known, adds no waste.
 */
export function verdictRecorded(gateway: Gateway, before: CallRecord, after: CallRecord): void {
  if (after.runId) gateway.live.recordJudgement(after.runId);
  gateway.live.emit('runs');
  if (before.contractVerdict === 'failed' || after.contractVerdict !== 'failed') return;
  gateway.metrics.observeLateFailure(after);
  if (after.runId) gateway.alerts.observeLateFailure(after.runId, toApproximateUsd(after.cost));
  const otlp = gateway.otlp;
  if (!otlp) return;
  void (after.runId ? gateway.budgets.runChain(after.runId) : Promise.resolve([])).then(
    (chain) => otlp.exportVerdict(after, chain),
    (error: Error) => gateway.log.error('verdict span failed', { error: error.message }),
  );
}

/** An approval opened or decided: the queue changed; one newly waiting is an alert. */
export function approvalChanged(gateway: Gateway, record: ApprovalRecord): void {
  gateway.live.emit('approvals');
  if (record.state !== 'pending') return;
  void gateway.budgets.run(record.runId ?? '').then((run) => {
    gateway.alerts.raise({
      type: 'approval_waiting', scope: record.runId ? `run:${record.runId}` : null, project: run?.project ?? null, runId: record.runId,
      message: `${record.runId ? `run ${record.runId}` : `call ${record.callId}`} waits for approval to call ${record.tool} (approval ${record.id})`,
      details: { approval: record.id, tool: record.tool, expiresAt: new Date(record.expiresAt).toISOString() },
    });
  }, (error: Error) => gateway.log.error('approval alert failed', { error: error.message }));
}

/** A soft budget threshold crossed (once per scope and window). */
export function thresholdCrossed(gateway: Gateway, event: ThresholdEvent, budget: BudgetRecord | undefined): void {
  const limit = event.limits.money;
  const project = event.scope.startsWith('project:') ? event.scope.slice('project:'.length) : null;
  const used = event.dimension === 'money'
    ? `$${formatUsd(event.spent.money)} of $${limit === null ? '?' : formatUsd(limit)}`
    : `${event.dimension === 'tokens' ? event.spent.tokens : event.spent.calls} of ${event.dimension === 'tokens' ? event.limits.tokens : event.limits.calls} ${event.dimension}`;
  const resolveProject = event.scope.startsWith('run:')
    ? gateway.budgets.run(event.scope.slice(4)).then((run) => run?.project ?? null)
    : event.scope.startsWith('key:')
      ? gateway.ledger.listKeys().then((keys) => keys.find((key) => `key:${key.id}` === event.scope)?.project ?? null)
      : Promise.resolve(project);
  void resolveProject.then((scopeProject) => {
    gateway.alerts.raise({
      type: 'budget_threshold', scope: event.scope, project: scopeProject,
      runId: event.scope.startsWith('run:') ? event.scope.slice(4) : null,
      message: `${event.scope} has used ${used} (soft threshold${budget?.window && budget.window !== 'total' ? `, this ${budget.window}` : ''})`,
      details: { dimension: event.dimension, spentUsd: formatUsd(event.spent.money), limitUsd: limit === null ? null : formatUsd(limit), windowStart: new Date(event.windowStart).toISOString() },
    });
  }, (error: Error) => gateway.log.error('threshold alert failed', { error: error.message }));
}
