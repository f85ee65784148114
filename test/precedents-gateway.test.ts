import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseUsd } from '../src/core/money.js';
import { ContractViolationError, defineContract, InTime } from '../src/index.js';
import { ADMIN_TOKEN, sleep, startStack, type Stack } from './harness.js';

interface RecurrenceCount { calls: number; recurrences: number; rate: number | null }
interface PrecedentView {
  id: string; kind: string; what: string; evidence: string; signature: string; fix: string | null; fixSource: string | null; count: number; retired: boolean;
  where: { pipeline: string | null; stage: string | null; model: string | null; tool: string | null; contract: string | null };
  report?: { injected: number; tokens: number; costUsd: string; occurrences: number; before: RecurrenceCount; withPrecedent: RecurrenceCount; withoutPrecedent: RecurrenceCount };
}

let stack: Stack;
let intime: InTime;
beforeAll(async () => {
  // Gateway-side injection for agents is opt-in per step: on for "classify" only.
  stack = await startStack({ config: (config) => ({ ...config, precedents: { ...config.precedents, inject: ['classify'] } }) });
  intime = InTime.connect({ url: stack.gateway.url, adminToken: ADMIN_TOKEN });
});
afterAll(() => stack.close());

async function precedentsAt(stage: string, query = ''): Promise<PrecedentView[]> {
  const { status, body } = await stack.admin<{ precedents: PrecedentView[] }>('GET', `/api/precedents?stage=${encodeURIComponent(stage)}${query}`);
  expect(status).toBe(200);
  return body.precedents;
}

/** Recording after a settled call is off the call's path: wait for it (bounded). */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const value = await read();
    if (done(value)) return value;
    await sleep(20);
  }
  return read();
}

const invoice = z.object({ lines: z.array(z.number()), total: z.number() });
const totalContract = defineContract<z.infer<typeof invoice>, { lines: number[] }>({
  name: 'invoice-total',
  schema: invoice,
  checks: { 'total equals the sum of lines': (output) => output.total === output.lines.reduce((sum, line) => sum + line, 0) },
});
const RIGHT_ANSWER = JSON.stringify({ lines: [1, 2], total: 3 });

