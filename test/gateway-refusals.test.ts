import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callsOf, startStack, type Stack } from './harness.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ config: (config) => ({ ...config, maxBodyBytes: 16 * 1024 }) });
});
afterAll(() => stack.close());

async function post(path: string, body: string, headers: Record<string, string>) {
  const response = await fetch(`${stack.gateway.url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: response.status, retry: response.headers.get('x-should-retry'), body: (await response.json()) as Record<string, any> };
}

describe('bad input gets a clear 4xx and loses nothing', () => {
  it('refuses an unpriced model instead of billing $0, in both SDKs\' error classes', async () => {
    const run = await stack.createRun();
    const openAiError = await stack.openai(run.token).chat.completions.create({ model: 'my-secret-finetune', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(openAiError).toBeInstanceOf(OpenAI.BadRequestError);
    expect((openAiError as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('model_not_priced');
    expect((openAiError as Error).message).toMatch(/no price/);
    const anthropicError = await stack.anthropic(run.token).messages.create({ model: 'claude-imaginary', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(anthropicError).toBeInstanceOf(Anthropic.BadRequestError);
    expect((anthropicError as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', code: 'model_not_priced' } });
    expect(await callsOf(stack, run.id)).toHaveLength(0);
    expect(stack.sim.stats().requests).toBe(0);
  });

  it('refuses a bad key with 401 in the provider\'s shape', async () => {
    const openAiError = await stack.openai('sk-not-a-real-key').chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(openAiError).toBeInstanceOf(OpenAI.AuthenticationError);
    const anthropicError = await stack.anthropic('nope').messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(anthropicError).toBeInstanceOf(Anthropic.AuthenticationError);
    const missing = await post('/v1/chat/completions', '{}', {});
    expect(missing.status).toBe(401);
    expect(missing.body.error.code).toBe('invalid_api_key');
  });

  it('refuses malformed bodies with a 400 naming the problem', async () => {
    const run = await stack.createRun();
    const auth = { authorization: `Bearer ${run.token}` };
    const cases: [string, string, string][] = [
      ['/v1/chat/completions', '{"model": "gpt-4o-mini", "messages": [', 'invalid_json'],
      ['/v1/chat/completions', '[1,2,3]', 'invalid_json'],
      ['/v1/chat/completions', '{"messages": []}', 'missing_model'],
      ['/v1/chat/completions', '{"model": 42, "messages": []}', 'invalid_request'],
      ['/v1/chat/completions', '{"model": "gpt-4o-mini", "messages": "hi"}', 'invalid_request'],
      ['/v1/chat/completions', '{"model": "gpt-4o-mini", "messages": [], "max_tokens": -1}', 'invalid_request'],
      ['/v1/responses', '{"model": "gpt-4o-mini", "input": 7}', 'invalid_request'],
      ['/v1/chat/completions', '{"model": "gpt-4o-mini", "messages": [], "stream": "yes"}', 'invalid_request'],
    ];
    for (const [path, body, code] of cases) {
      const result = await post(path, body, auth);
      expect(result.status, body).toBe(400);
      expect(result.retry).toBe('false');
      expect(result.body.error.code, body).toBe(code);
    }
    const anthropic = await post('/v1/messages', 'not json', { 'x-api-key': run.token });
    expect(anthropic.status).toBe(400);
    expect(anthropic.body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', code: 'invalid_json' } });
  });

  it('refuses a body over the configured limit with 413, and keeps serving', async () => {
    const run = await stack.createRun();
    const huge = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(64 * 1024) }] });
    const result = await post('/v1/chat/completions', huge, { authorization: `Bearer ${run.token}` });
    expect(result.status).toBe(413);
    expect(result.body.error.code).toBe('request_too_large');
    const ok = await stack.openai(run.token).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'still there?' }] });
    expect(ok.choices[0]!.message.content).toBeTruthy();
  });

  it('refuses bad attribution labels', async () => {
    const run = await stack.createRun();
    const error = await stack.openai(run.token).chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-intime-step': '<script>alert(1)</script>' } },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('keeps the control API for the admin: no token is 401, an agent\'s token is 403', async () => {
    const run = await stack.createRun();
    const none = await fetch(`${stack.gateway.url}/api/runs`);
    expect(none.status).toBe(401);
    const agent = await fetch(`${stack.gateway.url}/api/runs`, { headers: { authorization: `Bearer ${run.token}` } });
    expect(agent.status).toBe(403);
    const bad = await stack.admin('POST', '/api/runs', { budgetUsd: 'lots' });
    expect(bad.status).toBe(400);
  });
});
