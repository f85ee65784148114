import type { PriceTable } from '../core/prices.js';
import { costOf } from '../core/prices.js';
import { makeUsage } from '../core/usage.js';
import type { CallRecord, LedgerStore, ReservationRecord } from '../stores/ledger.js';
import type { Logger } from './log.js';

/**
 * Settles the reservations a crashed gateway left behind. Each was a call in flight: the
 * provider had its prompt, so the prompt is billed (estimated, from our count); what it
 * generated before the crash is unknown and not billed. The entry says so: status
 * "interrupted", estimated. Nothing stays reserved after a restart.
 */
export async function reconcileReservations(ledger: LedgerStore, prices: PriceTable, log: Logger): Promise<number> {
  const leftovers = await ledger.listReservations();
  for (const reservation of leftovers) await ledger.recordCall(interruptedCall(reservation, prices));
  if (leftovers.length > 0) log.warn('reconciled reservations left by a previous crash', { calls: leftovers.length });
  return leftovers.length;
}

/** The entry of a call whose gateway died while it was in flight: its prompt, billed as estimated. */
export function interruptedCall(reservation: ReservationRecord, prices: PriceTable): CallRecord {
  const usage = makeUsage({ inputTokens: reservation.promptTokens });
  const price = prices.lookup(reservation.model);
  return {
    id: reservation.id,
    runId: reservation.runId,
    keyId: reservation.keyId,
    project: reservation.project,
    step: reservation.step,
    agent: reservation.agent,
    provider: reservation.provider,
    model: reservation.model,
    protocol: reservation.protocol,
    stream: reservation.stream,
    ...usage,
    cost: price ? costOf(price, usage) : 0n,
    estimated: true,
    status: 'interrupted',
    httpStatus: 0,
    errorCode: 'gateway_restarted',
    upstreamRequestId: null,
    startedAt: reservation.createdAt,
    latencyMs: 0,
    timeToFirstTokenMs: null,
    routePolicy: null,
  };
}
