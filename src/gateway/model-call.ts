import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { ProtocolAdapter } from '../protocols/adapter.js';
import { asGatewayError, GatewayError } from '../protocols/errors.js';
import type { CallRecord } from '../stores/ledger.js';
import type { Gateway } from './gateway.js';
import { HOP_BY_HOP, parseJsonObject, readBody, sendJson } from './http.js';
import { readLabel } from './identity.js';
import { relayJson } from './relay-json.js';
import { relayStream } from './relay-stream.js';
import { newId } from './secrets.js';
import { priceCall, type CallContext, type CallOutcome } from './settle.js';
import { resolveUpstream } from './upstreams.js';

/**
 * The path of one model call: protocol in → admit → forward → meter → protocol out →
 * settle. Every exit after admission goes through `settle` exactly once.
 */
export async function handleModelCall(gateway: Gateway, adapter: ProtocolAdapter, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const startedAtMonotonic = performance.now();
  let call: CallContext;
  let upstream: ReturnType<typeof resolveUpstream>;
  let body: Buffer;
  let clientBody: Record<string, unknown>;
  try {
    const identity = await gateway.identities.resolve(request);
    body = await readBody(request, gateway.config.maxBodyBytes);
    clientBody = parseJsonObject(body);
    const parsed = adapter.parse(clientBody);
    const price = gateway.prices.lookup(parsed.model);
    if (!price) {
      throw new GatewayError('model_not_priced', 'invalid_request',
        `model "${parsed.model}" has no price in InTime's table; refusing rather than billing $0 (add it with a price file, or configure a default price)`,
        { param: 'model', retryable: false });
    }
    upstream = resolveUpstream(gateway.config, parsed.protocol, parsed.model, price);
    call = {
      id: newId('call'),
      identity,
      request: parsed,
      price,
      provider: upstream.provider,
      step: readLabel(request, 'x-intime-step'),
      agent: readLabel(request, 'x-intime-agent'),
      startedAt: Date.now(),
      startedAtMonotonic,
      firstTokenAtMonotonic: null,
    };
  } catch (error) {
    sendError(adapter, response, asGatewayError(error));
    return;
  }

  let settled = false;
  /** Writes the ledger entry; resolves once it is durable. Idempotent by construction. */
  const settle = async (outcome: CallOutcome): Promise<CallRecord | undefined> => {
    if (settled) return undefined;
    settled = true;
    const record = priceCall(call, outcome);
    try {
      await gateway.ledger.recordCall(record);
    } catch (error) {
      gateway.log.error('ledger write failed', { call: record.id, error: (error as Error).message });
      throw new GatewayError('ledger_unavailable', 'internal', 'the call could not be recorded in the ledger', { retryable: false, status: 503 });
    }
    gateway.log.debug('call settled', { call: record.id, run: record.runId, model: record.model, status: record.status, cost: record.cost.toString() });
    return record;
  };

  const abort = new AbortController();
  response.on('close', () => {
    if (!response.writableFinished) abort.abort();
  });

  let upstreamResponse: Dispatcher.ResponseData;
  try {
    // Forward the client's bytes untouched unless metering or routing had to change the body.
    const requestBody = call.request.upstreamBody === clientBody && upstream.model === call.request.model
      ? body
      : JSON.stringify({ ...call.request.upstreamBody, model: upstream.model });
    upstreamResponse = await gateway.dispatcher.request({
      origin: upstream.origin,
      path: upstream.path,
      method: 'POST',
      headers: upstreamHeaders(request, upstream.authHeaders),
      body: requestBody,
      signal: abort.signal,
      headersTimeout: gateway.config.upstreamHeadersTimeoutMs,
      bodyTimeout: 0,
    });
  } catch (error) {
    const clientLeft = abort.signal.aborted;
    const failure = clientLeft
      ? new GatewayError('client_closed', 'invalid_request', 'the client closed the connection', { status: 499 })
      : new GatewayError('upstream_unreachable', 'upstream', `provider "${upstream.provider}" is unreachable`, { status: 502 });
    gateway.log.warn('upstream request failed', { call: call.id, provider: upstream.provider, error: (error as Error).message });
    await settleQuietly(settle, gateway, {
      status: clientLeft ? 'client_aborted' : 'failed', httpStatus: failure.status, errorCode: failure.code,
      reported: undefined, reportedFinal: false, deliveredOutput: '', billable: false, upstreamRequestId: null,
    });
    if (!clientLeft) sendError(adapter, response, failure, call.id);
    return;
  }

  try {
    const isStream = call.request.stream && upstreamResponse.statusCode < 300 &&
      String(upstreamResponse.headers['content-type'] ?? '').includes('text/event-stream');
    if (isStream) await relayStream({ gateway, adapter, call, upstream: upstreamResponse, response, abort, settle });
    else await relayJson({ gateway, adapter, call, upstream: upstreamResponse, response, abort, settle });
  } catch (error) {
    const failure = asGatewayError(error);
    if (failure.code === 'internal_error') gateway.log.error('call failed', { call: call.id, error: (error as Error).stack });
    await settleQuietly(settle, gateway, {
      status: 'failed', httpStatus: failure.status, errorCode: failure.code,
      reported: undefined, reportedFinal: false, deliveredOutput: '', billable: false, upstreamRequestId: null,
    });
    if (!response.headersSent) sendError(adapter, response, failure, call.id);
    else response.destroy();
  }
}

async function settleQuietly(settle: (outcome: CallOutcome) => Promise<unknown>, gateway: Gateway, outcome: CallOutcome): Promise<void> {
  try {
    await settle(outcome);
  } catch (error) {
    gateway.log.error('settle failed', { error: (error as Error).message });
  }
}

/** The client's headers minus its credentials, our own labels and per-hop ones; plus the provider's auth. */
function upstreamHeaders(request: IncomingMessage, auth: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || name === 'authorization' || name === 'x-api-key' || name === 'cookie' || name.startsWith('x-intime-')) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  headers['content-type'] = 'application/json';
  headers['accept-encoding'] = 'identity';
  return Object.assign(headers, auth);
}

export function sendError(adapter: ProtocolAdapter, response: ServerResponse, error: GatewayError, callId?: string): void {
  const headers: Record<string, string> = {};
  if (!error.retryable) headers['x-should-retry'] = 'false';
  if (callId) headers['x-intime-call-id'] = callId;
  sendJson(response, error.status, adapter.errorBody(error), headers);
}
