import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUsd, parseUsd } from '../src/core/money.js';
import { EmbeddedBudgetStore } from '../src/stores/budget-store.js';
import { callsOf, startStack, type Stack } from './harness.js';

// A gateway that lives for weeks sees millions of runs; it must hold only the ones at work.
let stack: Stack;
let clock = Date.now();
const MINUTE = 60_000;

beforeAll(async () => {
  stack = await startStack({ now: () => clock });
});
afterAll(async () => {
  await stack.close();
});

const budgets = () => stack.gateway.gateway.budgets;
const scopesHeld = () => (budgets().store as EmbeddedBudgetStore).book.size();
const ask = (token: string) => stack.openai(token, { maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });

interface RunView { spentUsd: string; reservedUsd: string; remainingUsd: string | null; budgetUsd: string | null; state: string }
const runView = async (id: string) => (await stack.admin<RunView>('GET', `/api/runs/${id}`)).body;

describe('runs nobody uses any more are forgotten, and come back right', () => {
  it('keeps live runs 15 minutes and ended ones 1 minute after their last call, never one at work', async () => {
    const live = await Promise.all(Array.from({ length: 60 }, () => stack.createRun({ budgetUsd: '0.0002' })));
    const ended = await Promise.all(Array.from({ length: 40 }, () => stack.createRun()));
    const streaming = await stack.createRun();
    const withDeadline = await stack.createRun({ deadlineMs: 3 * 60 * MINUTE });
    for (const run of [...live, ...ended, withDeadline]) await ask(run.token);
    for (const run of ended) expect((await stack.admin('POST', `/api/runs/${run.id}/stop`, { note: 'done' })).status).toBe(200);

    // A slow stream stays in flight across every sweep below.
    const abort = new AbortController();
    const stream = await stack.openai(streaming.token, { defaultHeaders: { 'x-sim-output-tokens': '2000', 'x-sim-tokens-per-second': '20' } })
      .chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'go on' }] }, { signal: abort.signal });
    const reading = (async () => { for await (const chunk of stream) void chunk; })().catch(() => undefined);

    const trackedAtFirst = budgets().trackedRuns();
    expect(trackedAtFirst).toBeGreaterThanOrEqual(102);
    const scopesAtFirst = scopesHeld();

    clock += 2 * MINUTE;
    expect(budgets().forgetIdleRuns()).toBe(40); // the stopped runs only
    expect(budgets().trackedRuns()).toBe(trackedAtFirst - 40);
    expect(scopesHeld()).toBe(scopesAtFirst - 40);

    clock += 14 * MINUTE;
    const forgotten = budgets().forgetIdleRuns();
    expect(forgotten).toBeGreaterThanOrEqual(60);
    expect(budgets().trackedRuns()).toBe(2); // the run streaming and the run whose deadline is armed
    expect(scopesHeld()).toBe(2);

    // A forgotten stopped run still refuses, once, with its reason.
    const refusal = await ask(ended[0]!.token).catch((error: { status?: number; code?: string }) => error);
    expect(refusal).toMatchObject({ status: 402, code: 'run_stopped' });

    // A forgotten live run's clock comes back from the ledger, and its budget still holds to the unit.
    const run = live[0]!;
    const before = await runView(run.id);
    const settled = (await callsOf(stack, run.id)).reduce((sum, call) => sum + parseUsd(call.costUsd), 0n);
    expect(before.spentUsd).toBe(formatUsd(settled));
    let refused: unknown;
    for (let i = 0; i < 40 && !refused; i++) await ask(run.token).catch((error: unknown) => (refused = error));
    expect(refused).toMatchObject({ status: 402, code: 'budget_exhausted' });
    const after = await runView(run.id);
    const spent = (await callsOf(stack, run.id)).reduce((sum, call) => sum + parseUsd(call.costUsd), 0n);
    expect(after.spentUsd).toBe(formatUsd(spent));
    expect(after.reservedUsd).toBe('0');
    expect(spent).toBeLessThanOrEqual(parseUsd('0.0002'));

    abort.abort();
    await reading;
  });
});
