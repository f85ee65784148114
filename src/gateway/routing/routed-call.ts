import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { formatUsd } from '../../core/money.js';
import { toUsdNumber } from '../../core/routing/usd.js';
import { countPromptTokens } from '../../core/tokenizer.js';
import type { CallRequest, ProtocolAdapter } from '../../protocols/adapter.js';
import { asGatewayError, GatewayError } from '../../protocols/errors.js';
import type { CallRecord, ContractJudgement, Identity } from '../../stores/ledger.js';
import type { ExpectedOutput } from '../../contracts/expected-output.js';
import { judgeWholeResponse, readAttempt, resolveExpectedOutput } from '../contracts.js';
import type { Gateway } from '../gateway.js';
import { readLabel } from '../identity.js';
import { trackCuts } from '../inflight.js';
import { recordAndCharge, sendError, upstreamHeaders } from '../model-call.js';
import { relayHeldJson } from '../approval-relay.js';
import { outcomeOf, passthroughHeaders, sendSettledAnswer, upstreamRequestId, type RelayArguments } from '../relay-json.js';
import { relayStream } from '../relay-stream.js';
import { newId } from '../secrets.js';
import { priceCall, type CallContext, type CallOutcome } from '../settle.js';
import { resolveUpstream } from '../upstreams.js';
import { AUTO_PREFIX } from './registry.js';

/** What model-call.ts hands over once it has read and parsed a request for `intime/auto:<policy>`. */
export interface RoutedRequest {
  identity: Identity;
  body: Buffer;
  /** The request as the agent sent it: where its own schema, if any, is read from. */
  clientBody: Record<string, unknown>;
  parsed: CallRequest;
  abort: AbortController;
  startedAtMonotonic: number;
}

export function isRoutedModel(model: string): boolean {
  return model.startsWith(AUTO_PREFIX);
}

/**
 * A call to a routed model: the cascade. Each attempt is a call of its own, admitted
 * against the run's budget (its worst case reserved), forwarded, metered and written to
 * the ledger. An attempt whose provider fails (429, 5xx, unreachable) falls back to the
 * next model; a whole answer that fails the contract (the request's own schema, or the
 * registered one `x-intime-contract` names) escalates to the next model, and stays on the
 * ledger with verdict `failed`: waste, as GET /api/waste counts it. The agent gets one
 * answer, saying which model gave it (x-intime-model), or a clear error when the budget
 * cannot cover the next attempt.
 */
