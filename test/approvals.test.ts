import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, callsOf, sleep, startStack, type Stack } from './harness.js';
import { runCli } from './processes.js';
import { recordingFetch, startRecordingProxy, type RecordingProxy } from './recording-proxy.js';

type Kind = 'chat' | 'responses' | 'anthropic';

/** What the agent made of the answer, read through the official client. */
interface AgentView {
  tools: string[];
  text: string;
  finish: string | null;
  outputTokens: number | undefined;
}

interface ApprovalView {
  id: string; run: string | null; call: string; toolCallId: string | null; tool: string; arguments: unknown; protocol: string; model: string;
  state: string; decidedBy: string | null; note: string | null; decidedAt: string | null; expiresAt: string;
}

const ARGUMENTS = { to: 'ops@example.com', subject: 'Deploy done' };
const TOOL_HEADERS = { 'x-sim-tool-call': 'send_email', 'x-sim-tool-args': JSON.stringify(ARGUMENTS), 'x-sim-text-before-tool': '3' };
/** In each protocol's stream, the mark of a text delta: text before the tool call must pass while it is held. */
const TEXT_DELTA: Record<Kind, string> = { chat: '"content":"', responses: 'response.output_text.delta', anthropic: 'text_delta' };
const STOP_FINISH: Record<Kind, string> = { chat: 'stop', responses: 'completed', anthropic: 'end_turn' };
const PROTOCOL: Record<Kind, string> = { chat: 'openai-chat', responses: 'openai-responses', anthropic: 'anthropic-messages' };

let stack: Stack;
let proxy: RecordingProxy;

beforeAll(async () => {
  proxy = await startRecordingProxy();
  stack = await startStack({ upstream: (simUrl) => ((proxy.target = simUrl), proxy.url) });
  const set = await stack.admin('PUT', '/api/approval-policies', { scope: 'global', tools: ['send_*', 'delete_*'] });
  expect(set.status).toBe(200);
});
afterAll(async () => {
  await stack.close();
  await proxy.close();
});

/** One agent call through the official client of its protocol. */
async function agentCall(kind: Kind, stream: boolean, token: string, options: { fetch?: typeof fetch; signal?: AbortSignal; headers?: Record<string, string> } = {}): Promise<AgentView> {
  const headers = options.headers ?? TOOL_HEADERS;
  const requestOptions = { headers, signal: options.signal };
  if (kind === 'anthropic') {
    const client = stack.anthropic(token, { maxRetries: 0, fetch: options.fetch });
    const body = { model: 'claude-haiku-4-5', max_tokens: 1024, messages: [{ role: 'user' as const, content: 'mail ops' }] };
    const message = stream ? await client.messages.stream(body, requestOptions).finalMessage() : await client.messages.create(body, requestOptions);
    return {
      tools: message.content.flatMap((block) => (block.type === 'tool_use' ? [block.name] : [])),
      text: message.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join(''),
      finish: message.stop_reason,
      outputTokens: message.usage.output_tokens,
    };
  }
  const client = stack.openai(token, { maxRetries: 0, fetch: options.fetch });
  if (kind === 'responses') {
    const body = { model: 'gpt-4o-mini', input: 'mail ops' };
    const response = stream ? await client.responses.stream(body, requestOptions).finalResponse() : await client.responses.create(body, requestOptions);
    return {
      tools: response.output.flatMap((item) => (item.type === 'function_call' ? [item.name] : [])),
      text: response.output_text,
      finish: response.status ?? null,
      outputTokens: response.usage?.output_tokens,
    };
  }
  const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'mail ops' }] };
  const completion = stream
    ? await client.chat.completions.stream({ ...body, stream_options: { include_usage: true } }, requestOptions).finalChatCompletion()
    : await client.chat.completions.create(body, requestOptions);
  const choice = completion.choices[0]!;
  return {
    tools: (choice.message.tool_calls ?? []).flatMap((call) => (call.type === 'function' ? [call.function.name] : [])),
    text: choice.message.content ?? '',
    finish: choice.finish_reason,
    outputTokens: completion.usage?.completion_tokens,
  };
}

