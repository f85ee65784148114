import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseUsd } from '../src/core/money.js';
import { ContractViolationError, defineContract, InTime, type Run, type ViolationPolicy } from '../src/index.js';

/**
 * The three-stage pipeline (extract → transform → summarise) through an embedded gateway
 * and the simulator, with each silent failure injected at each stage under each policy.
 */
let intime: InTime;
beforeAll(async () => {
  intime = await InTime.embedded();
});
afterAll(async () => {
  await intime.close();
});

interface Source { text: string; ids: string[] }
const source: Source = { text: 'A1 3x4, B2 2x5', ids: ['A1', 'B2'] };

const extracted = z.object({ items: z.array(z.object({ id: z.string(), qty: z.number().int(), price: z.number().int() })) });
type Extracted = z.infer<typeof extracted>;
const transformed = z.object({ lines: z.array(z.object({ id: z.string(), amount: z.number().int() })), total: z.number().int() });
type Transformed = z.infer<typeof transformed>;
interface Summary { summary?: string; total?: number }

const extractContract = defineContract<Extracted, Source>({
  name: 'invoice-items',
  schema: extracted,
  checks: {
    'every id exists in the input': (output, input) => output.items.every((item) => input.ids.includes(item.id)) || 'an id is not in the input',
    'quantities and prices are the ones in the text': (output, input) => output.items.every((item) => input.text.includes(`${item.id} ${item.qty}x${item.price}`)),
    'at least one item': (output) => output.items.length > 0,
  },
});
const transformContract = defineContract<Transformed, Extracted>({
  name: 'invoice-lines',
  schema: transformed,
  checks: {
    'total equals the sum of lines': (output) => output.total === output.lines.reduce((sum, line) => sum + line.amount, 0),
    'each amount is qty times price': async (output, input) => output.lines.every((line) => {
      const item = input.items.find((candidate) => candidate.id === line.id);
      return item !== undefined && item.qty * item.price === line.amount;
    }),
  },
});
// A loose JSON Schema: `{}` passes it; only the checks catch the hollow answer.
const summaryContract = defineContract<Summary, Transformed>({
  name: 'invoice-summary',
  schema: { type: 'object', properties: { summary: { type: 'string' }, total: { type: 'integer' } } },
  checks: {
    'has a summary': (output) => typeof output.summary === 'string' && output.summary.length > 0,
    'total matches the lines': (output, input) => output.total === input.total,
  },
});

/** The right answer for each stage, computed from its input: the simulated model's script. */
function correctOutput(stage: string, input: unknown): unknown {
  if (stage === 'extract') {
    const { text } = input as Source;
    return { items: [...text.matchAll(/(\w+) (\d+)x(\d+)/g)].map((match) => ({ id: match[1], qty: Number(match[2]), price: Number(match[3]) })) };
  }
  if (stage === 'transform') {
    const lines = (input as Extracted).items.map((item) => ({ id: item.id, amount: item.qty * item.price }));
    return { lines, total: lines.reduce((sum, line) => sum + line.amount, 0) };
  }
  const { total, lines } = input as Transformed;
  return { summary: `Invoice total ${total} over ${lines.length} lines`, total };
}
const EXPECTED = {
  extract: correctOutput('extract', source),
  transform: correctOutput('transform', correctOutput('extract', source)),
  summarise: correctOutput('summarise', correctOutput('transform', correctOutput('extract', source))),
};

type Fault = 'malformed' | 'wrong-values' | 'empty-object' | 'truncated';
const FAULTS: Fault[] = ['malformed', 'wrong-values', 'empty-object', 'truncated'];
const STAGES = ['extract', 'transform', 'summarise'] as const;