export async function handleRoutedCall(
  gateway: Gateway, adapter: ProtocolAdapter, request: IncomingMessage, response: ServerResponse, routed: RoutedRequest,
): Promise<void> {
  const { identity, parsed, abort } = routed;
  const name = parsed.model.slice(AUTO_PREFIX.length);
  const policy = gateway.routing.get(name);
  if (!policy) {
    throw new GatewayError('not_found', 'not_found', `no routing policy "${name}" (define it in the config's routing.policies or with PUT /api/routing-policies/${name})`, { param: 'model', retryable: false });
  }
  // An unknown contract name is refused here, before any attempt is paid for.
  const contract = await resolveExpectedOutput(gateway, request, parsed.protocol, routed.clientBody);
  const tags = readAttempt(request);
  const step = readLabel(request, 'x-intime-step');
  const stage = step ?? name;
  const promptTokens = countPromptTokens(parsed.protocol, parsed.upstreamBody);
  const run = identity.kind === 'run' ? identity.run : undefined;
  const decision = gateway.routing.decide(policy, stage, promptTokens, parsed.maxOutputTokens,
    run && { id: run.id, budgetUsd: run.budget === null ? null : toUsdNumber(run.budget) });
  const order = decision.choice.order;
  response.setHeader('x-intime-route-policy', name);
  response.setHeader('x-intime-route-order', order.join(','));
  if (decision.exploring) response.setHeader('x-intime-route-exploring', 'true');

  // The router learns from each settled attempt through the ledger's events (learning.ts).
  let spent = 0n;
  let previousCallId = tags.retryOf;
  for (let index = 0; index < order.length; index++) {
    const model = order[index]!;
    const isLast = index === order.length - 1;
    response.setHeader('x-intime-model', model);
    response.setHeader('x-intime-attempts', String(index + 1));
    let attempt: Attempt;
    try {
      attempt = await startAttempt(gateway, adapter, request, response, routed, {
        model, step, routePolicy: name, contract, attempt: tags.attempt + index, retryOf: previousCallId,
        settled: (record) => { spent += record.cost; },
      });
    } catch (error) {
      const failure = asGatewayError(error);
      if (failure.code === 'internal_error') gateway.log.error('routed attempt failed', { error: (error as Error).stack });
      // The first attempt refused is a refusal like any call's; a later one stops the cascade, and says why.
      const stopped = index === 0 ? failure : new GatewayError(failure.code, failure.kind,
        `${failure.message}; the cascade of ${AUTO_PREFIX}${name} stopped before trying ${model} (attempt ${index + 1} of ${order.length})`, { status: failure.status, retryable: failure.retryable });
      // Name the models that did answer (none on a first refusal), not the one refused.
      if (index === 0) response.removeHeader('x-intime-model');
      else response.setHeader('x-intime-model', order[index - 1]!);
      response.setHeader('x-intime-attempts', String(index));
      return sendError(adapter, response, stopped, { headers: gateway.budgets.clockHeaders(identity) });
    }
    previousCallId = attempt.call.id;
    const result = await attempt.forward();
    if (result.kind === 'done') return;
    if (result.kind === 'provider_error') {
      if (!isLast && !abort.signal.aborted) continue;
      if (abort.signal.aborted) return;
      response.writeHead(result.status, { ...passthroughHeaders(result.headers), 'x-intime-call-id': attempt.call.id, ...gateway.budgets.clockHeaders(identity) });
      response.end(result.text);
      return;
    }
    // A whole answer: judge it against the contract.
    const judgement = judgeWholeResponse(attempt.call, result.json);
    if (judgement?.verdict === 'failed' && !isLast) {
      await attempt.settle({ ...outcomeOf('ok', result.upstream.statusCode, null, result.usage, result.usage ? '' : adapter.outputTextOf(result.json), result.requestId), contract: judgement });
      gateway.log.info('contract failed; escalating', { call: attempt.call.id, model, next: order[index + 1], violation: judgement.violation });
      if (abort.signal.aborted) return;
      continue;
    }
    // What every attempt of this call cost, the failed ones included: the library counts it as the stage's spend.
    await attempt.deliver(result, judgement, () => response.setHeader('x-intime-route-spent-usd', formatUsd(spent)));
    return;
  }
}

type ForwardResult =
  | { kind: 'done' }
  | { kind: 'provider_error'; status: number; text: string; headers: Dispatcher.ResponseData['headers'] }
  | { kind: 'answer'; upstream: Dispatcher.ResponseData; text: string; json: Record<string, unknown>; usage: ReturnType<ProtocolAdapter['usageOf']>; requestId: string | null };

interface Attempt {
  call: CallContext;
  settle(outcome: CallOutcome): Promise<CallRecord | undefined>;
  forward(): Promise<ForwardResult>;
  /** Settles the answer with its judgement and hands it to the agent; `beforeSend` runs once it is priced. */
  deliver(answer: Extract<ForwardResult, { kind: 'answer' }>, judgement: ContractJudgement | undefined, beforeSend: () => void): Promise<void>;
}

/** One attempt of a cascade: which model, under which contract, and where it stands in the chain of retries. */
interface AttemptPlan {
  model: string;
  step: string | null;
  routePolicy: string;
  contract: ExpectedOutput | undefined;
  attempt: number;
  retryOf: string | null;
  /** Called with every ledger row the attempt writes. */
  settled: (record: CallRecord) => void;
}

/** Statuses another model may fix: rate limits and provider failures. */
function isProviderError(status: number): boolean {
  return status === 429 || status >= 500;
}

