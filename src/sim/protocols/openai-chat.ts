import { newId } from '../ids.js';
import type { OutputPlan } from '../output-plan.js';
import type { StreamEvent } from '../paced-stream.js';
import type { SimulatedCall } from '../simulated-call.js';
import { event, json, sse, type ProtocolRenderer } from './renderer.js';

/** OpenAI Chat Completions: POST /v1/chat/completions. */
const FINISH_REASON: Record<OutputPlan['finish'], string> = { stop: 'stop', length: 'length', tool_call: 'tool_calls' };
const SYSTEM_FINGERPRINT = 'intime-sim';

function usage(call: SimulatedCall, plan: OutputPlan) {
  return {
    prompt_tokens: call.promptTokens,
    completion_tokens: plan.outputTokens,
    total_tokens: call.promptTokens + plan.outputTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

function completeBody(call: SimulatedCall, plan: OutputPlan): string {
  const text = plan.textPieces.join('');
  const { toolCall } = plan;
  const message = {
    role: 'assistant',
    // A pure tool call has null content, as the real API sends it.
    content: toolCall !== undefined && text === '' ? null : text,
    refusal: null,
    annotations: [],
    ...(toolCall && { tool_calls: [{ id: toolCall.callId, type: 'function', function: { name: toolCall.name, arguments: toolCall.arguments } }] }),
  };
  return json({
    id: newId('chatcmpl-'),
    object: 'chat.completion',
    created: call.createdAt,
    model: call.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: FINISH_REASON[plan.finish] }],
    ...(call.directives.fault !== 'no-usage' && { usage: usage(call, plan) }),
    service_tier: 'default',
    system_fingerprint: SYSTEM_FINGERPRINT,
  });
}

/**
 * Every chunk shares its head and tail, so each token's event is three string
 * concatenations: the sim must be cheap enough to be a benchmark baseline.
 */
function* streamEvents(call: SimulatedCall, plan: OutputPlan): Generator<StreamEvent> {
  const head = `data: {"id":${json(newId('chatcmpl-'))},"object":"chat.completion.chunk","created":${call.createdAt},"model":${json(call.model)},"service_tier":"default","system_fingerprint":"${SYSTEM_FINGERPRINT}","choices":[`;
  // With include_usage, every chunk but the last says "usage":null; without it, no usage key at all.
  const usageTail = call.includeUsage ? ',"usage":null' : '';
  const chunk = (delta: string, finishReason = 'null') => `${head}{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finishReason}}]${usageTail}}\n\n`;
  const { toolCall } = plan;
  const opening = toolCall !== undefined && plan.textPieces.length === 0 ? 'null' : '""';
  yield event(chunk(`{"role":"assistant","content":${opening},"refusal":null}`));
  for (const piece of plan.textPieces) yield event(chunk(`{"content":${json(piece)}}`), 1);
  if (toolCall !== undefined) {
    const start = { index: 0, id: toolCall.callId, type: 'function', function: { name: toolCall.name, arguments: '' } };
    yield event(chunk(`{"tool_calls":[${json(start)}]}`), toolCall.nameTokens);
    for (const piece of toolCall.argumentPieces) {
      yield event(chunk(`{"tool_calls":[{"index":0,"function":{"arguments":${json(piece)}}}]}`), 1);
    }
  }
  yield event(chunk('{}', json(FINISH_REASON[plan.finish])));
  if (call.includeUsage && call.directives.fault !== 'no-usage') yield event(`${head}],"usage":${json(usage(call, plan))}}\n\n`);
  yield event(sse(undefined, '[DONE]'));
}

export const openAiChat: ProtocolRenderer = {
  completeBody,
  streamEvents,
  malformedEvent: () => sse(undefined, '{"id":"chatcmpl-malformed","object":"chat.completion.chunk","choices":[{"delta":{"content":"unterminated'),
  requestIdHeader: 'x-request-id',
};
