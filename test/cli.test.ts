import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startStack, type Stack } from './harness.js';
import { runCli } from './processes.js';

let stack: Stack;
let runId: string;
beforeAll(async () => {
  stack = await startStack();
  const run = await stack.createRun({ name: 'cli-run', project: 'cli' });
  runId = run.id;
  const client = stack.openai(run.token);
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'one' }] }, { headers: { 'x-intime-step': 'plan', 'x-sim-output-tokens': '10' } });
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'two' }] }, { headers: { 'x-intime-step': 'act', 'x-sim-output-tokens': '20' } });
  await stack.anthropic(run.token).messages.create({ model: 'claude-haiku-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'three' }] }, { headers: { 'x-intime-step': 'act', 'x-sim-output-tokens': '5' } });
});
afterAll(() => stack.close());

async function cli(...args: string[]) {
  const process = runCli([...args, '--gateway', stack.gateway.url, '--admin-token', ADMIN_TOKEN]);
  const code = await process.exited;
  return { code, stdout: process.stdout(), stderr: process.stderr() };
}

describe('the CLI against a running gateway', () => {
  it('intime runs lists the run with its spend', async () => {
    const { code, stdout } = await cli('runs');
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`${runId}\\s+cli-run\\s+running\\s+\\$0\\.\\d+\\s+-\\s+3`));
  });

  it('intime report shows spend by step and model, and every call', async () => {
    const { code, stdout } = await cli('report', runId);
    expect(code).toBe(0);
    expect(stdout).toContain(`run ${runId} (cli-run): running`);
    expect(stdout).toMatch(/plan\s+gpt-4o-mini\s+1\s+10/);
    expect(stdout).toMatch(/act\s+gpt-4o-mini\s+1\s+20/);
    expect(stdout).toMatch(/act\s+claude-haiku-4-5\s+1\s+5/);
    const json = JSON.parse((await cli('report', runId, '--json')).stdout) as { calls: unknown[] };
    expect(json.calls).toHaveLength(3);
  });

  it('intime spend groups by model and by day, with an exact total', async () => {
    const { stdout } = await cli('spend', '--by', 'model', '--json');
    const spend = JSON.parse(stdout) as { rows: { group: string; calls: number }[]; total: { calls: number; costUsd: string } };
    expect(spend.rows.map((row) => row.group).sort()).toEqual(['claude-haiku-4-5', 'gpt-4o-mini']);
    const { body: run } = await stack.admin<{ spentUsd: string }>('GET', `/api/runs/${runId}`);
    expect(spend.total.costUsd).toBe(run.spentUsd);
    const byDay = await cli('spend', '--by', 'day');
    expect(byDay.stdout).toContain(new Date().toISOString().slice(0, 10));
  });

  it('intime keys create shows the key once; keys list never does', async () => {
    const created = await cli('keys', 'create', '--name', 'ci-bot', '--project', 'cli');
    const key = /key \(shown once\): (\S+)/.exec(created.stdout)?.[1];
    expect(key).toMatch(/^it_key_/);
    const listed = await cli('keys', 'list');
    expect(listed.stdout).toContain('ci-bot');
    expect(listed.stdout).not.toContain(key!);
    // The key works as an agent's API key, and its spend is attributed to it.
    await stack.openai(key!).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'keyed' }] });
    const byKey = JSON.parse((await cli('spend', '--by', 'key', '--json')).stdout) as { rows: { group: string | null }[] };
    expect(byKey.rows.some((row) => row.group?.startsWith('key_'))).toBe(true);
  });

  it('intime budgets set and list: a daily project budget with what is left', async () => {
    const set = await cli('budgets', 'set', '--project', 'cli', '--usd', '5', '--window', 'day');
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('budget set on project:cli (day): $5');
    const listed = await cli('budgets', 'list');
    expect(listed.stdout).toMatch(/project:cli\s+day\s+\$5\s+\$0(\.\d+)?\s+\$0\s+\$4\.9/);
    const both = await cli('budgets', 'set', '--usd', '5');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('exactly one of --key or --project');
  });

  it('explains a gateway it cannot reach or a wrong token, with exit code 2', async () => {
    const unreachable = runCli(['runs', '--gateway', 'http://127.0.0.1:9', '--admin-token', 'x']);
    expect(await unreachable.exited).toBe(2);
    expect(unreachable.stderr()).toMatch(/cannot reach the gateway/);
    const wrong = runCli(['runs', '--gateway', stack.gateway.url, '--admin-token', 'wrong']);
    expect(await wrong.exited).toBe(2);
    expect(wrong.stderr()).toMatch(/401/);
  });
});

describe('intime demo', () => {
  it('runs the workload through the official clients on the simulated provider and prints the spend table', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'intime-demo-'));
    try {
      const demo = runCli(['demo', '--exit', '--port', '0', '--data-dir', dataDir]);
      expect(await demo.exited).toBe(0);
      const out = demo.stdout();
      expect(out).toContain('SIMULATED PROVIDER');
      expect(out).toMatch(/research-agent\s+4\s+\d+\s+\d+\s+0\s+0\.\d+/);
      expect(out).toMatch(/support-agent\s+2\s+\d+\s+\d+\s+0\s+0\.\d+/);
      expect(out).toMatch(/invoice-pipeline\s+5\s+\d+\s+\d+\s+0\s+0\.\d+/);
      expect(out).toMatch(/total\s+11\s+\$0\.\d+\s+\$0\.\d+/);
      // The contract pipeline passes in the end and shows what it wasted on the way, by stage.
      expect(out).toMatch(/extract\s+\$0\.\d+\s+\$0\.\d+\s+[\d.]+%\s+2\s+1\s+1/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