async function pendingApproval(runId: string): Promise<ApprovalView> {
  for (let attempt = 0; attempt < 250; attempt++) {
    const { body } = await stack.admin<{ approvals: ApprovalView[] }>('GET', `/api/approvals?state=pending&run=${runId}`);
    if (body.approvals.length > 0) return body.approvals[0]!;
    await sleep(20);
  }
  throw new Error(`no pending approval for run ${runId}`);
}

async function approval(id: string): Promise<ApprovalView> {
  return (await stack.admin<ApprovalView>('GET', `/api/approvals/${id}`)).body;
}

/**
 * Starts a gated call and checks it is held: after 300 ms the agent has the text before
 * the tool call (streams) or nothing at all (whole answers), and nothing of the call.
 */
async function heldCall(kind: Kind, stream: boolean, runPolicy?: Record<string, unknown>) {
  const run = await stack.createRun();
  if (runPolicy) expect((await stack.admin('PUT', '/api/approval-policies', { scope: `run:${run.id}`, tools: [], ...runPolicy })).status).toBe(200);
  const recording = recordingFetch();
  const exchange = proxy.exchanges.length;
  let answered = false;
  const answer = agentCall(kind, stream, run.token, { fetch: recording.fetch });
  answer.then(() => (answered = true), () => (answered = true));
  const pending = await pendingApproval(run.id);
  expect(pending).toMatchObject({ run: run.id, tool: 'send_email', arguments: ARGUMENTS, protocol: PROTOCOL[kind], model: expect.any(String), state: 'pending', decidedBy: null });
  expect(pending.call).toMatch(/^call_/);
  await sleep(300);
  expect(answered).toBe(false);
  const received = recording.received.join('');
  expect(received).not.toContain('send_email');
  if (stream) expect(received).toContain(TEXT_DELTA[kind]);
  else expect(received).toBe('');
  return { run, pending, answer, recording, upstream: () => proxy.exchanges[exchange]! };
}

const CASES = (['chat', 'responses', 'anthropic'] as const).flatMap((kind) => [false, true].map((stream) => ({ kind, stream, name: `${kind}${stream ? ' (stream)' : ''}` })));

describe.each(CASES)('approval gate: $name', ({ kind, stream }) => {
  it('holds the tool call until approved, then releases the answer byte for byte as the upstream sent it', async () => {
    const { run, pending, answer, recording, upstream } = await heldCall(kind, stream);
    const decided = await stack.admin<ApprovalView>('POST', `/api/approvals/${pending.id}/approve`, { note: 'expected', by: 'alice' });
    expect(decided.body).toMatchObject({ state: 'approved', decidedBy: 'alice', note: 'expected' });
    const view = await answer;
    expect(view.tools).toEqual(['send_email']);
    await upstream().done;
    expect(recording.received).toHaveLength(1);
    expect(recording.received[0]).toBe(upstream().body.toString('utf8'));
    const calls = await callsOf(stack, run.id);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ status: 'ok', estimated: false, outputTokens: view.outputTokens });
    expect(await approval(pending.id)).toMatchObject({ state: 'approved', decidedBy: 'alice', note: 'expected', decidedAt: expect.any(String) });
  });

  it('on deny, answers without the tool call, with the reason, finished, and billed as the upstream reported', async () => {
    const { run, pending, answer } = await heldCall(kind, stream);
    expect((await stack.admin('POST', `/api/approvals/${pending.id}/deny`, { note: 'not during the freeze', by: 'bob' })).status).toBe(200);
    const view = await answer;
    expect(view.tools).toEqual([]);
    expect(view.text).toContain('"send_email"');
    expect(view.text).toContain('denied by bob: not during the freeze');
    expect(view.finish).toBe(STOP_FINISH[kind]);
    const calls = await callsOf(stack, run.id);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ status: 'ok', estimated: false, outputTokens: view.outputTokens });
    expect(await approval(pending.id)).toMatchObject({ state: 'denied', decidedBy: 'bob', note: 'not during the freeze' });
  });

  it('denies when nobody decides in time', async () => {
    const { run, pending, answer } = await heldCall(kind, stream, { timeoutMs: 600 });
    const view = await answer;
    expect(view.tools).toEqual([]);
    expect(view.text).toContain('no decision within 600 ms');
    expect(view.finish).toBe(STOP_FINISH[kind]);
    expect(await approval(pending.id)).toMatchObject({ state: 'timed_out', decidedBy: 'timeout' });
    expect(await callsOf(stack, run.id)).toHaveLength(1);
    const late = await stack.admin('POST', `/api/approvals/${pending.id}/approve`, {});
    expect(late.status).toBe(409);
  });
});

