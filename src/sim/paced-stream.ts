import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';

/** One server-sent event, already serialized, and how many output tokens it delivers. */
export interface StreamEvent {
  text: string;
  tokens: number;
}

export interface PacedStreamOptions {
  response: ServerResponse;
  events: Iterator<StreamEvent>;
  /** Wait this long (after the headers) before the first event. */
  delayMs: number;
  /** 0 streams as fast as the socket takes it. */
  tokensPerSecond: number;
  /** Output tokens of the whole stream, to place a mid-stream fault halfway. */
  totalTokens: number;
  fault: 'disconnect-mid-stream' | 'malformed-json' | undefined;
  /** The event sent once, halfway, under the malformed-json fault. */
  malformedEvent: string;
  /** Updated as events are written, read by whoever reports on the stream. */
  progress: { tokensSent: number };
}

/** Large enough to amortize syscalls, small enough to keep pacing and backpressure honest. */
const MAX_BATCH_CHARS = 64 * 1024;

/**
 * Writes a stream of events, paced to a token rate and respecting backpressure. Pacing
 * uses one timer per batch: each wake-up sends every token that is due by then, so high
 * rates cost a timer per millisecond, not per token. When the client goes away the
 * timer is cleared at once and nothing more is generated.
 */
export function writePacedStream(options: PacedStreamOptions): void {
  const { response, events, progress, fault, tokensPerSecond } = options;
  const faultAtTokens = Math.floor(options.totalTokens / 2);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let faultDone = fault === undefined;
  let pending: StreamEvent | undefined;
  let pacingStart = 0;

  const stop = () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    response.off('drain', pump);
  };
  response.once('close', stop);

  function tokensDue(now: number): number {
    return tokensPerSecond > 0 ? Math.floor(((now - pacingStart) * tokensPerSecond) / 1000) + 1 : Infinity;
  }

  function pump(): void {
    try {
      writeDueEvents();
    } catch {
      // A generator bug must not take the process down: drop this one stream.
      stop();
      response.destroy();
    }
  }

  function writeDueEvents(): void {
    timer = undefined;
    if (stopped) return;
    const due = tokensDue(performance.now());
    let batch = '';
    for (;;) {
      if (pending === undefined) {
        const next = events.next();
        if (next.done === true) {
          stop();
          response.end(batch);
          return;
        }
        pending = next.value;
      }
      if (pending.tokens > 0 && progress.tokensSent >= due) break;
      // Halfway means just before a token event; a stream without tokens gets its fault first thing.
      const faultIsDue = !faultDone && progress.tokensSent >= faultAtTokens && (pending.tokens > 0 || options.totalTokens === 0);
      if (faultIsDue) {
        faultDone = true;
        if (fault === 'disconnect-mid-stream') return cutConnection(batch);
        batch += options.malformedEvent;
      }
      batch += pending.text;
      progress.tokensSent += pending.tokens;
      pending = undefined;
      if (batch.length >= MAX_BATCH_CHARS) {
        const flowing = response.write(batch);
        batch = '';
        if (!flowing) return void response.once('drain', pump);
      }
    }
    if (batch.length > 0 && !response.write(batch)) return void response.once('drain', pump);
    const nextTokenAt = pacingStart + (progress.tokensSent * 1000) / tokensPerSecond;
    timer = setTimeout(pump, Math.max(0, nextTokenAt - performance.now()));
  }

  /** Sends what was produced, then drops the connection without ending the body. */
  function cutConnection(batch: string): void {
    stop();
    if (batch.length > 0) response.write(batch);
    const socket = response.socket;
    if (socket === null) return void response.destroy();
    socket.end(() => socket.destroy());
  }

  function start(): void {
    pacingStart = performance.now();
    pump();
  }

  // Headers go out now; the latency applies to the first event, like a model's time to first token.
  response.flushHeaders();
  if (options.delayMs > 0) timer = setTimeout(start, options.delayMs);
  else start();
}
