import type { LedgerStore } from '../stores/ledger.js';
import type { Principal } from './authorize.js';
import type { Logger } from './log.js';

export interface AuditRecord {
  actor: string;
  role?: Principal['role'];
  action: string;
  runId: string | null;
  target?: string | null;
  note?: string | null;
}

/** The audit trail: every stop, pause, resume, approve and deny, with who, when and why. */
export class AuditLog {
  constructor(private readonly ledger: LedgerStore, private readonly log: Logger, private readonly now: () => number = Date.now) {}

  async record(entry: AuditRecord): Promise<void> {
    try {
      await this.ledger.recordAudit({
        at: this.now(), actor: entry.actor, role: entry.role ?? 'admin', action: entry.action,
        runId: entry.runId, target: entry.target ?? null, note: entry.note ?? null,
      });
    } catch (error) {
      this.log.error('audit write failed', { action: entry.action, error: (error as Error).message });
    }
  }
}
