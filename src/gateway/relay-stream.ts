import type { ServerResponse } from 'node:http';
import { createParser } from 'eventsource-parser';
import { GatewayError } from '../protocols/errors.js';
import { eventJson, serializeEvent, type SseEvent } from '../protocols/sse.js';
import { StreamHold } from './approval-relay.js';
import { streamJudge } from './contracts.js';
import { firstEvent } from './http.js';
import { passthroughHeaders, upstreamRequestId, type RelayArguments } from './relay-json.js';
import type { CallRecord } from '../stores/ledger.js';
import type { CallOutcome } from './settle.js';
import { precedentHeaders } from './precedent-injection.js';

/**
 * A streamed answer, relayed event by event: each upstream event is parsed, metered and
 * re-emitted whole, so a cut never leaves half an event. The upstream is read only as
 * fast as the agent reads (backpressure), and the ledger entry is made durable before
 * the protocol's final event is sent.
 */
export async function relayStream(relay: RelayArguments): Promise<void> {
  const { gateway, adapter, call, upstream, response, abort, settle, cutReason, onCut } = relay;
  // Approval gates: from the first event of a gated tool call on, events are held, not sent.
  const hold = relay.gate && new StreamHold(relay.gate, call.request.protocol);
  const meter = adapter.meterStream(call.request);
  const requestId = upstreamRequestId(upstream.headers);
  const judge = streamJudge(call);
  const outcome = (status: CallOutcome['status'], httpStatus: number, errorCode: string | null): CallOutcome => ({
    // Only a stream that finished has an output to judge.
    contract: status === 'ok' ? judge?.judge() : undefined,
    status, httpStatus, errorCode,
    reported: meter.usage,
    reportedFinal: meter.usageFinal,
    deliveredOutput: meter.deliveredOutput(),
    billable: true,
    upstreamRequestId: requestId ?? meter.responseId ?? null,
  });

  response.writeHead(upstream.statusCode, {
    ...passthroughHeaders(upstream.headers),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-intime-call-id': call.id,
    // Headers leave before the output exists: the verdict is in the ledger (GET /api/calls/:id)
    // and in an SSE comment just before the stream's final event.
    ...(call.contract ? { 'x-intime-contract-verdict': 'pending' } : {}),
    ...precedentHeaders(call),
    ...gateway.budgets.clockHeaders(call.identity),
  });
  response.flushHeaders();

  const pending: SseEvent[] = [];
  const parser = createParser({ onEvent: (event) => pending.push({ event: event.event, data: event.data }) });
  const decoder = new TextDecoder();
  let finished = false;
  let ending: Promise<void> | undefined;
  // Events of one upstream chunk go out in one write: a syscall per event was the largest
  // single cost of relaying a fast stream. The batch is flushed before anything awaits.
  let batch = '';
  const flush = async () => {
    if (batch === '' || response.writableEnded) return;
    const ok = response.write(batch);
    batch = '';
    if (!ok) await drained(response);
  };
  // A cut ends the agent's response now, not when the aborted upstream read fails: the relay
  // may be waiting for the next token. A held answer is left to its hold, which knows how to end it.
  onCut(() => {
    // A ledger failure here is met again, and handled, where the relay's own path reaches endWithError.
    if (!hold?.holding) endWithError(cutReason()!, 'cut').catch(() => undefined);
  });
  try {
    for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      for (const event of pending) {
        // Once the gateway cuts the call, not one more event reaches the agent, even from a chunk already read.
        if (cutReason()) break;
        const json = eventJson(event);
        // Every event of these protocols is JSON but OpenAI's [DONE]; garbage from a broken
        // upstream would only make the agent's SDK throw, so it is dropped, not relayed.
        if (json === undefined && event.data !== '[DONE]') continue;
        if (json) judge?.observe(json);
        if (!meter.observe(event, json)) continue;
        if (hold?.take(event, json)) {
          finished ||= adapter.isFinalEvent(event, json);
          continue;
        }
        if (adapter.isFinalEvent(event, json)) {
          finished = true;
          await flush();
          const record = await settle(outcome('ok', upstream.statusCode, null));
          if (record?.contractName) batch += verdictComment(record);
        }
        call.firstTokenAtMonotonic ??= performance.now();
        batch += serializeEvent(event);
      }
      pending.length = 0;
      // A cut is only ever set while this loop awaits, and the batch is flushed before every await.
      if (cutReason()) break;
      await flush();
    }
  } catch {
    const cut = cutReason();
    if (cut) return endWithError(cut, 'cut');
    if (abort.signal.aborted) {
      await settle(outcome('client_aborted', 499, 'client_closed'));
      return;
    }
    return endWithError(new GatewayError('upstream_disconnected', 'upstream', 'the provider closed the stream before it finished', { retryable: false }));
  }
  const cut = cutReason();
  if (cut && !finished) return endWithError(cut, 'cut');
  if (!finished) {
    if (abort.signal.aborted) {
      await settle(outcome('client_aborted', 499, 'client_closed'));
      return;
    }
    return endWithError(new GatewayError('upstream_disconnected', 'upstream', 'the provider ended the stream without finishing it', { retryable: false }));
  }
  if (hold?.holding) return hold.release(relay, outcome);
  await settle(outcome('ok', upstream.statusCode, null));
  if (ending) return ending;
  response.end();

  /** Settles, then sends the protocol's error event and ends; once, whoever calls first. */
  function endWithError(error: GatewayError, status: CallOutcome['status'] = 'failed'): Promise<void> {
    ending ??= (async () => {
      await settle(outcome(status, error.status, error.code));
      if (!response.destroyed && !response.writableEnded) response.end(serializeEvent(adapter.streamErrorEvent(error)));
    })();
    return ending;
  }
}

/** Waits until the agent has taken what was written, or has gone away. */
function drained(response: ServerResponse): Promise<void> {
  return firstEvent(response, ['drain', 'close']);
}

/** An SSE comment: SDKs skip it, a raw reader of the stream sees the verdict before the end. */
function verdictComment(record: CallRecord): string {
  const violation = record.contractViolation ? ` ${JSON.stringify(record.contractViolation)}` : '';
  return `: x-intime-contract-verdict ${record.contractVerdict ?? 'none'} ${encodeURIComponent(record.contractName ?? '')}${record.contractVersion ? `@${record.contractVersion}` : ''}${violation}\n\n`;
}
