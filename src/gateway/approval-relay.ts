import type { Usage } from '../core/usage.js';
import { GatewayError } from '../protocols/errors.js';
import { serializeEvent, type SseEvent } from '../protocols/sse.js';
import { toolCallCodec } from '../protocols/tool-call-codecs.js';
import type { ObservedEvent, StreamToolWatcher } from '../protocols/tool-calls.js';
import type { CallGate, HoldOutcome } from './approval-gate.js';
import { sendJson } from './http.js';
import { judgeWholeResponse } from './contracts.js';
import { outcomeOf, sendSettledAnswer, type RelayArguments } from './relay-json.js';
import type { CallOutcome } from './settle.js';

/**
 * The relays' side of approval gates. An answer that asks for a gated tool is held here:
 * nothing of that tool call reaches the agent until every gated call in it is decided.
 * Then it is settled (the reservation was held all along), and sent: unchanged when
 * approved, without the denied calls when not, or as run_stopped under `onDeny: stop`.
 */

/** A whole answer: returns false (and does nothing) when it asks for no gated tool. */
export async function relayHeldJson(
  relay: RelayArguments & { gate: CallGate },
  answer: { json: Record<string, unknown>; text: string; usage: Usage | undefined; requestId: string | null },
): Promise<boolean> {
  const { gateway, adapter, call, upstream, response, abort, settle, cutReason, gate } = relay;
  const codec = toolCallCodec(call.request.protocol);
  const toolCalls = codec.toolCallsOf(answer.json);
  if (!toolCalls.some((toolCall) => gate.isGated(toolCall.name))) return false;
  const { json, text, usage } = answer;
  const requestId = answer.requestId ?? (typeof json.id === 'string' ? json.id : null);
  const delivered = usage ? '' : adapter.outputTextOf(json);

  const held = await gate.hold(toolCalls, abort.signal, () => cutReason()?.message);
  if (held.kind === 'release') {
    // The output is judged as the model wrote it, before any denied tool call is removed.
    const record = await settle({ ...outcomeOf('ok', upstream.statusCode, null, usage, delivered, requestId), contract: judgeWholeResponse(call, json) });
    const body = held.denied.size === 0 ? text : JSON.stringify(codec.withoutToolCalls(json, held.denied, held.text));
    sendSettledAnswer(relay, record, body);
    return true;
  }
  const error = endingError(held, cutReason());
  if (!error) {
    await settle(outcomeOf('client_aborted', 499, 'client_closed', usage, delivered, requestId));
    return true;
  }
  // The provider generated the whole answer: it is billed as reported, though the agent gets an error.
  await settle(outcomeOf('cut', error.status, error.code, usage, delivered, requestId));
  sendJson(response, error.status, adapter.errorBody(error), { 'x-should-retry': 'false', 'x-intime-call-id': call.id, ...gateway.budgets.clockHeaders(call.identity) });
  return true;
}

/** How often a held stream sends a comment while it waits for a decision. */
export const KEEP_ALIVE_MS = 15_000;

/**
 * A stream's hold: events before the first gated tool call pass; from it on, every event
 * is kept here (the upstream is still read to its end, for usage), then released at once.
 */
export class StreamHold {
  private readonly watcher: StreamToolWatcher;
  private readonly held: ObservedEvent[] = [];

  constructor(private readonly gate: CallGate, protocol: RelayArguments['call']['request']['protocol']) {
    this.watcher = toolCallCodec(protocol).watchStream((name) => gate.isGated(name));
  }

  /** Sees every event the agent would get; true when it was kept instead. */
  take(event: SseEvent, json: Record<string, unknown> | undefined): boolean {
    if (!this.watcher.holds(event, json)) return false;
    this.held.push({ event, json });
    return true;
  }

  get holding(): boolean {
    return this.held.length > 0;
  }

  /** After the upstream finished: wait for the decisions, settle, then send what they allow. */
  async release(relay: RelayArguments, outcome: (status: CallOutcome['status'], httpStatus: number, errorCode: string | null) => CallOutcome): Promise<void> {
    const { adapter, call, upstream, response, abort, settle, cutReason } = relay;
    // Deciding may take minutes: an SSE comment now and then keeps the agent's client and any
    // proxy from timing the quiet stream out. Both official SDKs skip comments.
    const keepAlive = setInterval(() => {
      if (!response.writableEnded && !response.destroyed) response.write(': waiting for approval\n\n');
    }, relay.gateway.config.approvals.keepAliveMs ?? KEEP_ALIVE_MS);
    let decided: HoldOutcome;
    try {
      decided = await this.gate.hold(this.watcher.toolCalls(this.held), abort.signal, () => cutReason()?.message);
    } finally {
      clearInterval(keepAlive);
    }
    if (decided.kind === 'release') {
      call.firstTokenAtMonotonic ??= performance.now();
      // Settled before the final event is written, as every stream is: the entry is durable first.
      await settle(outcome('ok', upstream.statusCode, null));
      const events = decided.denied.size === 0 ? this.held.map(({ event }) => event) : this.watcher.withoutToolCalls(this.held, decided.denied, decided.text);
      response.end(events.map(serializeEvent).join(''));
      return;
    }
    const error = endingError(decided, cutReason());
    if (!error) {
      await settle(outcome('client_aborted', 499, 'client_closed'));
      return;
    }
    await settle(outcome('cut', error.status, error.code));
    if (!response.destroyed) response.end(serializeEvent(adapter.streamErrorEvent(error)));
  }
}

/** The error the agent gets when a hold did not release its answer; undefined when the agent left. */
function endingError(held: Exclude<HoldOutcome, { kind: 'release' }>, cut: GatewayError | undefined): GatewayError | undefined {
  if (cut) return cut;
  if (held.kind === 'stopped') return new GatewayError('run_stopped', 'budget', 'the run was stopped: a tool call was denied');
  return undefined;
}