describe('approval gate: what else ends a hold', () => {
  it('onDeny stop: the run is stopped and the agent gets run_stopped; the call is billed once, in full', async () => {
    for (const [kind, stream] of [['chat', false], ['anthropic', true], ['responses', true]] as const) {
      const { run, pending, answer } = await heldCall(kind, stream, { onDeny: 'stop' });
      await stack.admin('POST', `/api/approvals/${pending.id}/deny`, { note: 'no mail' });
      const error = await answer.then(() => undefined, (caught: unknown) => caught);
      expect(error, kind).toMatchObject({ status: stream ? undefined : 402 });
      expect(JSON.stringify((error as { error?: unknown }).error ?? error)).toContain('run_stopped');
      const { body: runView } = await stack.admin<{ state: string; endedReason: string }>('GET', `/api/runs/${run.id}`);
      expect(runView).toMatchObject({ state: 'stopped', endedReason: 'approval denied: send_email: no mail' });
      const calls = await callsOf(stack, run.id);
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({ status: 'cut', errorCode: 'run_stopped', estimated: false });
    }
  });

  it('the agent leaving while held abandons the approval and settles the call once, releasing its reservation', async () => {
    const run = await stack.createRun({ budgetUsd: '1' });
    const abort = new AbortController();
    const answer = agentCall('chat', true, run.token, { signal: abort.signal }).catch(() => undefined);
    const pending = await pendingApproval(run.id);
    abort.abort();
    await answer;
    for (let attempt = 0; attempt < 100 && (await approval(pending.id)).state === 'pending'; attempt++) await sleep(20);
    expect(await approval(pending.id)).toMatchObject({ state: 'abandoned', decidedBy: 'gateway' });
    const calls = await callsOf(stack, run.id);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ status: 'client_aborted', estimated: false });
    const { body } = await stack.admin<{ reservedUsd: string; callsInFlight: number; spentUsd: string }>('GET', `/api/runs/${run.id}`);
    expect(body.callsInFlight).toBe(0);
    expect(Number(body.reservedUsd)).toBe(0);
    expect(Number(body.spentUsd)).toBeGreaterThan(0);
  });

  it('stopping the run while a call is held ends it with run_stopped and abandons the approval', async () => {
    const run = await stack.createRun();
    const answer = agentCall('anthropic', false, run.token).then(() => undefined, (caught: unknown) => caught);
    const pending = await pendingApproval(run.id);
    await stack.admin('POST', `/api/runs/${run.id}/stop`, { note: 'enough' });
    expect(await answer).toMatchObject({ status: 402 });
    expect(await approval(pending.id)).toMatchObject({ state: 'abandoned' });
    expect(await callsOf(stack, run.id)).toMatchObject([{ status: 'cut', errorCode: 'run_stopped' }]);
  });

  it('posts the request to the policy webhook, Slack-compatible text next to the approval', async () => {
    const received: Record<string, unknown>[] = [];
    const hook = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push(JSON.parse(body) as Record<string, unknown>);
        response.end('ok');
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
      const { run, pending, answer } = await heldCall('anthropic', true, { webhook: url });
      for (let attempt = 0; attempt < 100 && received.length === 0; attempt++) await sleep(10);
      expect(received[0]).toMatchObject({ type: 'approval.requested', approval: { id: pending.id, run: run.id, tool: 'send_email', arguments: ARGUMENTS } });
      expect(received[0]!.text).toContain(`intime approve ${pending.id}`);
      await stack.admin('POST', `/api/approvals/${pending.id}/approve`, {});
      await answer;
    } finally {
      hook.closeAllConnections();
      await new Promise((resolve) => hook.close(resolve));
    }
  });

  it('a tool no policy gates passes at once, and opens no approval', async () => {
    const run = await stack.createRun();
    const headers = { ...TOOL_HEADERS, 'x-sim-tool-call': 'read_file' };
    for (const kind of ['chat', 'responses', 'anthropic'] as const) {
      for (const stream of [false, true]) expect((await agentCall(kind, stream, run.token, { headers })).tools).toEqual(['read_file']);
    }
    expect((await stack.admin<{ approvals: unknown[] }>('GET', `/api/approvals?run=${run.id}`)).body.approvals).toEqual([]);
  });

  it('a run policy adds to the global one', async () => {
    const run = await stack.createRun();
    await stack.admin('PUT', '/api/approval-policies', { scope: `run:${run.id}`, tools: ['read_*'] });
    const answer = agentCall('chat', false, run.token, { headers: { ...TOOL_HEADERS, 'x-sim-tool-call': 'read_file' } });
    const pending = await pendingApproval(run.id);
    expect(pending.tool).toBe('read_file');
    await stack.admin('POST', `/api/approvals/${pending.id}/approve`, {});
    expect((await answer).tools).toEqual(['read_file']);
    expect((await approval(pending.id)).decidedBy).toBe('admin');
  });

  it('validates policies and lists them', async () => {
    expect((await stack.admin('PUT', '/api/approval-policies', { scope: 'team:x', tools: [] })).status).toBe(400);
    expect((await stack.admin('PUT', '/api/approval-policies', { scope: 'global', tools: ['a b'] })).status).toBe(400);
    expect((await stack.admin('PUT', '/api/approval-policies', { scope: 'run:nope', tools: ['x'] })).status).toBe(404);
    expect((await stack.admin('PUT', '/api/approval-policies', { scope: 'project:p', tools: ['x'], onDeny: 'explode' })).status).toBe(400);
    const { body } = await stack.admin<{ policies: { scope: string; tools: string[]; source: string }[] }>('GET', '/api/approval-policies');
    expect(body.policies).toContainEqual(expect.objectContaining({ scope: 'global', tools: ['send_*', 'delete_*'], source: 'api' }));
    expect((await stack.admin('GET', '/api/approvals/apr_missing')).status).toBe(404);
  });
});