/** Admits one attempt (reserving its worst case); throws the budget's refusal when it does not fit. */
async function startAttempt(
  gateway: Gateway, adapter: ProtocolAdapter, request: IncomingMessage, response: ServerResponse, routed: RoutedRequest, plan: AttemptPlan,
): Promise<Attempt> {
  const { model, step, routePolicy, contract, attempt, retryOf } = plan;
  const { identity, parsed, abort, body } = routed;
  const price = gateway.prices.lookup(model);
  if (!price) throw new GatewayError('model_not_priced', 'invalid_request', `routed model "${model}" has no price`, { retryable: false });
  const upstream = resolveUpstream(gateway.config, parsed.protocol, model, price);
  const attemptRequest: CallRequest = { ...parsed, model, upstreamBody: { ...parsed.upstreamBody, model } };
  const call: CallContext = {
    id: newId('call'), identity, request: attemptRequest, price, provider: upstream.provider, step, routePolicy, contract, attempt, retryOf,
    agent: readLabel(request, 'x-intime-agent'), startedAt: Date.now(), startedAtMonotonic: performance.now(), firstTokenAtMonotonic: null,
  };
  const promptTokens = countPromptTokens(parsed.protocol, attemptRequest.upstreamBody);
  const admission = await gateway.budgets.admit(call, promptTokens, body.includes('cache_control'), abort.signal);
  call.outputCap = admission.capOutput ? admission.outputTokens : parsed.maxOutputTokens;
  call.promptTokens = promptTokens;
  let upstreamBody = attemptRequest.upstreamBody;
  if (admission.capOutput) upstreamBody = adapter.capOutput(upstreamBody, admission.outputTokens, upstream.provider);
  const requestBody = JSON.stringify({ ...upstreamBody, model: upstream.model });

  const attemptAbort = new AbortController();
  const onClientAbort = () => attemptAbort.abort();
  abort.signal.addEventListener('abort', onClientAbort, { once: true });
  const cuts = trackCuts(gateway.inflight, admission.runIds, call.id, attemptAbort, response);
  let settling: Promise<CallRecord | undefined> | undefined;
  const settle = (outcome: CallOutcome) => (settling ??= (async () => {
    cuts.stop();
    abort.signal.removeEventListener('abort', onClientAbort);
    const record = priceCall(call, outcome);
    try {
      // The next attempt's admission sees this one settled, even with a shared (Redis) store.
      await recordAndCharge(gateway, record);
    } finally {
      plan.settled(record);
    }
    return record;
  })());
  const relayOf = (upstreamResponse: Dispatcher.ResponseData): RelayArguments => ({
    gateway, adapter, call, upstream: upstreamResponse, response, abort: attemptAbort, settle,
    cutReason: cuts.reason, onCut: cuts.onCut, gate: gateway.approvals.gateFor(call, admission.runIds),
  });
  const failQuietly = async (outcome: CallOutcome) => {
    try {
      return await settle(outcome);
    } catch (error) {
      gateway.log.error('settle failed', { error: (error as Error).message });
      return undefined;
    }
  };

  return {
    call,
    settle,
    async forward(): Promise<ForwardResult> {
      let upstreamResponse: Dispatcher.ResponseData;
      try {
        upstreamResponse = await gateway.dispatcher.request({
          origin: upstream.origin, path: upstream.path, method: 'POST', headers: upstreamHeaders(request, upstream.authHeaders),
          body: requestBody, signal: attemptAbort.signal, headersTimeout: gateway.config.upstreamHeadersTimeoutMs, bodyTimeout: 0,
        });
      } catch {
        // A cut after forwarding is billed (the provider had the prompt); an agent that left before the answer is not.
        if (cuts.reason() || abort.signal.aborted) return endAborted(cuts.reason() !== undefined);
        // Unreachable: nothing was generated, nothing is billed; the next model may answer.
        await failQuietly({ ...outcomeOf('failed', 502, 'upstream_unreachable', undefined, '', null), billable: false });
        const error = new GatewayError('upstream_unreachable', 'upstream', `provider "${upstream.provider}" is unreachable`, { status: 502 });
        return { kind: 'provider_error', status: 502, text: JSON.stringify(adapter.errorBody(error)), headers: { 'content-type': 'application/json' } };
      }
      const isStream = parsed.stream && upstreamResponse.statusCode < 300 && String(upstreamResponse.headers['content-type'] ?? '').includes('text/event-stream');
      if (isStream) {
        // A stream reaches the agent as it comes: judged at its end (ledger, SSE comment), no escalation, only fallback before it starts.
        try {
          await relayStream(relayOf(upstreamResponse));
        } catch (error) {
          await failQuietly({ ...outcomeOf('failed', 502, asGatewayError(error).code, undefined, '', null), billable: false });
          if (!response.headersSent) sendError(adapter, response, asGatewayError(error), { callId: call.id });
          else response.destroy();
        }
        return { kind: 'done' };
      }
      let text: string;
      try {
        text = await upstreamResponse.body.text();
      } catch {
        // The provider worked on the prompt: billed either way.
        if (cuts.reason() || abort.signal.aborted) return endAborted(true);
        await failQuietly({ ...outcomeOf('failed', 502, 'upstream_disconnected', undefined, '', null), billable: false });
        const error = new GatewayError('upstream_disconnected', 'upstream', 'the provider closed the connection before answering');
        return { kind: 'provider_error', status: 502, text: JSON.stringify(adapter.errorBody(error)), headers: { 'content-type': 'application/json' } };
      }
      const requestId = upstreamRequestId(upstreamResponse.headers);
      if (upstreamResponse.statusCode >= 400) {
        await failQuietly({ ...outcomeOf('upstream_error', upstreamResponse.statusCode, `upstream_${upstreamResponse.statusCode}`, undefined, '', requestId), billable: false });
        if (isProviderError(upstreamResponse.statusCode)) return { kind: 'provider_error', status: upstreamResponse.statusCode, text, headers: upstreamResponse.headers };
        // The request itself was refused: another model would refuse it too. Hand the refusal over.
        response.writeHead(upstreamResponse.statusCode, { ...passthroughHeaders(upstreamResponse.headers), 'x-intime-call-id': call.id, ...gateway.budgets.clockHeaders(identity) });
        response.end(text);
        return { kind: 'done' };
      }
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // Billed (the provider generated it), and another model may do better.
        await failQuietly(outcomeOf('failed', 502, 'upstream_malformed_response', undefined, text, requestId));
        const error = new GatewayError('upstream_malformed_response', 'upstream', 'the provider answered with malformed JSON', { retryable: false });
        return { kind: 'provider_error', status: 502, text: JSON.stringify(adapter.errorBody(error)), headers: { 'content-type': 'application/json' } };
      }
      return { kind: 'answer', upstream: upstreamResponse, text, json, usage: adapter.usageOf(json), requestId: requestId ?? (typeof json.id === 'string' ? json.id : null) };
    },
    async deliver(answer, judgement, beforeSend) {
      const relay = relayOf(answer.upstream);
      try {
        if (relay.gate && (await relayHeldJson({ ...relay, gate: relay.gate }, answer))) return;
        // A last attempt that fails its contract is still delivered (the agent decides), and marked.
        const record = await settle({ ...outcomeOf('ok', answer.upstream.statusCode, null, answer.usage, answer.usage ? '' : adapter.outputTextOf(answer.json), answer.requestId), contract: judgement });
        beforeSend();
        sendSettledAnswer(relay, record, answer.text);
      } catch (error) {
        const failure = asGatewayError(error);
        if (!response.headersSent) sendError(adapter, response, failure, { callId: call.id, headers: gateway.budgets.clockHeaders(identity) });
        else response.destroy();
      }
    },
  };

  async function endAborted(billable: boolean): Promise<ForwardResult> {
    const status: CallOutcome['status'] = cuts.reason() ? 'cut' : 'client_aborted';
    const failure = cuts.reason() ?? new GatewayError('client_closed', 'invalid_request', 'the client closed the connection', { status: 499 });
    await failQuietly({ ...outcomeOf(status, failure.status, failure.code, undefined, '', null), reportedFinal: false, billable });
    if (status === 'cut') sendError(adapter, response, failure, { callId: call.id, headers: gateway.budgets.clockHeaders(identity) });
    return { kind: 'done' };
  }
}

