import type { GatewayError } from '../protocols/errors.js';

/** A call being relayed, which the gateway can end from outside (deadline, exhaustion, stop). */
export interface InFlightCall {
  id: string;
  cut(reason: GatewayError): void;
}

/**
 * The calls in flight, indexed by every run they belong to (their own and its ancestors),
 * so ending a run ends its sub-runs' calls too.
 */
export class InFlightCalls {
  private readonly byRun = new Map<string, Set<InFlightCall>>();

  add(runIds: string[], call: InFlightCall): () => void {
    for (const runId of runIds) {
      let calls = this.byRun.get(runId);
      if (!calls) this.byRun.set(runId, (calls = new Set()));
      calls.add(call);
    }
    return () => {
      for (const runId of runIds) {
        const calls = this.byRun.get(runId);
        calls?.delete(call);
        if (calls?.size === 0) this.byRun.delete(runId);
      }
    };
  }

  /** Cuts every call of the run and its sub-runs; returns how many. */
  cutRun(runId: string, reason: GatewayError): number {
    const calls = [...(this.byRun.get(runId) ?? [])];
    for (const call of calls) call.cut(reason);
    return calls.length;
  }

  count(runId?: string): number {
    if (runId !== undefined) return this.byRun.get(runId)?.size ?? 0;
    const all = new Set<InFlightCall>();
    for (const calls of this.byRun.values()) for (const call of calls) all.add(call);
    return all.size;
  }
}
