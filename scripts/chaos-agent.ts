/**
 * One agent call for the chaos run, through the official client of its protocol, reporting
 * what the client itself saw: whether the answer arrived whole, its call id, and the usage
 * the provider reported in it.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { Fault } from '../src/sim/directives.js';

export interface CallShape {
  protocol: 'chat' | 'responses' | 'anthropic';
  stream: boolean;
  fault: Fault | undefined;
  /** Ask the sim for a call of a gated tool (send_email): the answer waits for a decision. */
  gatedTool: boolean;
  /** The client gives up after this long. */
  abortAfterMs: number | undefined;
  outputTokens: number;
}

export interface AgentOutcome {
  shape: CallShape;
  runId: string;
  /** The client received the whole answer (non-stream: parsed; stream: ended by the protocol's final event). */
  completed: boolean;
  callId: string | undefined;
  /** Prompt (all kinds) and output tokens as the provider reported them to the client. */
  usage: { input: number; output: number } | undefined;
  errorCode: string | undefined;
}

export async function agentCall(gatewayUrl: string, token: string, runId: string, shape: CallShape): Promise<AgentOutcome> {
  const headers: Record<string, string> = { 'x-sim-output-tokens': String(shape.outputTokens), 'x-sim-tokens-per-second': '2000' };
  if (shape.fault) headers['x-sim-fault'] = shape.fault;
  if (shape.gatedTool) Object.assign(headers, { 'x-sim-tool-call': 'send_email', 'x-sim-tool-args': '{"to":"ops@example.com"}' });
  const abort = new AbortController();
  const timer = shape.abortAfterMs === undefined ? undefined : setTimeout(() => abort.abort(), shape.abortAfterMs);
  const options = { headers, signal: abort.signal, timeout: 15_000 };
  const outcome: AgentOutcome = { shape, runId, completed: false, callId: undefined, usage: undefined, errorCode: undefined };
  try {
    if (shape.protocol === 'anthropic') await anthropicCall(gatewayUrl, token, shape, options, outcome);
    else await openAiCall(gatewayUrl, token, shape, options, outcome);
  } catch (error) {
    const body = error as { code?: string; error?: { error?: { code?: string; type?: string } } };
    outcome.completed = false;
    outcome.errorCode = body.code ?? body.error?.error?.code ?? body.error?.error?.type ?? (error as Error).name;
  } finally {
    clearTimeout(timer);
  }
  return outcome;
}

type Options = { headers: Record<string, string>; signal: AbortSignal; timeout: number };

async function openAiCall(url: string, token: string, shape: CallShape, options: Options, outcome: AgentOutcome): Promise<void> {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: token, maxRetries: 0 });
  if (shape.protocol === 'chat') {
    const body = { model: 'gpt-4o-mini', max_tokens: 200, messages: [{ role: 'user' as const, content: 'chaos' }] };
    if (shape.stream) {
      const { data: stream, response } = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } }, options).withResponse();
      outcome.callId = response.headers.get('x-intime-call-id') ?? undefined;
      let usage: OpenAI.CompletionUsage | undefined;
      let finished = false;
      for await (const chunk of stream) {
        if (chunk.usage) usage = chunk.usage;
        if (chunk.choices[0]?.finish_reason) finished = true;
      }
      // The SDK's iterator ends cleanly only at [DONE]; an error event throws instead.
      outcome.completed = finished;
      if (usage) outcome.usage = { input: usage.prompt_tokens, output: usage.completion_tokens };
      return;
    }
    const { data, response } = await client.chat.completions.create(body, options).withResponse();
    outcome.callId = response.headers.get('x-intime-call-id') ?? undefined;
    outcome.completed = true;
    if (data.usage) outcome.usage = { input: data.usage.prompt_tokens, output: data.usage.completion_tokens };
    return;
  }
  const body = { model: 'gpt-4o-mini', max_output_tokens: 200, input: 'chaos' };
  if (shape.stream) {
    const { data: stream, response } = await client.responses.create({ ...body, stream: true }, options).withResponse();
    outcome.callId = response.headers.get('x-intime-call-id') ?? undefined;
    for await (const event of stream) {
      if (event.type === 'response.completed') {
        outcome.completed = true;
        const usage = event.response.usage;
        if (usage) outcome.usage = { input: usage.input_tokens, output: usage.output_tokens };
      }
    }
    return;
  }
  const { data, response } = await client.responses.create(body, options).withResponse();
  outcome.callId = response.headers.get('x-intime-call-id') ?? undefined;
  outcome.completed = true;
  if (data.usage) outcome.usage = { input: data.usage.input_tokens, output: data.usage.output_tokens };
}

async function anthropicCall(url: string, token: string, shape: CallShape, options: Options, outcome: AgentOutcome): Promise<void> {
  const client = new Anthropic({ baseURL: url, apiKey: token, maxRetries: 0 });
  const body = { model: 'claude-haiku-4-5', max_tokens: 200, messages: [{ role: 'user' as const, content: 'chaos' }] };
  if (shape.stream) {
    const { data: stream, response } = await client.messages.create({ ...body, stream: true }, options).withResponse();
    outcome.callId = response.headers.get('x-intime-call-id') ?? undefined;
    let input = 0;
    let output: number | undefined;
    for await (const event of stream) {
      if (event.type === 'message_start') input = event.message.usage.input_tokens + (event.message.usage.cache_read_input_tokens ?? 0) + (event.message.usage.cache_creation_input_tokens ?? 0);
      if (event.type === 'message_delta') output = event.usage.output_tokens;
      if (event.type === 'message_stop') outcome.completed = true;
    }
    if (outcome.completed && output !== undefined) outcome.usage = { input, output };
    return;
  }
  const { data, response } = await client.messages.create(body, options).withResponse();
  outcome.callId = response.headers.get('x-intime-call-id') ?? undefined;
  outcome.completed = true;
  const usage = data.usage;
  outcome.usage = { input: usage.input_tokens + (usage.cache_read_input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0), output: usage.output_tokens };
}
