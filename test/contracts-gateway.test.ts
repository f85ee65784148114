import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, sleep, startStack, type Stack } from './harness.js';

/** Gateway-side contracts: a schema in the request (three wire formats) or a registered, versioned one. */
let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.close();
});

const invoiceSchema = {
  type: 'object',
  properties: { total: { type: 'integer' }, lines: { type: 'array', items: { type: 'integer' } } },
  required: ['total', 'lines'],
  additionalProperties: false,
};

interface CallContract { verdict: string; name: string | null; version: number | null; violation: string | null }
async function ledgerCall(id: string): Promise<{ contract: CallContract; costUsd: string; attempt: number; retryOf: string | null }> {
  const { status, body } = await stack.admin<{ contract: CallContract; costUsd: string; attempt: number; retryOf: string | null }>('GET', `/api/calls/${id}`);
  expect(status).toBe(200);
  return body;
}

const faults = [
  { output: undefined, verdict: 'passed', violation: null },
  { output: 'empty-object', verdict: 'failed', violation: /must have required property 'total'/ },
  { output: 'malformed', verdict: 'failed', violation: /not valid JSON/ },
  { output: 'truncated', verdict: 'failed', violation: /cut off at the token limit/ },
] as const;
const simHeaders = (output: string | undefined): Record<string, string> => (output ? { 'x-sim-output': output } : {});

describe('OpenAI Chat response_format json_schema', () => {
  for (const fault of faults) {
    it(`judges ${fault.output ?? 'a valid output'}: whole and streamed`, async () => {
      const run = await stack.createRun();
      const client = stack.openai(run.token, { maxRetries: 0 });
      const body = {
        model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Read the invoice.' }],
        response_format: { type: 'json_schema' as const, json_schema: { name: 'invoice', schema: invoiceSchema } },
      };
      const whole = await client.chat.completions.create(body, { headers: simHeaders(fault.output) }).withResponse();
      expect(whole.response.headers.get('x-intime-contract-verdict')).toBe(fault.verdict);
      expect(whole.response.headers.get('x-intime-contract')).toBe('invoice');
      const recorded = await ledgerCall(whole.response.headers.get('x-intime-call-id')!);
      expect(recorded.contract.verdict).toBe(fault.verdict);
      expect(recorded.contract.name).toBe('invoice');
      if (fault.violation) expect(recorded.contract.violation).toMatch(fault.violation);
      else expect(recorded.contract.violation).toBeNull();

      const streamed = await client.chat.completions.create({ ...body, stream: true }, { headers: simHeaders(fault.output) }).withResponse();
      expect(streamed.response.headers.get('x-intime-contract-verdict')).toBe('pending');
      let text = '';
      for await (const chunk of streamed.data) text += chunk.choices[0]?.delta.content ?? '';
      expect(text).toBe(whole.data.choices[0]!.message.content);
      const streamedCall = await ledgerCall(streamed.response.headers.get('x-intime-call-id')!);
      expect(streamedCall.contract.verdict).toBe(fault.verdict);
    });
  }
});

describe('OpenAI Responses text.format json_schema', () => {
  for (const fault of faults) {
    it(`judges ${fault.output ?? 'a valid output'}: whole and streamed`, async () => {
      const run = await stack.createRun();
      const client = stack.openai(run.token, { maxRetries: 0 });
      const body = { model: 'gpt-4o-mini', input: 'Read the invoice.', text: { format: { type: 'json_schema' as const, name: 'invoice', schema: invoiceSchema } } };
      const whole = await client.responses.create(body, { headers: simHeaders(fault.output) }).withResponse();
      expect(whole.response.headers.get('x-intime-contract-verdict')).toBe(fault.verdict);
      const recorded = await ledgerCall(whole.response.headers.get('x-intime-call-id')!);
      expect(recorded.contract).toMatchObject({ verdict: fault.verdict, name: 'invoice', version: null });

      const streamed = await client.responses.create({ ...body, stream: true }, { headers: simHeaders(fault.output) }).withResponse();
      expect(streamed.response.headers.get('x-intime-contract-verdict')).toBe('pending');
      for await (const event of streamed.data) void event;
      expect((await ledgerCall(streamed.response.headers.get('x-intime-call-id')!)).contract.verdict).toBe(fault.verdict);
    });
  }
});

