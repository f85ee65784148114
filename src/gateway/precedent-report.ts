import { formatUsd } from '../core/money.js';
import type { Precedent } from '../core/precedents.js';
import type { Gateway } from './gateway.js';

/** Recurrences among some calls, and the rate when the calls are known. */
export interface RecurrenceCount {
  calls: number;
  recurrences: number;
  /** recurrences / calls, or null with no calls. */
  rate: number | null;
}

/**
 * What a precedent did: how often it was injected and what that cost, and whether its
 * failure kept happening. "Before" is every occurrence up to its first injection, against
 * the calls at its stage in that time; "with" is the calls that carried it; "without" is the
 * other calls at its stage since then. With a real model, this is the measurement: InTime
 * records; whether the text helps is the user's to read here.
 */
export interface PrecedentReport {
  injected: number;
  tokens: number;
  /** Those tokens at each carrying call's input price: part of what the calls cost, not on top. */
  costUsd: string;
  firstInjectedAt: string | null;
  occurrences: number;
  before: RecurrenceCount;
  withPrecedent: RecurrenceCount;
  withoutPrecedent: RecurrenceCount;
}

export async function precedentReport(gateway: Gateway, precedent: Precedent, now = Date.now()): Promise<PrecedentReport> {
  const store = gateway.precedents.store;
  const [injections, occurrences] = await Promise.all([store.injections(precedent.id), store.occurrences(precedent.id)]);
  let tokens = 0;
  let cost = 0n;
  for (const injection of injections) {
    tokens += injection.tokens;
    const price = gateway.prices.lookup(injection.model);
    if (price) cost += BigInt(injection.tokens) * price.prices.input;
  }
  const firstInjectedAt = injections[0]?.at ?? null;
  const stage = precedent.where.stage;
  const before = occurrences.filter((occurrence) => firstInjectedAt === null || occurrence.at < firstInjectedAt).length;
  const after = occurrences.filter((occurrence) => firstInjectedAt !== null && occurrence.at >= firstInjectedAt);
  const withRecurrences = after.filter((occurrence) => occurrence.injected).length;
  const stageCallsBefore = stage === null ? 0 : await store.callsAtStage(stage, 0, firstInjectedAt ?? now + 1);
  const stageCallsAfter = stage === null || firstInjectedAt === null ? 0 : await store.callsAtStage(stage, firstInjectedAt, now + 1);
  return {
    injected: injections.length,
    tokens,
    costUsd: formatUsd(cost),
    firstInjectedAt: firstInjectedAt === null ? null : new Date(firstInjectedAt).toISOString(),
    occurrences: occurrences.length,
    before: count(stageCallsBefore, before),
    withPrecedent: count(injections.length, withRecurrences),
    withoutPrecedent: count(Math.max(0, stageCallsAfter - injections.length), after.length - withRecurrences),
  };
}

function count(calls: number, recurrences: number): RecurrenceCount {
  return { calls, recurrences, rate: calls === 0 ? null : Math.round((recurrences / calls) * 1000) / 1000 };
}

export function precedentView(precedent: Precedent) {
  const { mergeKey: _mergeKey, ...rest } = precedent;
  return {
    ...rest,
    firstSeen: new Date(precedent.firstSeen).toISOString(),
    lastSeen: new Date(precedent.lastSeen).toISOString(),
  };
}
