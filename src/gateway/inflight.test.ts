import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../protocols/errors.js';
import { abortQuietly, InFlightCalls, trackCuts } from './inflight.js';

describe('cutting a call', () => {
  it('tells the relay at once and aborts the upstream request a turn later', async () => {
    const inflight = new InFlightCalls();
    const abort = new AbortController();
    const response = Object.assign(new EventEmitter(), { writableFinished: false, destroyed: false }) as unknown as ServerResponse;
    const tracking = trackCuts(inflight, ['run_child', 'run_parent'], 'call_1', abort, response);
    const heard: string[] = [];
    tracking.onCut(() => heard.push(`relay ${abort.signal.aborted ? 'after' : 'before'} abort`));
    const reason = new GatewayError('run_stopped', 'invalid_request', 'stopped', { retryable: false });
    const cut = inflight.cutRun('run_parent', reason);
    expect(cut.count).toBe(1);
    expect(heard).toEqual(['relay before abort']);
    expect(tracking.reason()).toBe(reason);
    expect(abort.signal.aborted).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(abort.signal.aborted).toBe(true);
    // The cut is over for the stop once the agent's response has finished.
    let ended = false;
    void cut.ended.then(() => { ended = true; });
    await new Promise((resolve) => setImmediate(resolve));
    expect(ended).toBe(false);
    response.emit('finish');
    await cut.ended;
    tracking.stop();
    expect(inflight.count()).toBe(0);
  });

  it('aborts without building stack frames, then restores the stack limit', () => {
    const before = Error.stackTraceLimit;
    const abort = new AbortController();
    let framesSeen = -1;
    abort.signal.addEventListener('abort', () => { framesSeen = Error.stackTraceLimit; });
    abortQuietly(abort);
    expect(abort.signal.aborted).toBe(true);
    expect(framesSeen).toBe(0);
    expect(Error.stackTraceLimit).toBe(before);
  });
});