describe('approval policy from the config file', () => {
  it('gates the tools of the config section, and says where the policy came from', async () => {
    const configured = await startStack({ config: (config) => ({ ...config, approvals: { ...config.approvals, tools: ['deploy*'] } }) });
    try {
      const { body } = await configured.admin<{ policies: { scope: string; source: string }[] }>('GET', '/api/approval-policies');
      expect(body.policies).toEqual([expect.objectContaining({ scope: 'global', tools: ['deploy*'], source: 'config' })]);
      const run = await configured.createRun();
      const client = configured.openai(run.token, { maxRetries: 0 });
      const answer = client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ship' }] }, { headers: { 'x-sim-tool-call': 'deploy_prod' } });
      let approvals: ApprovalView[] = [];
      for (let attempt = 0; attempt < 100 && approvals.length === 0; attempt++) {
        await sleep(20);
        approvals = (await configured.admin<{ approvals: ApprovalView[] }>('GET', '/api/approvals?state=pending')).body.approvals;
      }
      await configured.admin('POST', `/api/approvals/${approvals[0]!.id}/deny`, {});
      const completion = await answer;
      expect(completion.choices[0]?.message.tool_calls).toBeUndefined();
      expect(completion.choices[0]?.message.content).toContain('denied by admin');
    } finally {
      await configured.close();
    }
  });
});

describe('intime approvals, approve, deny', () => {
  const cli = async (...args: string[]) => {
    const process = runCli([...args, '--gateway', stack.gateway.url, '--admin-token', ADMIN_TOKEN]);
    const code = await process.exited;
    return { code, stdout: process.stdout(), stderr: process.stderr() };
  };

  it('lists what waits, approves one with a note, and refuses to decide it twice', async () => {
    const run = await stack.createRun();
    const answer = agentCall('chat', false, run.token);
    const pending = await pendingApproval(run.id);
    const listed = await cli('approvals', '--run', run.id);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${pending.id}\\s+${run.id}\\s+send_email\\s+\\{"to":"ops@example.com"`));
    const approved = await cli('approve', pending.id, '--note', 'looks right');
    expect(approved.stdout).toContain(`${pending.id}: send_email approved (looks right)`);
    expect((await answer).tools).toEqual(['send_email']);
    expect(await approval(pending.id)).toMatchObject({ state: 'approved', note: 'looks right', decidedBy: expect.stringContaining('(cli)') });
    const again = await cli('deny', pending.id);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already approved');
    expect((await cli('approvals', '--run', run.id)).stdout).toContain('no tool call is waiting');
  });
});
