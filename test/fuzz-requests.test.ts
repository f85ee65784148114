import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callsOf, startStack, type Stack } from './harness.js';

/**
 * Hostile and broken requests, generated (fixed seed, bounded runs): every one gets either a
 * correct metered answer or a clear 4xx in the provider's error shape. Never a 5xx of our
 * own, never a crash, never a ledger entry for a call that was not forwarded, and the
 * gateway's memory stays bounded across the whole barrage.
 */
const SEED = 4242;
const MAX_BODY = 256 * 1024;
let stack: Stack;
let token: string;
let runId: string;

beforeAll(async () => {
  stack = await startStack({ config: (config) => ({ ...config, maxBodyBytes: MAX_BODY }) });
  ({ token, id: runId } = await stack.createRun({ name: 'fuzz' }));
});
afterAll(() => stack.close());

const PATHS = ['/v1/chat/completions', '/v1/responses', '/v1/messages'] as const;
type Path = typeof PATHS[number];

interface Sent { status: number; body: unknown; text: string }

async function send(path: Path, body: Uint8Array | string, headers: Record<string, string> = {}): Promise<Sent> {
  const auth: Record<string, string> = path === '/v1/messages' ? { 'x-api-key': token } : { authorization: `Bearer ${token}` };
  const response = await fetch(`${stack.gateway.url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...auth, ...headers } });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, body: parsed, text };
}

/** A 4xx in the provider's own error shape, with a message a person can act on. */
function expectProviderError(path: Path, sent: Sent): void {
  expect(sent.status, sent.text).toBeGreaterThanOrEqual(400);
  expect(sent.status, sent.text).toBeLessThan(500);
  const body = sent.body as Record<string, any>;
  if (path === '/v1/messages') {
    expect(body.type, sent.text).toBe('error');
    expect(typeof body.error?.type, sent.text).toBe('string');
    expect(String(body.error?.message).length, sent.text).toBeGreaterThan(5);
  } else {
    expect(typeof body.error?.message, sent.text).toBe('string');
    expect(String(body.error.message).length, sent.text).toBeGreaterThan(5);
    expect(typeof body.error?.type, sent.text).toBe('string');
  }
}

function expectAnswerOrProviderError(path: Path, sent: Sent): void {
  if (sent.status === 200) {
    expect(sent.body, sent.text).toBeTypeOf('object');
    return;
  }
  expectProviderError(path, sent);
}

/** A valid request of each protocol, which the generators then break field by field. */
function validBody(path: Path): Record<string, unknown> {
  if (path === '/v1/chat/completions') return { model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'hello' }] };
  if (path === '/v1/responses') return { model: 'gpt-4o-mini', max_output_tokens: 16, input: 'hello' };
  return { model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'hello' }] };
}

const pathArbitrary = fc.constantFrom(...PATHS);
const FIELDS = ['model', 'messages', 'input', 'max_tokens', 'max_output_tokens', 'stream', 'stream_options', 'tools', 'system', 'temperature', 'n', 'response_format', 'text'];

describe('request fuzzing', () => {
  it('any JSON value as the body: a metered answer or a provider-shaped 4xx', async () => {
    await fc.assert(fc.asyncProperty(pathArbitrary, fc.jsonValue({ maxDepth: 4 }), async (path, value) => {
      expectAnswerOrProviderError(path, await send(path, JSON.stringify(value)));
    }), { seed: SEED, numRuns: 150 });
  });

  it('valid requests with fields replaced by values of any type, or unknown fields added', async () => {
    await fc.assert(fc.asyncProperty(
      pathArbitrary,
      fc.array(fc.tuple(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 12 })), fc.jsonValue({ maxDepth: 3 })), { maxLength: 4 }),
      fc.boolean(),
      async (path, replacements, stream) => {
        const body: Record<string, unknown> = { ...validBody(path), stream };
        for (const [field, value] of replacements) body[field] = value;
        const sent = await send(path, JSON.stringify(body));
        // Streams answer 200 with SSE: then the text is events, not JSON; both are fine here.
        if (sent.status === 200) return;
        expectProviderError(path, sent);
      },
    ), { seed: SEED, numRuns: 200 });
  });

  it('truncated, byte-flipped and invalid UTF-8 bodies', async () => {
    await fc.assert(fc.asyncProperty(
      pathArbitrary,
      fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      async (path, cut, flips) => {
        const bytes = Buffer.from(JSON.stringify(validBody(path)));
        const broken = Buffer.from(bytes.subarray(0, 1 + (cut % bytes.length)));
        for (const [at, byte] of flips) broken[at % broken.length] = byte;
        expectAnswerOrProviderError(path, await send(path, broken));
      },
    ), { seed: SEED, numRuns: 200 });
  });

  it('deep nesting and huge strings get a clear answer, not a stack overflow', async () => {
    for (const path of PATHS) {
      const deep = '['.repeat(30_000) + ']'.repeat(30_000);
      expectProviderError(path, await send(path, deep));
      // 5,000 levels of content blocks inside the prompt (built as text: JSON.stringify itself overflows).
      const nest = '[{"type":"text","text":'.repeat(5_000) + '"x"' + '}]'.repeat(5_000);
      const base = JSON.stringify(validBody(path));
      const text = path === '/v1/responses'
        ? base.replace('"input":"hello"', `"input":${nest}`)
        : base.replace('"content":"hello"', `"content":${nest}`);
      expect(text).not.toBe(base);
      expect(text.length).toBeLessThan(MAX_BODY);
      expectAnswerOrProviderError(path, await send(path, text));
      const huge = { ...validBody(path), padding: 'é'.repeat(MAX_BODY) };
      const tooLarge = await send(path, JSON.stringify(huge));
      expectProviderError(path, tooLarge);
      expect(tooLarge.status).toBe(413);
      const almost = { ...validBody(path), metadata_note: 'x'.repeat(MAX_BODY - 400) };
      expectAnswerOrProviderError(path, await send(path, JSON.stringify(almost)));
    }
  });

  it('missing model, wrong model types and unknown models', async () => {
    for (const path of PATHS) {
      for (const model of [undefined, null, 7, [], {}, '', ' ', 'no-such-model', '../../etc/passwd', 'gpt-4o-mini\u0000evil']) {
        const body = { ...validBody(path), model };
        const sent = await send(path, JSON.stringify(body));
        expectProviderError(path, sent);
      }
    }
  });
});

describe('nesting guard', () => {
  it('counts brackets outside strings only', async () => {
    const { nestingExceeds } = await import('../src/gateway/http.js');
    expect(nestingExceeds('{"a": "[[[[[[[[[[[[[[[[[[[[[[["}', 3)).toBe(false);
    expect(nestingExceeds('{"a": "\\"[[[[[", "b": [[[1]]]}', 3)).toBe(true);
    expect(nestingExceeds('[[[1]]]', 3)).toBe(false);
    expect(nestingExceeds('[[[[1]]]]', 3)).toBe(true);
  });
});

describe('header fuzzing', () => {
  it('labels: anything outside the label alphabet is refused, never stored; valid ones are kept verbatim', async () => {
    const before = (await callsOf(stack, runId)).length;
    let accepted = 0;
    await fc.assert(fc.asyncProperty(fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom('<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "'; DROP TABLE calls; --", '${jndi:ldap://x}', 'a'.repeat(129), 'step one', 'plan/step:1@v2#a=b+c'),
    ), async (label) => {
      let sent: Sent;
      try {
        sent = await send('/v1/chat/completions', JSON.stringify(validBody('/v1/chat/completions')), { 'x-intime-step': label, 'x-intime-agent': label });
      } catch {
        return; // fetch itself refuses to send some header values (control characters): nothing reached us.
      }
      // fetch trims header values; an empty label is no label.
      const ok = label.trim() === '' || /^[A-Za-z0-9 ._:/@#=+-]{1,128}$/.test(label.trim());
      if (sent.status === 200) {
        expect(ok, label).toBe(true);
        accepted += 1;
      } else {
        expectProviderError('/v1/chat/completions', sent);
      }
    }), { seed: SEED, numRuns: 150 });
    const calls = await callsOf(stack, runId);
    expect(calls.length - before).toBe(accepted);
    for (const call of calls) if (call.step !== null) expect(call.step).toMatch(/^[A-Za-z0-9 ._:/@#=+-]{1,128}$/);
  });

  it('duplicated and oversized headers', async () => {
    const body = JSON.stringify(validBody('/v1/chat/completions'));
    const duplicated = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST', body,
      headers: [['content-type', 'application/json'], ['authorization', `Bearer ${token}`], ['authorization', 'Bearer sk-other'], ['x-intime-step', 'a'], ['x-intime-step', 'b']],
    });
    expect([400, 401]).toContain(duplicated.status);
    const oversized = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-filler': 'y'.repeat(64 * 1024) },
    }).catch((error: unknown) => error);
    // Node answers 431 before our code runs, or closes the connection: either way no call is made.
    if (oversized instanceof Response) expect(oversized.status).toBe(431);
    const alive = await send('/v1/chat/completions', body);
    expect(alive.status).toBe(200);
  });
});

describe('after the barrage', () => {
  it('the gateway still answers, every forwarded call is in the ledger, and memory stayed bounded', async () => {
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < 200; i++) await send('/v1/chat/completions', '{"model": "gpt-4o-mini", "messages": [');
    const sent = await send('/v1/chat/completions', JSON.stringify(validBody('/v1/chat/completions')));
    expect(sent.status).toBe(200);
    const calls = await callsOf(stack, runId);
    expect(calls.length).toBe(stack.sim.stats().requests);
    expect(stack.gateway.gateway.inflight.count()).toBe(0);
    global.gc?.();
    // 200 refused requests must not keep anything: generous bound, in-process and GC-timing tolerant.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
  });
});
