import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUsd, parseUsd } from '../src/core/money.js';
import { startSim, type SimServer } from '../src/sim/index.js';
import { freePort, startGatewayProcess } from './processes.js';

const ADMIN = 'it_admin_crash-test';
let sim: SimServer;
let dataDir: string;

beforeAll(async () => {
  sim = await startSim();
  dataDir = mkdtempSync(join(tmpdir(), 'intime-crash-'));
  writeFileSync(join(dataDir, 'config.json'), JSON.stringify({
    providers: { openai: { baseUrl: `${sim.url}/v1`, apiKey: 'sk-sim', protocols: ['openai-chat', 'openai-responses'] } },
  }));
});
afterAll(async () => {
  await sim.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a gateway killed with SIGKILL under load', () => {
  it('loses no call whose response completed and leaks no reservation: 64 concurrent streams, kill, restart', async () => {
    const port = await freePort();
    const args = ['--port', String(port), '--data-dir', dataDir, '--config', join(dataDir, 'config.json')];
    const env = { INTIME_ADMIN_TOKEN: ADMIN };
    const first = await startGatewayProcess(args, env);
    const created = await fetch(`${first.url}/api/runs`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ budgetUsd: '100' }) });
    const run = (await created.json()) as { id: string; token: string };

    const client = new OpenAI({ baseURL: `${first.url}/v1`, apiKey: run.token, maxRetries: 0 });
    const completed: string[] = [];
    let stopped = false;
    const worker = async () => {
      while (!stopped) {
        try {
          const { data: stream, response } = await client.chat.completions.create(
            { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'tick' }] },
            { headers: { 'x-sim-output-tokens': '20', 'x-sim-tokens-per-second': '400' } },
          ).withResponse();
          let finished = false;
          for await (const chunk of stream) if (chunk.choices[0]?.finish_reason) finished = true;
          // The SDK ends iteration cleanly only after [DONE]: this response completed.
          if (finished) completed.push(response.headers.get('x-intime-call-id')!);
        } catch {
          return; // the gateway is gone
        }
      }
    };
    const workers = Array.from({ length: 64 }, worker);
    // Kill mid-load: once plenty of calls have finished and the rest are in flight.
    const until = Date.now() + 20_000;
    while (completed.length < 100 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    first.child.kill('SIGKILL');
    await first.exited;
    stopped = true;
    await Promise.all(workers);
    expect(completed.length).toBeGreaterThan(64);

    const second = await startGatewayProcess(args, env);
    try {
      const response = await fetch(`${second.url}/api/runs/${run.id}/calls`, { headers: { authorization: `Bearer ${ADMIN}` } });
      const { calls } = (await response.json()) as { calls: { id: string; status: string }[] };
      const recorded = new Set(calls.map((call) => call.id));
      const missing = completed.filter((id) => !recorded.has(id));
      expect(missing).toEqual([]);
      expect(calls.filter((call) => call.status === 'ok').length).toBeGreaterThanOrEqual(completed.length);
      // Calls in flight at the kill held reservations: the restart settled them (prompt billed,
      // estimated), so nothing stays reserved and the clock agrees with the ledger.
      expect(calls.some((call) => call.status === 'interrupted')).toBe(true);
      const view = (await (await fetch(`${second.url}/api/runs/${run.id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as
        { reservedUsd: string; spentUsd: string; remainingUsd: string };
      const settled = calls.reduce((sum, call) => sum + parseUsd((call as unknown as { costUsd: string }).costUsd), 0n);
      expect(view.reservedUsd).toBe('0');
      expect(view.spentUsd).toBe(formatUsd(settled));
      expect(view.remainingUsd).toBe(formatUsd(parseUsd('100') - settled));
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 60_000);
});