describe('Anthropic tool input_schema', () => {
  for (const fault of faults) {
    it(`judges ${fault.output ?? 'a valid tool input'}: whole and streamed`, async () => {
      const run = await stack.createRun();
      const client = stack.anthropic(run.token, { maxRetries: 0 });
      const body = {
        model: 'claude-3-5-haiku-20241022', max_tokens: 400, messages: [{ role: 'user' as const, content: 'Read the invoice.' }],
        tools: [{ name: 'record_invoice', input_schema: invoiceSchema as { type: 'object' } }],
        tool_choice: { type: 'tool' as const, name: 'record_invoice' },
      };
      // A malformed tool input cannot be a parsed object: the SDK would fail, as it does with real providers. Streams only for it.
      if (fault.output !== 'malformed') {
        const whole = await client.messages.create(body, { headers: simHeaders(fault.output) }).withResponse();
        expect(whole.response.headers.get('x-intime-contract-verdict')).toBe(fault.verdict);
        expect(whole.response.headers.get('x-intime-contract')).toBe('tool%3Arecord_invoice');
        expect((await ledgerCall(whole.response.headers.get('x-intime-call-id')!)).contract.verdict).toBe(fault.verdict);
      }
      const streamed = await client.messages.create({ ...body, stream: true }, { headers: simHeaders(fault.output) }).withResponse();
      expect(streamed.response.headers.get('x-intime-contract-verdict')).toBe('pending');
      for await (const event of streamed.data) void event;
      const recorded = await ledgerCall(streamed.response.headers.get('x-intime-call-id')!);
      expect(recorded.contract.verdict).toBe(fault.verdict);
      if (fault.violation) expect(recorded.contract.violation).toMatch(fault.violation);
    });
  }
});

describe('registered contracts', () => {
  it('records which version judged each call: v1, then v2, then v1 by name', async () => {
    const v1 = await stack.admin<{ version: number }>('POST', '/api/contracts', { name: 'summary', schema: { type: 'object', required: ['answer'] }, description: 'loose' });
    expect(v1).toMatchObject({ status: 201, body: { version: 1 } });
    const run = await stack.createRun();
    const client = stack.openai(run.token, { maxRetries: 0 });
    // The sim answers a json_object request with {"answer": "..."}.
    const ask = (contract: string) => client.chat.completions.create({
      model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise.' }], response_format: { type: 'json_object' },
    }, { headers: { 'x-intime-contract': contract } }).withResponse();
    const first = await ask('summary');
    expect(first.response.headers.get('x-intime-contract')).toBe('summary%401');
    expect((await ledgerCall(first.response.headers.get('x-intime-call-id')!)).contract).toMatchObject({ verdict: 'passed', name: 'summary', version: 1 });

    const v2 = await stack.admin<{ version: number }>('POST', '/api/contracts', { name: 'summary', schema: { type: 'object', required: ['answer', 'sources'] } });
    expect(v2.body.version).toBe(2);
    const second = await ask('summary');
    expect((await ledgerCall(second.response.headers.get('x-intime-call-id')!)).contract).toMatchObject({
      verdict: 'failed', name: 'summary', version: 2, violation: "output / must have required property 'sources'",
    });
    const pinned = await ask('summary@1');
    expect((await ledgerCall(pinned.response.headers.get('x-intime-call-id')!)).contract).toMatchObject({ verdict: 'passed', version: 1 });

    const listed = await stack.admin<{ contracts: { name: string; version: number }[] }>('GET', '/api/contracts');
    expect(listed.body.contracts.filter((contract) => contract.name === 'summary').map((contract) => contract.version)).toEqual([1, 2]);
    expect((await stack.admin<{ version: number }>('GET', '/api/contracts/summary?version=1')).body.version).toBe(1);
  });

  it('refuses a call naming an unknown contract before spending anything', async () => {
    const run = await stack.createRun();
    const failure = await stack.openai(run.token, { maxRetries: 0 }).chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-intime-contract': 'nope' } },
    ).catch((error: unknown) => error as { status: number; code: string });
    expect(failure).toMatchObject({ status: 400, code: 'contract_not_found' });
    const { body } = await stack.admin<{ calls: unknown[] }>('GET', `/api/runs/${run.id}/calls`);
    expect(body.calls).toHaveLength(0);
  });

  it('refuses a contract without a schema object', async () => {
    expect((await stack.admin('POST', '/api/contracts', { name: 'x', schema: 'string' })).status).toBe(400);
    expect((await stack.admin('POST', '/api/contracts', { name: 'bad name!', schema: {} })).status).toBe(400);
  });
});