function pipeline(run: Run, policy: ViolationPolicy, models: string[], inject: { stage: string; fault: Fault; attempts: number[] }) {
  const seen: Record<string, unknown[]> = { extract: [], transform: [], summarise: [] };
  const headers = ({ stage, input, attempt }: { stage: string; input: unknown; attempt: number }) => ({
    'x-sim-output-json': JSON.stringify(correctOutput(stage, input)),
    ...(stage === inject.stage && inject.attempts.includes(attempt) ? { 'x-sim-output': inject.fault } : {}),
  });
  const prompt = (stage: string) => (input: unknown) => {
    seen[stage]!.push(input);
    return `Stage ${stage}. Input: ${JSON.stringify(input)}`;
  };
  const extract = run.stage({ name: 'extract', contract: extractContract, models, policy, headers, prompt: prompt('extract'), maxTokens: 200 });
  const transform = run.stage({ name: 'transform', contract: transformContract, models, policy, headers, prompt: prompt('transform'), maxTokens: 200 });
  const summarise = run.stage({ name: 'summarise', contract: summaryContract, models, policy, headers, prompt: prompt('summarise'), maxTokens: 200 });
  return {
    seen,
    async go() {
      const stage1 = await extract.execute(source);
      const stage2 = await transform.execute(stage1.output);
      const stage3 = await summarise.execute(stage2.output);
      return [stage1, stage2, stage3];
    },
  };
}

interface LedgerCall { id: string; step: string; model: string; costUsd: string; attempt: number; retryOf: string | null; contract: { verdict: string; name: string | null; violation: string | null } }
async function ledger(run: Run) {
  const { calls } = await intime.request<{ calls: LedgerCall[] }>('GET', `/api/runs/${run.id}/calls`);
  const waste = await intime.request<{ total: { wastedUsd: string } }>('GET', `/api/waste?by=stage&run=${run.id}`);
  const failedCost = calls.filter((call) => call.contract.verdict === 'failed').reduce((sum, call) => sum + parseUsd(call.costUsd), 0n);
  return { calls, wasted: parseUsd(waste.total.wastedUsd), failedCost };
}

describe.each(STAGES)('a fault at %s', (faultStage) => {
  describe.each(FAULTS)('%s', (fault) => {
    it('retry: the same model is told the violation and its second answer goes on', async () => {
      const run = await intime.createRun({ name: `retry-${faultStage}-${fault}` });
      const { seen, go } = pipeline(run, { retries: 1, escalate: false }, ['gpt-4o-mini'], { stage: faultStage, fault, attempts: [1] });
      const results = await go();
      expect(seen).toEqual({ extract: [source], transform: [EXPECTED.extract], summarise: [EXPECTED.transform] });
      expect(results[2]!.output).toEqual(EXPECTED.summarise);
      const faulted = results[STAGES.indexOf(faultStage)]!;
      expect(faulted.attempts.map((attempt) => attempt.verdict)).toEqual(['failed', 'passed']);
      expect(faulted.wasted).toBe(faulted.attempts[0]!.cost);

      const { calls, wasted, failedCost } = await ledger(run);
      expect(calls).toHaveLength(4);
      const retry = calls.find((call) => call.attempt === 2)!;
      expect(retry).toMatchObject({ step: faultStage, retryOf: faulted.attempts[0]!.callId, contract: { verdict: 'passed' } });
      expect(wasted).toBe(faulted.attempts[0]!.cost);
      expect(failedCost).toBe(wasted);
      expect(wasted).toBeGreaterThan(0n);
    });

    it('escalate: the next model of the list gets the stage and passes', async () => {
      const run = await intime.createRun({ name: `escalate-${faultStage}-${fault}` });
      const { seen, go } = pipeline(run, { retries: 0 }, ['gpt-4o-mini', 'claude-haiku-4-5'], { stage: faultStage, fault, attempts: [1] });
      const results = await go();
      expect(seen).toEqual({ extract: [source], transform: [EXPECTED.extract], summarise: [EXPECTED.transform] });
      const faulted = results[STAGES.indexOf(faultStage)]!;
      expect(faulted.attempts.map((attempt) => [attempt.model, attempt.verdict])).toEqual([['gpt-4o-mini', 'failed'], ['claude-haiku-4-5', 'passed']]);
      const { calls, wasted, failedCost } = await ledger(run);
      expect(calls.filter((call) => call.model === 'claude-haiku-4-5')).toHaveLength(1);
      expect(wasted).toBe(faulted.attempts[0]!.cost);
      expect(failedCost).toBe(wasted);
    });

    it('halt: no attempt passes, the run stops, the next stage never sees the output', async () => {
      const run = await intime.createRun({ name: `halt-${faultStage}-${fault}` });
      const { seen, go } = pipeline(run, { retries: 1, escalate: false }, ['gpt-4o-mini'], { stage: faultStage, fault, attempts: [1, 2] });
      const error = await go().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ContractViolationError);
      const violation = error as ContractViolationError;
      expect(violation).toMatchObject({ stage: faultStage, code: 'contract_violation', runHalted: true });
      expect(violation.attempts.map((attempt) => attempt.verdict)).toEqual(['failed', 'failed']);
      expect(violation.attempts[1]!.violation).toEqual(violation.violation);
      const index = STAGES.indexOf(faultStage);
      for (const [position, stage] of STAGES.entries()) expect(seen[stage]).toHaveLength(position <= index ? 1 : 0);

      const { calls, wasted, failedCost } = await ledger(run);
      expect(calls).toHaveLength(index + 2);
      expect(wasted).toBe(violation.cost);
      expect(failedCost).toBe(violation.cost);
      expect(violation.cost).toBe(violation.attempts[0]!.cost + violation.attempts[1]!.cost);
      const status = await run.status();
      expect(status.state).toBe('stopped');
      expect(parseUsd(status.wastedUsd)).toBe(violation.cost);
    });
  });
});

