import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { countPromptTokens } from '../core/tokenizer.js';
import type { ProtocolAdapter } from '../protocols/adapter.js';
import { asGatewayError, GatewayError } from '../protocols/errors.js';
import type { CallRecord, Identity } from '../stores/ledger.js';
import type { Admission } from './budgets.js';
import type { Gateway } from './gateway.js';
import { readAttempt, resolveExpectedOutput } from './contracts.js';
import { preparePrecedents } from './precedent-injection.js';
import { precedentFromSettledCall } from './precedent-recording.js';
import { HOP_BY_HOP, parseJsonObject, readBody, sendJson } from './http.js';
import { readLabel } from './identity.js';
import { abortQuietly, trackCuts } from './inflight.js';
import { relayJson } from './relay-json.js';
import { relayStream } from './relay-stream.js';
import { newId } from './secrets.js';
import { priceCall, type CallContext, type CallOutcome } from './settle.js';
import { resolveUpstream, type Upstream } from './upstreams.js';
import { handleRoutedCall, isRoutedModel } from './routing/routed-call.js';

/**
 * The path of one model call: protocol in → admit (identity, price, budget reservation) →
 * forward → relay (meter) → settle. Every exit after admission settles exactly once, and
 * the settlement releases the reservation.
 */
export async function handleModelCall(gateway: Gateway, adapter: ProtocolAdapter, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const startedAtMonotonic = performance.now();
  // Aborted when the agent goes away or the gateway cuts the call; reaches the upstream socket.
  const abort = new AbortController();
  response.on('close', () => {
    if (!response.writableFinished) abortQuietly(abort);
  });
  let identity: Identity | undefined;
  let call: CallContext;
  let upstream: Upstream;
  let requestBody: Buffer | string;
  let admission: Admission;
  let bodyReadAt = startedAtMonotonic;
  try {
    identity = await gateway.identities.resolve(request);
    const body = await readBody(request, gateway.config.maxBodyBytes);
    bodyReadAt = performance.now();
    const clientBody = parseJsonObject(body);
    const parsed = adapter.parse(clientBody);
    // intime/auto:<policy>: the cascade makes its own calls, one per attempt.
    if (isRoutedModel(parsed.model)) return await handleRoutedCall(gateway, adapter, request, response, { identity, body, clientBody, parsed, abort, startedAtMonotonic });
    const price = gateway.prices.lookup(parsed.model);
    if (!price) {
      throw new GatewayError('model_not_priced', 'invalid_request',
        `model "${parsed.model}" has no price in InTime's table; refusing rather than billing $0 (add it with a price file, or configure a default price)`,
        { param: 'model', retryable: false });
    }
    upstream = resolveUpstream(gateway.config, parsed.protocol, parsed.model, price);
    const contract = await resolveExpectedOutput(gateway, request, parsed.protocol, clientBody);
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
      contract,
      ...readAttempt(request),
    };
    await preparePrecedents(gateway, request, call);
    // Precedents, when injected, changed the body: what is forwarded is what is counted.
    const forwarded = call.request.upstreamBody;
    const promptTokens = countPromptTokens(parsed.protocol, forwarded);
    admission = await gateway.budgets.admit(call, promptTokens, body.includes('cache_control'), abort.signal);
    call.outputCap = admission.capOutput ? admission.outputTokens : parsed.maxOutputTokens;
    call.promptTokens = promptTokens;
    let upstreamBody = forwarded;
    if (admission.capOutput) upstreamBody = adapter.capOutput(upstreamBody, admission.outputTokens, upstream.provider);
    // Forward the client's bytes untouched unless metering, the budget or routing changed the body.
    requestBody = upstreamBody === clientBody && upstream.model === parsed.model
      ? body
      : JSON.stringify(upstream.model === parsed.model ? upstreamBody : { ...upstreamBody, model: upstream.model });
  } catch (error) {
    const failure = asGatewayError(error);
    if (failure.code === 'internal_error') gateway.log.error('admission failed', { error: (error as Error).stack });
    sendError(adapter, response, failure, { headers: identity ? gateway.budgets.clockHeaders(identity) : {} });
    return;
  }

  let settling: Promise<CallRecord | undefined> | undefined;
  /**
   * Writes the ledger entry, then charges the budgets; resolves once the entry is durable.
   * The first outcome wins; a later caller (a cut racing the final event) gets the same
   * promise, so it too waits for durability before ending the response.
   */
  const settle = (outcome: CallOutcome): Promise<CallRecord | undefined> => (settling ??= settleOnce(outcome));
  const settleOnce = async (outcome: CallOutcome): Promise<CallRecord | undefined> => {
    cuts.stop();
    const record = priceCall(call, outcome);
    await recordAndCharge(gateway, record);
    if (record.contractVerdict === 'failed' || (record.contractVerdict === 'passed' && record.retryOf)) {
      gateway.precedents.noteOutput(record.id, outcome.deliveredOutput);
      // After the fact, off the call's path; the next retrieval waits for the write.
      precedentFromSettledCall(gateway, record, call.identity.kind === 'run' ? call.identity.run : undefined)
        .catch((error: Error) => gateway.log.error('precedent recording failed', { call: record.id, error: error.message }));
    }
    gateway.log.debug('call settled', { call: record.id, run: record.runId, model: record.model, status: record.status, cost: record.cost.toString() });
    return record;
  };

  const cuts = trackCuts(gateway.inflight, admission.runIds, call.id, abort, response);

  // The gateway's own time: from the request read to forwarding it (parse, price, count, reserve; a paused run's hold too).
  gateway.metrics.observeOverhead((performance.now() - bodyReadAt) / 1000);
  let upstreamResponse: Dispatcher.ResponseData;
  try {
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
    const failure = cuts.reason() ?? (abort.signal.aborted
      ? new GatewayError('client_closed', 'invalid_request', 'the client closed the connection', { status: 499 })
      : new GatewayError('upstream_unreachable', 'upstream', `provider "${upstream.provider}" is unreachable`, { status: 502 }));
    if (!abort.signal.aborted) gateway.log.warn('upstream request failed', { call: call.id, provider: upstream.provider, error: (error as Error).message });
    const status: CallOutcome['status'] = cuts.reason() ? 'cut' : abort.signal.aborted ? 'client_aborted' : 'failed';
    await settleQuietly(settle, gateway, {
      status, httpStatus: failure.status, errorCode: failure.code,
      // A cut after forwarding: the provider had the prompt, so it is billed.
      reported: undefined, reportedFinal: false, deliveredOutput: '', billable: status === 'cut', upstreamRequestId: null,
    });
    if (status !== 'client_aborted') sendError(adapter, response, failure, { callId: call.id, headers: gateway.budgets.clockHeaders(call.identity) });
    return;
  }

  try {
    const isStream = call.request.stream && upstreamResponse.statusCode < 300 &&
      String(upstreamResponse.headers['content-type'] ?? '').includes('text/event-stream');
    const gate = gateway.approvals.gateFor(call, admission.runIds);
    const relay = { gateway, adapter, call, upstream: upstreamResponse, response, abort, settle, cutReason: cuts.reason, onCut: cuts.onCut, gate };
    if (isStream) await relayStream(relay);
    else await relayJson(relay);
  } catch (error) {
    const failure = asGatewayError(error);
    if (failure.code === 'internal_error') gateway.log.error('call failed', { call: call.id, error: (error as Error).stack });
    await settleQuietly(settle, gateway, {
      status: 'failed', httpStatus: failure.status, errorCode: failure.code,
      reported: undefined, reportedFinal: false, deliveredOutput: '', billable: false, upstreamRequestId: null,
    });
    if (!response.headersSent) sendError(adapter, response, failure, { callId: call.id, headers: gateway.budgets.clockHeaders(call.identity) });
    else response.destroy();
  }
}

