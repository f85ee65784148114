import { GatewayError } from '../protocols/errors.js';

interface HeldCall {
  resolve(): void;
  reject(error: GatewayError): void;
}

/**
 * Calls of a paused run wait here, not failed: in arrival order, until the run resumes
 * (released in order), is stopped (refused), the hold time runs out (run_paused_timeout),
 * or the agent goes away.
 */
export class PauseGate {
  private readonly held = new Map<string, HeldCall[]>();

  /** Whether calls of this run are waiting here. */
  holding(runId: string): boolean {
    return (this.held.get(runId)?.length ?? 0) > 0;
  }

  hold(runId: string, holdMs: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const queue = this.held.get(runId) ?? [];
      this.held.set(runId, queue);
      const leave = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const index = queue.indexOf(entry);
        if (index >= 0) queue.splice(index, 1);
        if (queue.length === 0 && this.held.get(runId) === queue) this.held.delete(runId);
      };
      const entry: HeldCall = {
        resolve: () => { leave(); resolve(); },
        reject: (error) => { leave(); reject(error); },
      };
      const timer = setTimeout(() => entry.reject(new GatewayError('run_paused_timeout', 'budget',
        `run ${runId} stayed paused longer than the ${holdMs} ms this call may be held`)), holdMs);
      const onAbort = () => entry.reject(new GatewayError('client_closed', 'invalid_request', 'the client left while the call was held', { status: 499 }));
      signal.addEventListener('abort', onAbort, { once: true });
      queue.push(entry);
    });
  }

  /** Lets the held calls of a run go, first come first served. */
  release(runId: string): number {
    const queue = [...(this.held.get(runId) ?? [])];
    for (const entry of queue) entry.resolve();
    return queue.length;
  }

  /** Refuses every held call of a run (it was stopped while they waited). */
  fail(runId: string, error: GatewayError): number {
    const queue = [...(this.held.get(runId) ?? [])];
    for (const entry of queue) entry.reject(error);
    return queue.length;
  }

  count(runId: string): number {
    return this.held.get(runId)?.length ?? 0;
  }
}
