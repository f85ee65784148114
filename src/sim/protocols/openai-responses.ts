import { newId } from '../ids.js';
import type { OutputPlan } from '../output-plan.js';
import type { StreamEvent } from '../paced-stream.js';
import type { SimulatedCall } from '../simulated-call.js';
import { event, json, sse, type ProtocolRenderer } from './renderer.js';

/** OpenAI Responses: POST /v1/responses. */
type Status = 'in_progress' | 'completed' | 'incomplete';

interface Ids {
  response: string;
  message: string;
}

function usage(call: SimulatedCall, plan: OutputPlan) {
  return {
    input_tokens: call.promptTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: plan.outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: call.promptTokens + plan.outputTokens,
  };
}

function finalStatus(plan: OutputPlan): Status {
  return plan.finish === 'length' ? 'incomplete' : 'completed';
}

/** A message item is present unless the answer is a tool call with no text before it. */
function hasMessage(plan: OutputPlan): boolean {
  return plan.toolCall === undefined || plan.textPieces.length > 0;
}

function messageItem(ids: Ids, status: Status, text: string | undefined) {
  const content = text === undefined ? [] : [{ type: 'output_text', annotations: [], logprobs: [], text }];
  return { id: ids.message, type: 'message', status, content, role: 'assistant' };
}

function functionCallItem(plan: OutputPlan, status: Status, argumentsText: string) {
  const call = plan.toolCall!;
  return { id: call.itemId, type: 'function_call', status, arguments: argumentsText, call_id: call.callId, name: call.name };
}

function finalOutput(ids: Ids, plan: OutputPlan): unknown[] {
  const status = finalStatus(plan);
  const output: unknown[] = [];
  if (hasMessage(plan)) output.push(messageItem(ids, status, plan.textPieces.join('')));
  if (plan.toolCall !== undefined) output.push(functionCallItem(plan, status, plan.toolCall.arguments));
  return output;
}

/** The response object; the request's settings are echoed back, as the real API does. */
function responseObject(call: SimulatedCall, ids: Ids, status: Status, output: unknown[], plan: OutputPlan) {
  const { body } = call;
  const withUsage = status !== 'in_progress' && call.directives.fault !== 'no-usage';
  return {
    id: ids.response,
    object: 'response',
    created_at: call.createdAt,
    status,
    background: false,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    max_tool_calls: null,
    model: call.model,
    output,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: body.text ?? { format: { type: 'text' }, verbosity: 'medium' },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_p: body.top_p ?? 1,
    truncation: 'disabled',
    ...(status === 'in_progress' ? { usage: null } : withUsage && { usage: usage(call, plan) }),
    user: null,
    metadata: body.metadata ?? {},
  };
}

function newIds(): Ids {
  return { response: newId('resp_'), message: newId('msg_') };
}

function completeBody(call: SimulatedCall, plan: OutputPlan): string {
  const ids = newIds();
  return json(responseObject(call, ids, finalStatus(plan), finalOutput(ids, plan), plan));
}

function* streamEvents(call: SimulatedCall, plan: OutputPlan): Generator<StreamEvent> {
  const ids = newIds();
  let sequence = 0;
  // Every event names its type twice, in the SSE event field and in the JSON.
  const emit = (type: string, fields: Record<string, unknown>, tokens = 0) =>
    event(sse(type, json({ type, sequence_number: sequence++, ...fields })), tokens);

  yield emit('response.created', { response: responseObject(call, ids, 'in_progress', [], plan) });
  yield emit('response.in_progress', { response: responseObject(call, ids, 'in_progress', [], plan) });
  const status = finalStatus(plan);
  let outputIndex = 0;
  if (hasMessage(plan)) {
    const place = { item_id: ids.message, output_index: outputIndex, content_index: 0 };
    const text = plan.textPieces.join('');
    yield emit('response.output_item.added', { output_index: outputIndex, item: messageItem(ids, 'in_progress', undefined) });
    yield emit('response.content_part.added', { ...place, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } });
    const deltaHead = `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":`;
    const deltaPlace = `,"item_id":${json(ids.message)},"output_index":${outputIndex},"content_index":0,"delta":`;
    for (const piece of plan.textPieces) yield event(`${deltaHead}${sequence++}${deltaPlace}${json(piece)},"logprobs":[]}\n\n`, 1);
    yield emit('response.output_text.done', { ...place, text, logprobs: [] });
    yield emit('response.content_part.done', { ...place, part: { type: 'output_text', annotations: [], logprobs: [], text } });
    yield emit('response.output_item.done', { output_index: outputIndex, item: messageItem(ids, status, text) });
    outputIndex++;
  }
  const { toolCall } = plan;
  if (toolCall !== undefined) {
    const place = { item_id: toolCall.itemId, output_index: outputIndex };
    yield emit('response.output_item.added', { output_index: outputIndex, item: functionCallItem(plan, 'in_progress', '') }, toolCall.nameTokens);
    for (const piece of toolCall.argumentPieces) yield emit('response.function_call_arguments.delta', { ...place, delta: piece }, 1);
    yield emit('response.function_call_arguments.done', { ...place, name: toolCall.name, arguments: toolCall.arguments });
    yield emit('response.output_item.done', { output_index: outputIndex, item: functionCallItem(plan, status, toolCall.arguments) });
  }
  // A response cut by max_output_tokens ends with response.incomplete, not response.completed.
  const finalType = status === 'incomplete' ? 'response.incomplete' : 'response.completed';
  yield emit(finalType, { response: responseObject(call, ids, status, finalOutput(ids, plan), plan) });
}

export const openAiResponses: ProtocolRenderer = {
  completeBody,
  streamEvents,
  malformedEvent: () => sse('response.output_text.delta', '{"type":"response.output_text.delta","delta":"unterminated'),
  requestIdHeader: 'x-request-id',
};
