import type { ServerResponse } from 'node:http';
import type { GatewayError } from '../protocols/errors.js';
import { firstEvent } from './http.js';

/** A call being relayed, which the gateway can end from outside (deadline, exhaustion, stop). */
export interface InFlightCall {
  id: string;
  /** Cuts the call; resolves once the agent's response has ended (the error sent) or gone. */
  cut(reason: GatewayError): Promise<void>;
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

  /** Cuts every call of the run and its sub-runs: how many, and when their agents' responses have all ended. */
  cutRun(runId: string, reason: GatewayError): { count: number; ended: Promise<void> } {
    const calls = [...(this.byRun.get(runId) ?? [])];
    const ended = calls.map((call) => call.cut(reason));
    return { count: calls.length, ended: Promise.all(ended).then(() => undefined) };
  }

  count(runId?: string): number {
    if (runId !== undefined) return this.byRun.get(runId)?.size ?? 0;
    const all = new Set<InFlightCall>();
    for (const calls of this.byRun.values()) for (const call of calls) all.add(call);
    return all.size;
  }
}

/** One call's registration: why the gateway cut it (if it did), and who to tell at once. */
export interface CutTracking {
  reason(): GatewayError | undefined;
  /** The relay's hook: called the moment the call is cut. */
  onCut(listener: () => void): void;
  stop(): void;
}

/**
 * Registers a call so the gateway can cut it. A cut first tells the relay (which ends the
 * agent's response), then aborts the upstream request a turn later: aborting costs about
 * 0.1 ms each in undici, and a stop of many calls should end every agent's stream first.
 */
export function trackCuts(inflight: InFlightCalls, runIds: string[], id: string, abort: AbortController, response: ServerResponse): CutTracking {
  let reason: GatewayError | undefined;
  let listener: (() => void) | undefined;
  const stop = inflight.add(runIds, {
    id,
    cut(why) {
      if (!reason) {
        reason = why;
        listener?.();
        // Without the cut's error as the abort's reason: undici's streams would format its stack.
        setImmediate(() => abortQuietly(abort));
      }
      return responseEnded(response);
    },
  });
  return { reason: () => reason, onCut: (hook) => { listener = hook; }, stop };
}

/**
 * Aborts a call's upstream request. undici builds several errors on the way (the request's,
 * the socket's, the body stream's), and Node's stream destroy formats each one's stack,
 * which nobody reads: about half the CPU of an abort (0.2 ms each on a 2-core VM, times
 * every call a stop cuts). They are built without frames.
 */
export function abortQuietly(abort: AbortController): void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    abort.abort();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Resolves once a response has been handed to the OS in full, or its connection is gone. */
function responseEnded(response: ServerResponse): Promise<void> {
  if (response.writableFinished || response.destroyed) return Promise.resolve();
  return firstEvent(response, ['finish', 'close']);
}
