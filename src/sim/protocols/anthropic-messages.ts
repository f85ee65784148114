import { newId } from '../ids.js';
import type { OutputPlan } from '../output-plan.js';
import type { StreamEvent } from '../paced-stream.js';
import type { SimulatedCall } from '../simulated-call.js';
import { event, json, sse, type ProtocolRenderer } from './renderer.js';

/** Anthropic Messages: POST /v1/messages. */
const STOP_REASON: Record<OutputPlan['finish'], string> = { stop: 'end_turn', length: 'max_tokens', tool_call: 'tool_use' };

function fullUsage(call: SimulatedCall, outputTokens: number) {
  return {
    input_tokens: call.promptTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: outputTokens,
    service_tier: 'standard',
  };
}

/** A text block is present unless the answer is a tool call with no text before it. */
function hasText(plan: OutputPlan): boolean {
  return plan.toolCall === undefined || plan.textPieces.length > 0;
}

/** A tool_use block's input is an object; arguments cut short by max_tokens parse to nothing. */
function toolInput(argumentsText: string): unknown {
  try {
    return JSON.parse(argumentsText);
  } catch {
    return {};
  }
}

function completeBody(call: SimulatedCall, plan: OutputPlan): string {
  const content: unknown[] = [];
  if (hasText(plan)) content.push({ type: 'text', text: plan.textPieces.join('') });
  const { toolCall } = plan;
  if (toolCall !== undefined) content.push({ type: 'tool_use', id: toolCall.callId, name: toolCall.name, input: toolInput(toolCall.arguments) });
  return json({
    id: newId('msg_'),
    type: 'message',
    role: 'assistant',
    model: call.model,
    content,
    stop_reason: STOP_REASON[plan.finish],
    stop_sequence: null,
    ...(call.directives.fault !== 'no-usage' && { usage: fullUsage(call, plan.outputTokens) }),
  });
}

function* streamEvents(call: SimulatedCall, plan: OutputPlan): Generator<StreamEvent> {
  // Under no-usage the usage objects stay, empty: the SDK's MessageStream reads
  // event.usage.output_tokens unconditionally and would throw on a missing object.
  const withUsage = call.directives.fault !== 'no-usage';
  const emit = (type: string, fields: Record<string, unknown>, tokens = 0) => event(sse(type, json({ type, ...fields })), tokens);
  const message = {
    id: newId('msg_'),
    type: 'message',
    role: 'assistant',
    model: call.model,
    content: [],
    stop_reason: null,
    stop_sequence: null,
    // The real API reports output_tokens: 1 at the start and the true total in message_delta.
    usage: withUsage ? fullUsage(call, 1) : {},
  };
  yield emit('message_start', { message });
  let index = 0;
  if (hasText(plan)) {
    yield emit('content_block_start', { index, content_block: { type: 'text', text: '' } });
    yield event(sse('ping', '{"type":"ping"}'));
    const deltaHead = `event: content_block_delta\ndata: {"type":"content_block_delta","index":${index},"delta":{"type":"text_delta","text":`;
    for (const piece of plan.textPieces) yield event(`${deltaHead}${json(piece)}}}\n\n`, 1);
    yield emit('content_block_stop', { index });
    index++;
  }
  const { toolCall } = plan;
  if (toolCall !== undefined) {
    const block = { type: 'tool_use', id: toolCall.callId, name: toolCall.name, input: {} };
    yield emit('content_block_start', { index, content_block: block }, toolCall.nameTokens);
    if (index === 0) yield event(sse('ping', '{"type":"ping"}'));
    for (const piece of toolCall.argumentPieces) {
      yield emit('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } }, 1);
    }
    yield emit('content_block_stop', { index });
  }
  yield emit('message_delta', {
    delta: { stop_reason: STOP_REASON[plan.finish], stop_sequence: null },
    usage: withUsage ? { output_tokens: plan.outputTokens } : {},
  });
  yield emit('message_stop', {});
}

export const anthropicMessages: ProtocolRenderer = {
  completeBody,
  streamEvents,
  malformedEvent: () => sse('content_block_delta', '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"unterminated'),
  requestIdHeader: 'request-id',
};
