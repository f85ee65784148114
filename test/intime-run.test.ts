import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseUsd } from '../src/core/money.js';
import { ADMIN_TOKEN, startStack } from './harness.js';
import { REPO_ROOT, runCli } from './processes.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'intime-run-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('intime run', () => {
  it('stops a real agent process tree at zero: exit code 3, grandchild gone, report within budget', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const agent = join(REPO_ROOT, 'test/fixtures/looping-agent.mjs');
    const run = runCli(['run', '--sim', '--budget', '0.002', '--grace', '1s', '--data-dir', join(dir, 'data'), '--', process.execPath, agent, pidFile]);
    const code = await run.exited;
    const stderr = run.stderr();
    expect(code, stderr).toBe(3);
    expect(stderr).toContain('SIMULATED PROVIDER');
    expect(stderr).toContain('ended by the clock (budget_exhausted)');
    const spent = /spent \$([\d.]+) of \$0\.002 in (\d+) calls/.exec(stderr);
    expect(spent, stderr).not.toBeNull();
    expect(parseUsd(spent![1]!) <= parseUsd('0.002')).toBe(true);
    expect(Number(spent![2])).toBeGreaterThan(5);
    expect(stderr).toMatch(/work\s+gpt-4o-mini\s+\d+/); // spend by step and model
    expect(existsSync(pidFile)).toBe(true);
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    expect(alive(grandchild)).toBe(false);
  }, 60_000);

  it('passes the command\'s own exit code through when the clock did not end it', async () => {
    const run = runCli(['run', '--sim', '--budget', '1', '--data-dir', join(dir, 'data'), '--', process.execPath, '-e',
      'if (!process.env.OPENAI_BASE_URL.endsWith("/v1") || !process.env.OPENAI_API_KEY.startsWith("it_run_") || !process.env.INTIME_RUN) process.exit(9); process.exit(7)']);
    expect(await run.exited, run.stderr()).toBe(7);
    expect(run.stderr()).toMatch(/: completed/);
  }, 60_000);

  it('intime stop from another terminal ends the wrapped process tree with exit code 5', async () => {
    const stack = await startStack();
    try {
      const pidFile = join(dir, 'stop-grandchild.pid');
      const run = runCli(['run', '--gateway', stack.gateway.url, '--admin-token', ADMIN_TOKEN, '--budget', '1', '--grace', '1s', '--',
        process.execPath, join(REPO_ROOT, 'test/fixtures/looping-agent.mjs'), pidFile]);
      let runId: string | undefined;
      for (let i = 0; i < 200 && !runId; i++) {
        runId = /\[(run_[\w]+)\]/.exec(run.stderr())?.[1];
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(runId, run.stderr()).toBeDefined();
      while (!existsSync(pidFile)) await new Promise((resolve) => setTimeout(resolve, 20));
      const stop = runCli(['stop', runId!, '--note', 'enough', '--gateway', stack.gateway.url, '--admin-token', ADMIN_TOKEN]);
      expect(await stop.exited).toBe(0);
      expect(stop.stdout()).toContain(`run ${runId}: stopped`);
      // The agent loops on calls: one in flight is cut, and the stop says how soon its agent knew.
      expect(stop.stdout().trim()).toMatch(/: stopped( \((1 call in flight cut; its agent|\d+ calls in flight cut; their agents) had the error \d+\.\d ms after the request\))?$/);
      expect(await run.exited, run.stderr()).toBe(5);
      expect(alive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
    } finally {
      await stack.close();
    }
  }, 60_000);

  it('a deadline ends the command with exit code 4', async () => {
    const run = runCli(['run', '--sim', '--deadline', '1500ms', '--grace', '500ms', '--data-dir', join(dir, 'data'), '--', process.execPath, '-e', 'setInterval(() => {}, 1000)']);
    expect(await run.exited, run.stderr()).toBe(4);
    expect(run.stderr()).toContain('deadline_exceeded');
  }, 60_000);
});
