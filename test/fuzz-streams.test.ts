import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callsOf, startStack, type CallView, type Stack } from './harness.js';

/**
 * Broken upstream streams, generated (fixed seed, bounded runs): a scripted provider sends
 * a real-shaped stream cut into arbitrary chunks, truncated, with garbage between events,
 * usage missing or duplicated, data that is not JSON. Each call still ends for the agent
 * (the final event, or the protocol's error event), is in the ledger exactly once, billed
 * from the upstream's usage when it is there and marked estimated when it is not.
 */
const SEED = 777;
let stack: Stack;
let upstream: Server;
/** What the scripted provider sends next: chunks written one by one, then the end. */
let script: Buffer[] = [];

beforeAll(async () => {
  upstream = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunks = script;
      let index = 0;
      const next = () => {
        if (index >= chunks.length) return response.end();
        response.write(chunks[index++]!, () => setImmediate(next));
      };
      next();
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  stack = await startStack({ upstream: () => url });
});
afterAll(async () => {
  await stack.close();
  await new Promise((resolve) => upstream.close(resolve));
});

type Protocol = 'chat' | 'messages';
const USAGE = { input: 11, output: 5 };

function chatEvents(): string[] {
  const chunk = (delta: object, finish: string | null = null) => JSON.stringify({
    id: 'chatcmpl-fuzz', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini',
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
  return [
    chunk({ role: 'assistant', content: '' }),
    chunk({ content: 'Hello' }), chunk({ content: ' there' }), chunk({ content: ', agent' }), chunk({ content: '.' }),
    chunk({}, 'stop'),
    JSON.stringify({ id: 'chatcmpl-fuzz', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: USAGE.input, completion_tokens: USAGE.output, total_tokens: USAGE.input + USAGE.output } }),
    '[DONE]',
  ].map((data) => `data: ${data}\n\n`);
}

function messagesEvents(): string[] {
  const event = (type: string, body: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;
  return [
    event('message_start', { message: { id: 'msg_fuzz', type: 'message', role: 'assistant', model: 'claude-haiku-4-5', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: USAGE.input, output_tokens: 1 } } }),
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hello' } }),
    event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: ' there, agent.' } }),
    event('content_block_stop', { index: 0 }),
    event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: USAGE.output } }),
    event('message_stop', {}),
  ];
}

const USAGE_EVENT_INDEX: Record<Protocol, number> = { chat: 6, messages: 5 };

