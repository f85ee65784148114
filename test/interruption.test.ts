import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callsOf, sleep, startStack, type Stack } from './harness.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ config: (config) => ({ ...config, pauseHoldMs: 800 }) });
});
afterAll(() => stack.close());

const slow = { 'x-sim-output-tokens': '3000', 'x-sim-tokens-per-second': '50' };

describe('stop', () => {
  it('ends 32 concurrent streams of a run (both protocols) and its child\'s: no content after the acknowledgment, later calls refused once', async () => {
    const run = await stack.createRun({ name: 'to-stop' });
    const child = await stack.createRun({ parent: run.id });
    const openai = stack.openai(run.token, { maxRetries: 0 });
    const anthropic = stack.anthropic(run.token, { maxRetries: 0 });
    let acknowledgedAt = Infinity;
    const contentAfterAck: number[] = [];
    const endings = Array.from({ length: 32 }, async (_, index) => {
      try {
        if (index % 2 === 0) {
          const client = index === 0 ? stack.openai(child.token, { maxRetries: 0 }) : openai;
          const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: `s${index}` }] }, { headers: slow });
          for await (const chunk of stream) if (chunk.choices[0]?.delta.content && performance.now() > acknowledgedAt) contentAfterAck.push(index);
        } else {
          const stream = anthropic.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 4000, messages: [{ role: 'user', content: `s${index}` }] }, { headers: slow });
          for await (const event of stream) if (event.type === 'content_block_delta' && performance.now() > acknowledgedAt) contentAfterAck.push(index);
        }
        return 'finished';
      } catch (error) {
        const code = (error as { code?: string }).code ?? (error as { error?: { error?: { code?: string } } }).error?.error?.code;
        return String(code);
      }
    });
    // Wait until every stream is flowing upstream.
    for (let i = 0; i < 500 && stack.sim.stats().activeStreams < 32; i++) await sleep(20);
    expect(stack.sim.stats().activeStreams).toBeGreaterThanOrEqual(32);
    const { status, body: ack } = await stack.admin<{ stop?: { callsCut: number; endedInMs: number; allEnded: boolean } }>('POST', `/api/runs/${run.id}/stop`, { note: 'told twice' });
    acknowledgedAt = performance.now();
    expect(status).toBe(200);
    // Acknowledged once every cut call (the child's too) had sent its agent the error.
    expect(ack.stop).toMatchObject({ callsCut: 32, allEnded: true });
    expect(ack.stop!.endedInMs).toBeGreaterThan(0);
    const results = await Promise.all(endings);
    expect(new Set(results)).toEqual(new Set(['run_stopped']));
    expect(contentAfterAck).toEqual([]);
    for (let i = 0; i < 50 && stack.sim.stats().activeStreams > 0; i++) await sleep(10);
    expect(stack.sim.stats().activeStreams).toBe(0); // upstream sockets closed

    let requests = 0;
    const count = () => requests++;
    stack.gateway.server.on('request', count);
    try {
      await expect(stack.openai(run.token).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'again' }] }))
        .rejects.toMatchObject({ status: 402, code: 'run_stopped' });
      expect(requests).toBe(1); // default retries, yet one request
    } finally {
      stack.gateway.server.off('request', count);
    }
    const { body: childView } = await stack.admin<{ state: string }>('GET', `/api/runs/${child.id}`);
    expect(childView.state).toBe('stopped');
    const calls = await callsOf(stack, run.id);
    expect(calls.every((call) => call.status === 'cut' && call.errorCode === 'run_stopped')).toBe(true);
    const { body: audit } = await stack.admin<{ audit: { action: string; note: string; actor: string }[] }>('GET', `/api/audit?run=${run.id}`);
    expect(audit.audit[0]).toMatchObject({ action: 'run.stop', note: 'told twice', actor: 'admin' });
  });
});

describe('pause and resume', () => {
  it('holds new calls while paused and releases them in order on resume', async () => {
    const run = await stack.createRun();
    const client = stack.openai(run.token, { maxRetries: 0 });
    await stack.admin('POST', `/api/runs/${run.id}/pause`);
    const order: number[] = [];
    const held = [0, 1, 2].map(async (index) => {
      await sleep(index * 20);
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `held ${index}` }] });
      order.push(index);
    });
    await sleep(300);
    expect(order).toEqual([]);
    expect(await callsOf(stack, run.id)).toHaveLength(0);
    await stack.admin('POST', `/api/runs/${run.id}/resume`);
    await Promise.all(held);
    expect(order).toEqual([0, 1, 2]);
    const { body } = await stack.admin<{ audit: { action: string }[] }>('GET', `/api/audit?run=${run.id}`);
    expect(body.audit.map((entry) => entry.action)).toEqual(['run.resume', 'run.pause']);
  });

  it('a call held past the hold time gets run_paused_timeout, which the SDK does not retry', async () => {
    const run = await stack.createRun();
    await stack.admin('POST', `/api/runs/${run.id}/pause`);
    const error = await stack.anthropic(run.token).messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'wait' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ error: { code: 'run_paused_timeout' } });
  });
});

describe('who may', () => {
  it('an operator of project A cannot stop or see runs in B; a viewer cannot stop; an agent token cannot stop another run', async () => {
    const a = await stack.createRun({ project: 'A' });
    const b = await stack.createRun({ project: 'B' });
    const { body: operator } = await stack.admin<{ token: string }>('POST', '/api/principals', { name: 'ops-a', role: 'operator', projects: ['A'] });
    const { body: viewer } = await stack.admin<{ token: string }>('POST', '/api/principals', { name: 'look', role: 'viewer' });
    const as = (token: string, path: string, method = 'POST') =>
      fetch(`${stack.gateway.url}${path}`, { method, headers: { authorization: `Bearer ${token}` }, body: method === 'POST' ? '{}' : undefined });
    const denied = await as(operator.token, `/api/runs/${b.id}/stop`);
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: { message: string } }).error.message).toMatch(/outside its projects/);
    expect((await as(operator.token, `/api/runs/${b.id}`, 'GET')).status).toBe(403);
    expect((await as(viewer.token, `/api/runs/${a.id}/stop`)).status).toBe(403);
    expect((await as(a.token, `/api/runs/${b.id}/stop`)).status).toBe(403);
    expect((await as(viewer.token, `/api/runs/${a.id}`, 'GET')).status).toBe(200);
    const allowed = await as(operator.token, `/api/runs/${a.id}/stop`);
    expect(allowed.status).toBe(200);
    const listed = (await (await as(operator.token, '/api/runs', 'GET')).json()) as { runs: { project: string }[] };
    expect(new Set(listed.runs.map((run) => run.project))).toEqual(new Set(['A']));
    const { body } = await stack.admin<{ audit: { actor: string; role: string; action: string }[] }>('GET', `/api/audit?run=${a.id}`);
    expect(body.audit[0]).toMatchObject({ actor: 'ops-a', role: 'operator', action: 'run.stop' });
    expect((await stack.admin('GET', `/api/runs/${b.id}`)).body).toMatchObject({ state: 'running' });
  });
});