describe('recording', () => {
  it('a failing stage becomes a precedent with redacted evidence; the same failure again merges into it', async () => {
    const run = await intime.createRun({ name: 'invoices' });
    const stage = run.stage({
      name: 'total', contract: totalContract, models: ['gpt-4o-mini'], policy: { retries: 0, haltRun: false },
      prompt: (input) => `Sum the invoice lines ${input.lines.join(', ')} for customer ops@acme.example (account key sk-live-abcdefghijklmnopqrstu).`,
      headers: () => ({ 'x-sim-output-json': RIGHT_ANSWER, 'x-sim-output': 'wrong-values' }),
    });
    await expect(stage.run({ lines: [1, 2] })).rejects.toThrow(ContractViolationError);
    const [precedent] = await precedentsAt('total');
    expect(precedent).toMatchObject({
      kind: 'contract_violation', count: 1, fix: null,
      where: { pipeline: 'invoices', stage: 'total', model: 'gpt-4o-mini', tool: null, contract: 'invoice-total' },
    });
    expect(precedent!.what).toContain('total equals the sum of lines');
    expect(precedent!.evidence).toContain('"total":4');
    for (const text of [precedent!.signature, precedent!.evidence, precedent!.what]) {
      expect(text).not.toContain('sk-live-abcdefghijklmnopqrstu');
      expect(text).not.toContain('ops@acme.example');
    }
    expect(precedent!.signature).toContain('Sum the invoice lines');
    expect(precedent!.signature).toContain('[redacted');

    await expect(stage.run({ lines: [1, 2] })).rejects.toThrow(ContractViolationError);
    const merged = await precedentsAt('total');
    expect(merged).toHaveLength(1);
    expect(merged[0]).toMatchObject({ id: precedent!.id, count: 2 });
  });

  it('the retry that passed and the model that passed on escalation become the fix', async () => {
    const run = await intime.createRun({ name: 'invoices' });
    const stage = run.stage({
      name: 'total-retry', contract: totalContract, models: ['gpt-4o-mini', 'gpt-4o'], policy: { retries: 0, haltRun: false },
      prompt: () => 'Sum the invoice lines 1, 2.',
      headers: (attempt) => ({ 'x-sim-output-json': RIGHT_ANSWER, ...(attempt.modelIndex === 0 ? { 'x-sim-output': 'wrong-values' } : {}) }),
    });
    const result = await stage.execute({ lines: [1, 2] });
    expect(result.attempts.map((attempt) => attempt.verdict)).toEqual(['failed', 'passed']);
    const [precedent] = await eventually(() => precedentsAt('total-retry'), (list) => list[0]?.fix != null);
    expect(precedent).toMatchObject({ fix: 'escalating from gpt-4o-mini to gpt-4o passed', fixSource: 'escalation' });
  });

  it('a halted stage, a stop with a note and an exhausted budget are precedents too', async () => {
    const run = await intime.createRun({ name: 'halting' });
    const stage = run.stage({
      name: 'halts', contract: totalContract, models: ['gpt-4o-mini'], policy: { retries: 0 },
      prompt: () => 'Sum the invoice lines 1, 2.', headers: () => ({ 'x-sim-output-json': RIGHT_ANSWER, 'x-sim-output': 'wrong-values' }),
    });
    await expect(stage.run({ lines: [1, 2] })).rejects.toThrow(ContractViolationError);
    const halted = (await precedentsAt('halts')).find((precedent) => precedent.kind === 'stage_halted');
    expect(halted).toMatchObject({ where: { pipeline: 'halting', stage: 'halts', contract: 'invoice-total' } });
    expect(halted!.what).toContain('total equals the sum of lines');
    // The violation and the halt it caused say the same thing: a call at this step is told once.
    const retrieved = await stack.admin<{ precedents: { id: string }[]; text: string }>('POST', '/api/precedents/retrieve', { stage: 'halts', text: 'Sum the invoice lines 1, 2.' });
    expect(retrieved.body.precedents).toHaveLength(1);
    expect(retrieved.body.text.match(/total equals the sum of lines/g)).toHaveLength(1);

    const stopped = await stack.createRun({ name: 'nightly-etl' });
    await stack.openai(stopped.token, { maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Load the rows' }] }, { headers: { 'x-intime-step': 'load' } });
    expect((await stack.admin('POST', `/api/runs/${stopped.id}/stop`, { note: 'looping on the same 3 rows; dedupe by row id first' })).status).toBe(200);
    const [stop] = (await precedentsAt('load')).filter((precedent) => precedent.kind === 'run_stopped');
    expect(stop).toMatchObject({ what: 'looping on the same 3 rows; dedupe by row id first', where: { pipeline: 'nightly-etl', stage: 'load' } });

    const poor = await stack.createRun({ name: 'poor', budgetUsd: '0.000001' });
    const refused = await stack.openai(poor.token, { maxRetries: 0 }).chat.completions
      .create({ model: 'gpt-4o', max_tokens: 4000, messages: [{ role: 'user', content: 'Write a long essay' }] }, { headers: { 'x-intime-step': 'essay' } })
      .catch((error: Error) => error);
    expect(refused).toBeInstanceOf(Error);
    const exhausted = await eventually(async () => (await stack.admin<{ precedents: PrecedentView[] }>('GET', '/api/precedents?kind=budget_exhausted')).body.precedents, (list) => list.length > 0);
    expect(exhausted[0]).toMatchObject({ kind: 'budget_exhausted', where: { pipeline: 'poor' } });
  });

  it('a denied tool call is a precedent whose fix is the operator\'s note', async () => {
    await stack.admin('PUT', '/api/approval-policies', { scope: 'global', tools: ['send_*'] });
    try {
      const run = await stack.createRun({ name: 'mailer' });
      const answer = stack.openai(run.token, { maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mail the customer' }] }, {
        headers: { 'x-intime-step': 'notify', 'x-sim-tool-call': 'send_email', 'x-sim-tool-args': JSON.stringify({ to: 'ceo@customer.example', body: 'token it_run_SECRETSECRETSECRET' }) },
      });
      let pending: { id: string } | undefined;
      for (let attempt = 0; attempt < 250 && !pending; attempt++) {
        pending = (await stack.admin<{ approvals: { id: string }[] }>('GET', `/api/approvals?state=pending&run=${run.id}`)).body.approvals[0];
        if (!pending) await sleep(20);
      }
      expect((await stack.admin('POST', `/api/approvals/${pending!.id}/deny`, { note: 'draft the mail for review instead of sending it' })).status).toBe(200);
      await answer;
      const [denied] = await eventually(async () => (await stack.admin<{ precedents: PrecedentView[] }>('GET', '/api/precedents?kind=approval_denied')).body.precedents, (list) => list.length > 0);
      expect(denied).toMatchObject({ fix: 'draft the mail for review instead of sending it', fixSource: 'operator', where: { tool: 'send_email', pipeline: 'mailer', stage: 'notify' } });
      expect(denied!.evidence).not.toContain('SECRETSECRET');
      expect(denied!.evidence).not.toContain('ceo@customer.example');
    } finally {
      await stack.admin('PUT', '/api/approval-policies', { scope: 'global', tools: [] });
    }
  });
});

describe('the sim\'s remedy mode, end to end', () => {
  it('failures recur before the precedent exists and stop recurring once it is injected; the report shows both', async () => {
    const run = await intime.createRun({ name: 'reconciliation' });
    const reconcile = (precedents: boolean) => run.stage({
      name: 'reconcile', contract: totalContract, models: ['gpt-4o-mini'], policy: { retries: 0, haltRun: false }, precedents,
      prompt: (input: { lines: number[] }) => `Reconcile the invoice: give its lines ${input.lines.join(', ')} and their total.`,
      // Wrong values unless the prompt carries the remedy: the check the model keeps failing.
      headers: () => ({ 'x-sim-output-json': RIGHT_ANSWER, 'x-sim-output': 'wrong-values', 'x-sim-fail-unless-prompt-contains': 'total equals the sum of lines' }),
    });
    for (let index = 0; index < 3; index++) await expect(reconcile(false).run({ lines: [1, 2] })).rejects.toThrow(ContractViolationError);
    const [precedent] = await precedentsAt('reconcile');
    expect(precedent!.count).toBe(3);

    const tokens: number[] = [];
    const costs: bigint[] = [];
    for (let index = 0; index < 4; index++) {
      const result = await reconcile(true).execute({ lines: [1, 2] });
      expect(result.attempts).toHaveLength(1);
      expect(result.attempts[0]!.precedents).toEqual([precedent!.id]);
      tokens.push(result.attempts[0]!.precedentTokens);
      costs.push(result.cost);
    }
    expect(tokens.every((count) => count > 0 && count <= 300)).toBe(true);

    const { body: shown } = await stack.admin<PrecedentView>('GET', `/api/precedents/${precedent!.id}`);
    expect(shown.count).toBe(3);
    expect(shown.report).toMatchObject({
      injected: 4, occurrences: 3,
      before: { calls: 3, recurrences: 3, rate: 1 },
      withPrecedent: { calls: 4, recurrences: 0, rate: 0 },
      withoutPrecedent: { calls: 0, recurrences: 0, rate: null },
      tokens: tokens.reduce((sum, count) => sum + count, 0),
    });
    expect(parseUsd(shown.report!.costUsd)).toBeGreaterThan(0n);
    // The precedent's tokens are in the prompt the call paid for, not charged on top.
    expect(parseUsd(shown.report!.costUsd)).toBeLessThan(costs.reduce((sum, cost) => sum + cost, 0n));
  });

  it('works the same for a claude-* stage (Anthropic Messages, the block in `system`)', async () => {
    const run = await intime.createRun({ name: 'reconciliation' });
    const reconcile = (precedents: boolean) => run.stage({
      name: 'reconcile-claude', contract: totalContract, models: ['claude-haiku-4-5'], policy: { retries: 0, haltRun: false }, precedents,
      system: 'You reconcile invoices.',
      prompt: (input: { lines: number[] }) => `Reconcile the invoice: give its lines ${input.lines.join(', ')} and their total.`,
      headers: () => ({ 'x-sim-output-json': RIGHT_ANSWER, 'x-sim-output': 'wrong-values', 'x-sim-fail-unless-prompt-contains': 'total equals the sum of lines' }),
    });
    await expect(reconcile(true).run({ lines: [1, 2] })).rejects.toThrow(ContractViolationError);
    const result = await reconcile(true).execute({ lines: [1, 2] });
    expect(result.attempts[0]!.precedents).toHaveLength(1);
    expect(result.output).toEqual({ lines: [1, 2], total: 3 });
  });
});

describe('gateway-side injection for agents that label their steps', () => {
  const schema = { type: 'object', properties: { label: { type: 'string', enum: ['billing', 'technical'] } }, required: ['label'], additionalProperties: false };
  const ask = (token: string, step: string, headers: Record<string, string> = {}) => stack.openai(token, { maxRetries: 0 }).chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'system', content: 'You sort support tickets.' }, { role: 'user', content: 'Classify this support ticket: "I was charged twice for my plan".' }],
    response_format: { type: 'json_schema', json_schema: { name: 'ticket', schema } },
  }, { headers: { 'x-intime-step': step, 'x-sim-output': 'empty-object', ...headers } }).withResponse();

  it('injects at an opted-in step, records the injection and its tokens on the call, and honours x-intime-precedents: off', async () => {
    const run = await stack.createRun({ name: 'helpdesk' });
    const first = await ask(run.token, 'classify');
    expect(first.response.headers.get('x-intime-contract-verdict')).toBe('failed');
    expect(first.response.headers.get('x-intime-precedents')).toBe('');
    const [precedent] = await eventually(() => precedentsAt('classify'), (list) => list.length > 0);
    expect(precedent!.what).toContain('label');

    const second = await ask(run.token, 'classify');
    expect(second.response.headers.get('x-intime-precedents')).toBe(precedent!.id);
    const injectedTokens = Number(second.response.headers.get('x-intime-precedent-tokens'));
    expect(injectedTokens).toBeGreaterThan(0);
    const calls = await Promise.all([first, second].map(async (answer) =>
      (await stack.admin<{ inputTokens: number; precedents: { injected: { id: string; tokens: number }[]; tokens: number } }>('GET', `/api/calls/${answer.response.headers.get('x-intime-call-id')}`)).body));
    expect(calls[0]!.precedents).toEqual({ injected: [], tokens: 0 });
    expect(calls[1]!.precedents.tokens).toBe(injectedTokens);
    expect(calls[1]!.precedents.injected).toEqual([{ id: precedent!.id, tokens: injectedTokens, relevance: expect.any(Number) }]);
    // Metered: the provider was billed for the prompt with the block in it (appended to the system message).
    expect(calls[1]!.inputTokens - calls[0]!.inputTokens).toBeGreaterThanOrEqual(injectedTokens - 2);
    expect(calls[1]!.inputTokens - calls[0]!.inputTokens).toBeLessThanOrEqual(injectedTokens + 2);

    const off = await ask(run.token, 'classify', { 'x-intime-precedents': 'off' });
    expect(off.response.headers.get('x-intime-precedents')).toBeNull();
    const streamed = await stack.openai(run.token, { maxRetries: 0 }).chat.completions.create({
      model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Classify this support ticket: "I was charged twice for my plan".' }],
    }, { headers: { 'x-intime-step': 'classify' } }).withResponse();
    for await (const _chunk of streamed.data) { /* drain */ }
    expect(streamed.response.headers.get('x-intime-precedents')).toBe(precedent!.id);
    const otherStep = await ask(run.token, 'triage');
    expect(otherStep.response.headers.get('x-intime-precedents')).toBeNull();
    const bad = await ask(run.token, 'classify', { 'x-intime-precedents': 'yes' }).catch((error: { status?: number }) => error);
    expect(bad).toMatchObject({ status: 400 });

    // Three failures at "classify" (first, second, off); "triage" is another step, the 400 never reached a model.
    const [merged] = await eventually(() => precedentsAt('classify'), (list) => (list[0]?.count ?? 0) >= 3);
    expect(merged!.count).toBe(3);
    const { body: shown } = await stack.admin<PrecedentView>('GET', `/api/precedents/${precedent!.id}`);
    // The remedy is not in this block (the sim has no remedy header here): the failure recurs with it too.
    expect(shown.report).toMatchObject({
      // Injected into the second call (failed again) and the stream (no contract: nothing to fail).
      injected: 2, occurrences: 3, before: { calls: 1, recurrences: 1 }, withPrecedent: { calls: 2, recurrences: 1, rate: 0.5 }, withoutPrecedent: { calls: 1, recurrences: 1 },
    });
  });
});