/**
 * Makes a priced call durable in the ledger, then charges its budgets: awaited, so with a
 * shared (Redis) store whatever comes next sees it settled. Spent is spent: the budget is
 * charged even if the ledger write failed, which the caller hears as ledger_unavailable.
 */
export async function recordAndCharge(gateway: Gateway, record: CallRecord): Promise<void> {
  try {
    await gateway.ledger.recordCall(record);
  } catch (error) {
    gateway.log.error('ledger write failed', { call: record.id, error: (error as Error).message });
    throw new GatewayError('ledger_unavailable', 'internal', 'the call could not be recorded in the ledger', { retryable: false, status: 503 });
  } finally {
    await gateway.budgets.settle(record);
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
export function upstreamHeaders(request: IncomingMessage, auth: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || name === 'authorization' || name === 'x-api-key' || name === 'cookie' || name.startsWith('x-intime-')) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  headers['content-type'] = 'application/json';
  headers['accept-encoding'] = 'identity';
  return Object.assign(headers, auth);
}

export function sendError(adapter: ProtocolAdapter, response: ServerResponse, error: GatewayError, options: { callId?: string; headers?: Record<string, string> } = {}): void {
  const headers: Record<string, string> = { ...options.headers };
  if (!error.retryable) headers['x-should-retry'] = 'false';
  if (options.callId) headers['x-intime-call-id'] = options.callId;
  sendJson(response, error.status, adapter.errorBody(error), headers);
}
