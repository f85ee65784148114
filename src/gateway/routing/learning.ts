import type { Attempt } from '../../core/routing/stats.js';
import { toUsdNumber } from '../../core/routing/usd.js';
import type { CallRecord } from '../../stores/ledger.js';
import type { Gateway } from '../gateway.js';

/** How many of the latest ledger rows rebuild the router's statistics at start. */
const SEED_ROWS = 20_000;

/** What one ledger row teaches the router, when it teaches anything. */
export interface RoutingEvidence {
  /** The step label, else the routing policy's name (what a routed call without a step learns under). */
  stage: string;
  model: string;
  attempt: Attempt;
  promptTokens: number;
}

/**
 * Which calls the router learns from: every answered attempt of a routing policy, and any
 * answered call of a named step that a contract judged (an agent calling a model by name
 * still shows how that model does on the stage). Failures of the provider teach nothing
 * about the output: the cascade falls back past them.
 */
export function routingEvidence(record: CallRecord): RoutingEvidence | undefined {
  if (record.status !== 'ok') return undefined;
  const verdict = record.contractVerdict ?? 'none';
  const stage = record.step ?? (record.routePolicy ? record.routePolicy : null);
  if (stage === null || (!record.routePolicy && verdict === 'none')) return undefined;
  return {
    stage,
    model: record.model,
    attempt: { verdict, costUsd: toUsdNumber(record.cost), latencyMs: record.latencyMs },
    promptTokens: record.inputTokens + record.cacheReadTokens + record.cacheWriteTokens,
  };
}

/**
 * Connects the router to the ledger: statistics rebuilt from the latest rows at start (a
 * restart forgets nothing it had learned), every settled call learned from as it settles,
 * and a verdict posted later (the library's checks) revising what its call taught.
 */
export async function wireRouting(gateway: Gateway): Promise<void> {
  const { routing } = gateway;
  for (const record of await gateway.ledger.routingEvidence(SEED_ROWS)) {
    const evidence = routingEvidence(record);
    if (evidence) routing.observe(evidence.stage, evidence.model, evidence.attempt, evidence.promptTokens);
  }
  gateway.budgets.events.on('call-settled', (record: CallRecord) => {
    const evidence = routingEvidence(record);
    if (evidence) routing.observe(evidence.stage, evidence.model, evidence.attempt, evidence.promptTokens);
  });
}

/** A verdict changed after the call settled: move the call's vote from the old verdict to the new one. */
export function reviseRouting(gateway: Gateway, before: CallRecord, after: CallRecord): void {
  const old = routingEvidence(before);
  const updated = routingEvidence(after);
  if (!updated || old?.attempt.verdict === updated.attempt.verdict) return;
  // A call that taught nothing before (no verdict, no policy) is learned from now, whole.
  if (!old) gateway.routing.observe(updated.stage, updated.model, updated.attempt, updated.promptTokens);
  else gateway.routing.revise(updated.stage, updated.model, old.attempt.verdict, updated.attempt.verdict, updated.promptTokens);
}
