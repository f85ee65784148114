import type { PriceTable } from '../core/prices.js';
import { costOf } from '../core/prices.js';
import { makeUsage } from '../core/usage.js';
import type { LedgerStore } from '../stores/ledger.js';
import type { Logger } from './log.js';

/**
 * Settles the reservations a crashed gateway left behind. Each was a call in flight: the
 * provider had its prompt, so the prompt is billed (estimated, from our count); what it
 * generated before the crash is unknown and not billed. The entry says so: status
 * "interrupted", estimated. Nothing stays reserved after a restart.
 */
export async function reconcileReservations(ledger: LedgerStore, prices: PriceTable, log: Logger): Promise<number> {
  const leftovers = await ledger.listReservations();
  for (const reservation of leftovers) {
    const usage = makeUsage({ inputTokens: reservation.promptTokens });
    const price = prices.lookup(reservation.model);
    await ledger.recordCall({
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
    });
  }
  if (leftovers.length > 0) log.warn('reconciled reservations left by a previous crash', { calls: leftovers.length });
  return leftovers.length;
}