async function streamCall(protocol: Protocol, runToken: string): Promise<{ status: number; text: string }> {
  const path = protocol === 'chat' ? '/v1/chat/completions' : '/v1/messages';
  const body = protocol === 'chat'
    ? { model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }
    : { model: 'claude-haiku-4-5', stream: true, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] };
  const auth: Record<string, string> = protocol === 'chat' ? { authorization: `Bearer ${runToken}` } : { 'x-api-key': runToken };
  const response = await fetch(`${stack.gateway.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify(body) });
  return { status: response.status, text: await response.text() };
}

/** Cuts the bytes into chunks at the given positions (any byte, inside UTF-8 sequences too). */
function splitAt(bytes: Buffer, positions: number[]): Buffer[] {
  const cuts = [...new Set(positions.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    if (cut > from) chunks.push(bytes.subarray(from, cut));
    from = Math.max(from, cut);
  }
  if (from < bytes.length) chunks.push(bytes.subarray(from));
  return chunks;
}

function endedProperly(protocol: Protocol, text: string): 'final' | 'error' | 'neither' {
  if (protocol === 'chat' && text.trimEnd().endsWith('data: [DONE]')) return 'final';
  if (protocol === 'messages' && /event: message_stop\ndata: [^\n]*\n\n$/.test(text)) return 'final';
  const last = text.trimEnd().split('\n\n').at(-1) ?? '';
  if (last.includes('"error"')) return 'error';
  return 'neither';
}

async function onlyCall(runId: string): Promise<CallView> {
  const calls = await callsOf(stack, runId);
  expect(calls).toHaveLength(1);
  return calls[0]!;
}

const protocolArbitrary = fc.constantFrom<Protocol>('chat', 'messages');

describe('upstream stream fuzzing', () => {
  it('split at arbitrary bytes (or at every byte): the agent gets the same events and the exact usage is billed', async () => {
    await fc.assert(fc.asyncProperty(protocolArbitrary, fc.oneof(fc.array(fc.nat(), { maxLength: 40 }), fc.constant('every-byte' as const)), async (protocol, positions) => {
      const events = protocol === 'chat' ? chatEvents() : messagesEvents();
      const bytes = Buffer.from(events.join(''));
      script = positions === 'every-byte' ? [...bytes].map((byte) => Buffer.from([byte])) : splitAt(bytes, positions);
      const run = await stack.createRun();
      const result = await streamCall(protocol, run.token);
      expect(result.status).toBe(200);
      expect(result.text).toBe(events.join(''));
      const call = await onlyCall(run.id);
      expect(call).toMatchObject({ status: 'ok', estimated: false, inputTokens: USAGE.input, outputTokens: USAGE.output });
    }), { seed: SEED, numRuns: 40 });
  });

  it('truncated anywhere: the agent gets an error event, the call is billed as estimated, never lost', async () => {
    await fc.assert(fc.asyncProperty(protocolArbitrary, fc.nat(), async (protocol, at) => {
      const bytes = Buffer.from((protocol === 'chat' ? chatEvents() : messagesEvents()).join(''));
      const cut = at % bytes.length; // strictly before the end
      script = [bytes.subarray(0, cut)];
      const run = await stack.createRun();
      const result = await streamCall(protocol, run.token);
      expect(result.status).toBe(200);
      const call = await onlyCall(run.id);
      const ending = endedProperly(protocol, result.text);
      if (ending === 'final') {
        // Cut after the final event's bytes were whole: the answer was complete.
        expect(call.status).toBe('ok');
      } else {
        expect(ending).toBe('error');
        expect(call.status).toBe('failed');
        expect(call.errorCode).toBe('upstream_disconnected');
        // Without the usage event the count is ours; with it (Anthropic sends input first) it may be partly real.
        if (cut < Buffer.byteLength((protocol === 'chat' ? chatEvents() : messagesEvents()).slice(0, USAGE_EVENT_INDEX[protocol] + 1).join(''))) {
          expect(call.estimated).toBe(true);
        }
      }
    }), { seed: SEED, numRuns: 40 });
  });

  it('garbage between events, non-JSON data, missing or duplicated usage: a correct ending and one ledger entry', async () => {
    const garbage = fc.constantFrom(': keep-alive\n\n', 'data: not json at all\n\n', 'data: {"unterminated": \n\n', 'event: ping\ndata: {}\n\n', 'retry: 10\n\n', 'id: 5\n\n', '\n\n\n', 'data: [1,2,3]\n\n', 'data: null\n\n', 'data: "string"\n\n', ': \u00ff\u00fe binary-ish\n\n');
    await fc.assert(fc.asyncProperty(
      protocolArbitrary,
      fc.array(fc.tuple(fc.nat(), garbage), { maxLength: 5 }),
      fc.constantFrom('keep', 'drop', 'duplicate'),
      fc.array(fc.nat(), { maxLength: 10 }),
      async (protocol, insertions, usageMode, positions) => {
        const events = protocol === 'chat' ? chatEvents() : messagesEvents();
        const usageIndex = USAGE_EVENT_INDEX[protocol];
        const usageEvent = events[usageIndex]!;
        const withUsage = usageMode === 'drop' ? events.filter((_, i) => i !== usageIndex)
          : usageMode === 'duplicate' ? [...events.slice(0, usageIndex + 1), usageEvent, ...events.slice(usageIndex + 1)] : events;
        const mixed = [...withUsage];
        for (const [at, junk] of insertions) mixed.splice(1 + (at % (mixed.length - 1)), 0, junk);
        script = splitAt(Buffer.from(mixed.join('')), positions);
        const run = await stack.createRun();
        const result = await streamCall(protocol, run.token);
        expect(result.status).toBe(200);
        expect(endedProperly(protocol, result.text)).toBe('final');
        // Garbage never reaches the agent: only the protocol's own JSON events (and [DONE]).
        for (const block of result.text.trimEnd().split('\n\n')) {
          const data = block.split('\n').find((line) => line.startsWith('data: '))?.slice(6);
          expect(data === '[DONE]' || (data !== undefined && typeof JSON.parse(data) === 'object' && JSON.parse(data) !== null && !Array.isArray(JSON.parse(data))), block).toBe(true);
        }
        const call = await onlyCall(run.id);
        expect(call.status).toBe('ok');
        if (usageMode === 'drop' && protocol === 'chat') {
          expect(call.estimated).toBe(true);
          expect(call.outputTokens).toBeGreaterThan(0);
        } else if (usageMode !== 'drop') {
          // A duplicated usage event is the same cumulative count again: billed once, not twice.
          expect(call).toMatchObject({ estimated: false, inputTokens: USAGE.input, outputTokens: USAGE.output });
        }
      },
    ), { seed: SEED, numRuns: 60 });
    expect(stack.gateway.gateway.inflight.count()).toBe(0);
  });
});
