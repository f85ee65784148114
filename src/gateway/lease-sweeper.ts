import type { PriceTable } from '../core/prices.js';
import type { CallRecord, LedgerStore } from '../stores/ledger.js';
import type { RedisBudgetStore } from '../stores/redis-budget-store.js';
import type { Logger } from './log.js';
import { interruptedCall } from './reconcile.js';

/**
 * Reclaims the reservations of replicas that died: their leases ran out because nobody
 * renews them. Each is resolved from the shared ledger so the counters and the ledger
 * agree to the unit: a call the dead replica had recorded is charged at its recorded
 * cost; a call it had forwarded but not recorded is recorded as interrupted (its prompt,
 * estimated, as after a crash of a single gateway) and charged that; a call it never
 * forwarded is released. Every replica sweeps; settling twice is a no-op.
 */
export class LeaseSweeper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(private readonly store: RedisBudgetStore, private readonly ledger: LedgerStore, private readonly prices: PriceTable, private readonly log: Logger) {}

  start(): void {
    this.timer = setInterval(() => void this.sweep().catch(() => undefined), Math.max(25, Math.floor(this.store.leaseMs / 8)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async sweep(): Promise<number> {
    if (this.sweeping) return 0;
    // Just back from an outage: every replica reconnects about now; give the live ones a
    // moment to renew their leases before deciding which owners are dead.
    if (Date.now() - this.store.readySince < this.store.leaseMs / 4) return 0;
    this.sweeping = true;
    try {
      const expired = await this.store.expiredReservations(200);
      if (expired.length === 0) return 0;
      const leftovers = new Map((await this.ledger.listReservations()).map((row) => [row.id, row]));
      for (const id of expired) {
        let call = await this.ledger.getCall(id);
        const leftover = leftovers.get(id);
        if (!call && leftover) {
          // Another replica may record it at the same moment: one entry wins, the other is ignored.
          await this.ledger.recordCall({ ...interruptedCall(leftover, this.prices), errorCode: 'replica_lost' }).catch(() => undefined);
          call = await this.ledger.getCall(id);
        }
        if (call) await this.store.settle(id, amountsOf(call), Date.now());
        else await this.store.release(id);
      }
      this.log.warn('reclaimed reservations of a lost replica', { count: expired.length });
      return expired.length;
    } finally {
      this.sweeping = false;
    }
  }
}

function amountsOf(call: CallRecord) {
  return { money: call.cost, tokens: call.inputTokens + call.cacheReadTokens + call.cacheWriteTokens + call.outputTokens, calls: 1 };
}
