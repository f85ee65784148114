import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, startStack, type Stack } from './harness.js';

/** A stream held for approval is not silent: comments keep clients and proxies from timing it out. */
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ config: (config) => ({ ...config, approvals: { ...config.approvals, tools: ['send_*'], keepAliveMs: 100 } }) });
});
afterAll(() => stack.close());

describe('a held stream', () => {
  it('sends SSE comments while it waits, and the official client still gets the approved tool call', async () => {
    const run = await stack.createRun();
    const raw = fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${run.token}`, 'content-type': 'application/json', 'x-sim-tool-call': 'send_email' },
      body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'mail' }] }),
    }).then((response) => response.text());
    const viaSdk = stack.openai(run.token, { maxRetries: 0 }).chat.completions.stream(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mail' }] }, { headers: { 'x-sim-tool-call': 'send_email' } },
    ).finalChatCompletion();
    let pending: { id: string }[] = [];
    while (pending.length < 2) {
      await sleep(50);
      pending = (await stack.admin<{ approvals: { id: string }[] }>('GET', `/api/approvals?state=pending&run=${run.id}`)).body.approvals;
    }
    await sleep(450);
    for (const approval of pending) await stack.admin('POST', `/api/approvals/${approval.id}/approve`, {});
    const text = await raw;
    expect(text.match(/^: waiting for approval$/gm)?.length ?? 0).toBeGreaterThanOrEqual(3);
    expect(text).toContain('send_email');
    const completion = await viaSdk;
    expect(completion.choices[0]!.message.tool_calls?.[0]).toMatchObject({ function: { name: 'send_email' } });
  });
});