describe('the library', () => {
  it('a clean run records passed verdicts and no waste', async () => {
    const run = await intime.createRun({ name: 'clean' });
    const { go } = pipeline(run, {}, ['gpt-4o-mini'], { stage: 'none', fault: 'malformed', attempts: [] });
    const results = await go();
    expect(results.map((result) => result.attempts.length)).toEqual([1, 1, 1]);
    const { calls, wasted } = await ledger(run);
    expect(calls.map((call) => [call.step, call.contract.verdict, call.contract.name])).toEqual([
      ['extract', 'passed', 'invoice-items'], ['transform', 'passed', 'invoice-lines'], ['summarise', 'passed', 'invoice-summary'],
    ]);
    expect(wasted).toBe(0n);
  });

  it('a check the gateway cannot see reaches the ledger as the failure reason', async () => {
    const run = await intime.createRun({ name: 'checks' });
    const { go } = pipeline(run, { retries: 1 }, ['gpt-4o-mini'], { stage: 'summarise', fault: 'empty-object', attempts: [1] });
    await go();
    const { calls } = await ledger(run);
    expect(calls.find((call) => call.contract.verdict === 'failed')?.contract).toEqual({
      verdict: 'failed', name: 'invoice-summary', version: null, violation: 'failed checks: has a summary; total matches the lines',
    });
  });

  it('without structured outputs the schema goes in the prompt, the text is parsed, and the verdicts of the library reach the ledger', async () => {
    const run = await intime.createRun({ name: 'plain-json' });
    const stage = run.stage({
      name: 'extract', contract: extractContract, prompt: (input: Source) => input.text,
      models: [{ model: 'gpt-4o-mini', protocol: 'openai', structuredOutput: false }],
      headers: ({ input, attempt }) => ({ 'x-sim-output-json': JSON.stringify(correctOutput('extract', input)), ...(attempt === 1 ? { 'x-sim-output': 'malformed' } : {}) }),
    });
    const result = await stage.execute(source);
    expect(result.output).toEqual(EXPECTED.extract);
    const { calls, wasted } = await ledger(run);
    // The gateway saw no schema (verdict none); both verdicts are the library's.
    expect(calls.map((call) => [call.contract.verdict, call.contract.name])).toEqual([['failed', 'invoice-items'], ['passed', 'invoice-items']]);
    expect(calls[0]!.contract.violation).toMatch(/not valid JSON/);
    expect(wasted).toBe(result.attempts[0]!.cost);
  });

  it('registers a contract so agents without the library can name it', async () => {
    const registered = await intime.registerContract(extractContract as never);
    expect(registered).toMatchObject({ name: 'invoice-items', version: 1 });
  });

  it('refuses a stage without models and a badly named contract', () => {
    expect(() => defineContract({ name: 'has spaces', schema: {} })).toThrow(/contract name/);
  });
});