describe('verdicts from the library and waste', () => {
  it('a run token may fail its own call, never pass a failed one, never judge another run; waste counts failed cost exactly', async () => {
    const run = await stack.createRun();
    const other = await stack.createRun();
    const client = stack.openai(run.token, { maxRetries: 0 });
    const ask = (headers: Record<string, string>) => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'go' }] }, { headers }).withResponse();
    const first = await ask({ 'x-intime-step': 'extract' });
    const firstId = first.response.headers.get('x-intime-call-id')!;
    const post = (token: string, id: string, body: unknown) => fetch(`${stack.gateway.url}/api/calls/${id}/verdict`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    expect((await post(other.token, firstId, { verdict: 'failed', violation: 'x' })).status).toBe(404);
    expect((await post(run.token, firstId, { verdict: 'failed' })).status).toBe(400);
    const failed = await post(run.token, firstId, { verdict: 'failed', contract: 'ids-exist', violation: 'cites id 9, not in the input' });
    expect(failed.status).toBe(200);
    await post(run.token, firstId, { verdict: 'passed', contract: 'ids-exist' });
    expect((await ledgerCall(firstId)).contract).toMatchObject({ verdict: 'failed', name: 'ids-exist', violation: 'cites id 9, not in the input' });

    const retry = await ask({ 'x-intime-step': 'extract', 'x-intime-attempt': '2', 'x-intime-retry-of': firstId });
    const retryId = retry.response.headers.get('x-intime-call-id')!;
    await post(ADMIN_TOKEN, retryId, { verdict: 'passed', contract: 'ids-exist' });
    expect(await ledgerCall(retryId)).toMatchObject({ attempt: 2, retryOf: firstId, contract: { verdict: 'passed' } });

    const waste = await stack.admin<{ rows: { group: string; wastedUsd: string; costUsd: string; failedCalls: number; retries: number }[] }>('GET', `/api/waste?by=stage&run=${run.id}`);
    expect(waste.body.rows).toEqual([expect.objectContaining({
      group: 'extract', wastedUsd: first.response.headers.get('x-intime-cost-usd'), failedCalls: 1, retries: 1,
    })]);
    expect((await stack.admin('GET', '/api/waste?by=color')).status).toBe(400);
    const runView = await stack.admin<{ wastedUsd: string }>('GET', `/api/runs/${run.id}`);
    expect(runView.body.wastedUsd).toBe(first.response.headers.get('x-intime-cost-usd'));
  });
});

describe('contracts and approval gates', () => {
  it('a tool call held for approval is judged as the model wrote it, once approved', async () => {
    const run = await stack.createRun();
    expect((await stack.admin('PUT', '/api/approval-policies', { scope: `run:${run.id}`, tools: ['pay_invoice'] })).status).toBe(200);
    const call = stack.anthropic(run.token, { maxRetries: 0 }).messages.create({
      model: 'claude-haiku-4-5', max_tokens: 300, messages: [{ role: 'user', content: 'Pay it.' }],
      tools: [{ name: 'pay_invoice', input_schema: invoiceSchema as { type: 'object' } }], tool_choice: { type: 'tool', name: 'pay_invoice' },
    }, { headers: { 'x-sim-output': 'wrong-values', 'x-sim-output-json': '{"total":"x","lines":[]}' } }).withResponse();
    let pending: { id: string }[] = [];
    for (let tries = 0; tries < 100 && pending.length === 0; tries++) {
      await sleep(20);
      pending = (await stack.admin<{ approvals: { id: string }[] }>('GET', `/api/approvals?state=pending&run=${run.id}`)).body.approvals;
    }
    expect((await stack.admin('POST', `/api/approvals/${pending[0]!.id}/approve`, {})).status).toBe(200);
    const { response } = await call;
    expect(response.headers.get('x-intime-contract-verdict')).toBe('failed');
    expect((await ledgerCall(response.headers.get('x-intime-call-id')!)).contract).toMatchObject({ verdict: 'failed', name: 'tool:pay_invoice', violation: 'tool pay_invoice input /total must be integer' });
  });
});
