import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { formatUsd } from '../core/money.js';
import type { ProtocolAdapter } from '../protocols/adapter.js';
import { GatewayError } from '../protocols/errors.js';
import type { CallRecord } from '../stores/ledger.js';
import type { CallGate } from './approval-gate.js';
import { relayHeldJson } from './approval-relay.js';
import { judgeWholeResponse, verdictHeaders } from './contracts.js';
import type { Gateway } from './gateway.js';
import { HOP_BY_HOP, sendJson } from './http.js';
import type { CallContext, CallOutcome } from './settle.js';
import { precedentHeaders } from './precedent-injection.js';

export interface RelayArguments {
  gateway: Gateway;
  adapter: ProtocolAdapter;
  call: CallContext;
  upstream: Dispatcher.ResponseData;
  response: ServerResponse;
  abort: AbortController;
  settle: (outcome: CallOutcome) => Promise<CallRecord | undefined>;
  /** Set when the gateway itself ended the call (deadline, exhausted or stopped run). */
  cutReason: () => GatewayError | undefined;
  /**
   * Registers what to do the moment the gateway cuts the call, before the upstream abort
   * has surfaced in the relay (a stream relay ends the agent's response at once).
   */
  onCut: (listener: () => void) => void;
  /** Set when an approval policy gates some tools for this call. */
  gate?: CallGate | undefined;
}

/** A whole (non-streamed) answer: read it, price it, record it, then hand it over unchanged. */
export async function relayJson(relay: RelayArguments): Promise<void> {
  const { gateway, adapter, call, upstream, response, abort, settle, cutReason, gate } = relay;
  const requestId = upstreamRequestId(upstream.headers);
  let text: string;
  try {
    text = await upstream.body.text();
  } catch {
    const cut = cutReason();
    if (cut) {
      await settle(outcomeOf('cut', cut.status, cut.code, undefined, '', requestId));
      sendJson(response, cut.status, adapter.errorBody(cut), { 'x-should-retry': 'false', 'x-intime-call-id': call.id, ...gateway.budgets.clockHeaders(call.identity) });
      return;
    }
    if (!abort.signal.aborted) throw new GatewayError('upstream_disconnected', 'upstream', 'the provider closed the connection before answering');
    // The agent left while the provider worked on its prompt: the prompt is billed.
    await settle(outcomeOf('client_aborted', 499, 'client_closed', undefined, '', requestId));
    return;
  }
  if (upstream.statusCode >= 400) {
    // Providers do not bill refused or failed requests; the error goes back as the provider wrote it.
    await settle({ ...outcomeOf('upstream_error', upstream.statusCode, `upstream_${upstream.statusCode}`, undefined, '', requestId), billable: false });
    response.writeHead(upstream.statusCode, { ...passthroughHeaders(upstream.headers), 'x-intime-call-id': call.id, ...gateway.budgets.clockHeaders(call.identity) });
    response.end(text);
    return;
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // The provider generated something and will bill it; we count what it sent.
    await settle(outcomeOf('failed', 502, 'upstream_malformed_response', undefined, text, requestId));
    throw new GatewayError('upstream_malformed_response', 'upstream', 'the provider answered with malformed JSON', { retryable: false });
  }
  const usage = adapter.usageOf(json);
  if (gate && (await relayHeldJson({ ...relay, gate }, { json, text, usage, requestId }))) return;
  const outcome = outcomeOf('ok', upstream.statusCode, null, usage, usage ? '' : adapter.outputTextOf(json), requestId ?? stringOrNull(json.id));
  // A failure found now or by the library's checks later is recorded with what the model wrote.
  if (call.contract) gateway.precedents.noteOutput(call.id, outcome.deliveredOutput || adapter.outputTextOf(json));
  // Judged before settling so the verdict is in the same ledger write as the cost.
  const record = await settle({ ...outcome, contract: judgeWholeResponse(call, json) });
  sendSettledAnswer(relay, record, text);
}

/** Hands a priced answer to the agent: the provider's headers, what the call cost, the clock. */
export function sendSettledAnswer({ gateway, call, upstream, response }: RelayArguments, record: CallRecord | undefined, body: string): void {
  response.writeHead(upstream.statusCode, {
    ...passthroughHeaders(upstream.headers),
    'content-length': Buffer.byteLength(body),
    ...(record ? costHeaders(record) : {}),
    ...verdictHeaders(record),
    ...precedentHeaders(call),
    ...gateway.budgets.clockHeaders(call.identity),
  });
  response.end(body);
}

export function outcomeOf(
  status: CallOutcome['status'], httpStatus: number, errorCode: string | null,
  reported: CallOutcome['reported'], deliveredOutput: string, upstreamRequestId: string | null,
): CallOutcome {
  return { status, httpStatus, errorCode, reported, reportedFinal: reported !== undefined, deliveredOutput, billable: true, upstreamRequestId };
}

export function costHeaders(record: CallRecord): Record<string, string> {
  return {
    'x-intime-call-id': record.id,
    'x-intime-cost-usd': formatUsd(record.cost),
    'x-intime-estimated': String(record.estimated),
  };
}

/** The provider's response headers worth keeping: request ids, rate limits, content type. */
export function passthroughHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || name === 'set-cookie' || name === 'date') continue;
    kept[name] = value;
  }
  return kept;
}

export function upstreamRequestId(headers: IncomingHttpHeaders): string | null {
  const value = headers['x-request-id'] ?? headers['request-id'];
  return typeof value === 'string' ? value : null;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}
