import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startStack, type Stack } from './harness.js';
import { runCli } from './processes.js';

/** Waste in the CLI: intime waste, intime report and intime spend, against a gateway with one failed output. */
let stack: Stack;
let runId: string;
let failedCost: string;
let totalCost: bigint;
beforeAll(async () => {
  stack = await startStack();
  const run = await stack.createRun({ name: 'cli-waste' });
  runId = run.id;
  const client = stack.openai(run.token, { maxRetries: 0 });
  const schema = { type: 'object', properties: { total: { type: 'integer' } }, required: ['total'] };
  const ask = (headers: Record<string, string>) => client.chat.completions.create({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Total?' }], response_format: { type: 'json_schema', json_schema: { name: 'total', schema } },
  }, { headers: { 'x-intime-step': 'sum', 'x-sim-output-json': '{"total":3}', ...headers } }).withResponse();
  const failed = await ask({ 'x-sim-output': 'empty-object' });
  failedCost = failed.response.headers.get('x-intime-cost-usd')!;
  const retried = await ask({ 'x-intime-attempt': '2', 'x-intime-retry-of': failed.response.headers.get('x-intime-call-id')! });
  const { parseUsd } = await import('../src/core/money.js');
  totalCost = parseUsd(failedCost) + parseUsd(retried.response.headers.get('x-intime-cost-usd')!);
});
afterAll(() => stack.close());

async function cli(...args: string[]) {
  const process = runCli([...args, '--gateway', stack.gateway.url, '--admin-token', ADMIN_TOKEN]);
  const code = await process.exited;
  return { code, stdout: process.stdout(), stderr: process.stderr() };
}

describe('waste in the CLI', () => {
  it('intime waste --by stage shows the failed output as waste, exactly', async () => {
    const { code, stdout } = await cli('waste', '--by', 'stage', '--run', runId, '--json');
    expect(code).toBe(0);
    const waste = JSON.parse(stdout) as { rows: { group: string; wastedUsd: string; failedCalls: number; retries: number }[] };
    expect(waste.rows).toEqual([expect.objectContaining({ group: 'sum', wastedUsd: failedCost, failedCalls: 1, retries: 1 })]);
    const table = await cli('waste', '--by', 'model');
    expect(table.stdout).toMatch(/gpt-4o-mini .*\$/);
  });

  it('intime report shows the waste line, the verdicts and the violation', async () => {
    const { code, stdout } = await cli('report', runId);
    expect(code).toBe(0);
    expect(stdout).toContain(`wasted $${failedCost} on outputs that failed their contract (1 of 2 judged calls failed, 1 retries)`);
    expect(stdout).toContain('passed (try 2)');
    expect(stdout).toContain("output / must have required property 'total'");
  });

  it('intime spend has a wasted column', async () => {
    const { stdout } = await cli('spend', '--by', 'step', '--json');
    const spend = JSON.parse(stdout) as { rows: { group: string; wastedUsd: string; costUsd: string }[] };
    const { formatUsd } = await import('../src/core/money.js');
    expect(spend.rows.find((row) => row.group === 'sum')).toMatchObject({ wastedUsd: failedCost, costUsd: formatUsd(totalCost) });
    expect((await cli('spend', '--by', 'step')).stdout.split('\n')[0]).toMatch(/wasted/);
  });

  it('refuses an unknown waste dimension', async () => {
    const { code, stderr } = await cli('waste', '--by', 'color');
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/by must be one of stage, model, run, day/);
  });
});
