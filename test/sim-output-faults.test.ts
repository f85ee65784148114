import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSim, type SimServer } from '../src/sim/index.js';
import { wrongValues } from '../src/sim/output-faults.js';
import { SQLITE_MIGRATIONS } from '../src/stores/sqlite-migrations.js';
import { SqliteLedger } from '../src/stores/sqlite-ledger.js';

/** x-sim-output / x-sim-output-json: silent failures of structured output, straight from the simulator. */
let sim: SimServer;
beforeAll(async () => {
  sim = await startSim();
});
afterAll(async () => {
  await sim.close();
});

const scripted = { total: 22, lines: [12, 10], paid: false };
const schema = { type: 'object', properties: { total: { type: 'integer' } }, required: ['total'] };

async function chat(headers: Record<string, string>, stream = false): Promise<{ content: string; finish: string | null; outputTokens: number | undefined }> {
  const client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'sim', maxRetries: 0 });
  const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'go' }], response_format: { type: 'json_schema' as const, json_schema: { name: 'x', schema } } };
  if (!stream) {
    const answer = await client.chat.completions.create(body, { headers });
    return { content: answer.choices[0]!.message.content ?? '', finish: answer.choices[0]!.finish_reason, outputTokens: answer.usage?.completion_tokens };
  }
  let content = '';
  let finish: string | null = null;
  let outputTokens: number | undefined;
  for await (const chunk of await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } }, { headers })) {
    content += chunk.choices[0]?.delta.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    outputTokens = chunk.usage?.completion_tokens ?? outputTokens;
  }
  return { content, finish, outputTokens };
}

describe('sim output faults', () => {
  const json = JSON.stringify(scripted);
  it.each([false, true])('answers the scripted document, and each fault of it (stream: %s)', async (stream) => {
    expect(JSON.parse((await chat({ 'x-sim-output-json': json }, stream)).content)).toEqual(scripted);
    expect((await chat({ 'x-sim-output-json': json, 'x-sim-output': 'empty-object' }, stream)).content).toBe('{}');
    expect(JSON.parse((await chat({ 'x-sim-output-json': json, 'x-sim-output': 'wrong-values' }, stream)).content)).toEqual({ total: 23, lines: [13, 11], paid: true });
    const malformed = await chat({ 'x-sim-output-json': json, 'x-sim-output': 'malformed' }, stream);
    expect(() => JSON.parse(malformed.content)).toThrow();
    expect(malformed.finish).toBe('stop');
    const truncated = await chat({ 'x-sim-output-json': json, 'x-sim-output': 'truncated' }, stream);
    expect(json.startsWith(truncated.content)).toBe(true);
    expect(truncated.content.length).toBeLessThan(json.length);
    expect(truncated.finish).toBe('length');
    // Billing follows what was generated: a fault is never free.
    expect(truncated.outputTokens).toBeGreaterThan(0);
  });

  it('applies the fault to a schema sample when no document is scripted', async () => {
    expect((await chat({ 'x-sim-output': 'empty-object' })).content).toBe('{}');
    const sampled = JSON.parse((await chat({})).content) as { total: number };
    expect(Number.isInteger(sampled.total)).toBe(true);
  });

  it('applies the fault to forced tool arguments (Anthropic tool_use input)', async () => {
    const client = new Anthropic({ baseURL: sim.url, apiKey: 'sim', maxRetries: 0 });
    const answer = await client.messages.create({
      model: 'claude-haiku-4-5', max_tokens: 200, messages: [{ role: 'user', content: 'go' }],
      tools: [{ name: 'record', input_schema: schema as { type: 'object' } }], tool_choice: { type: 'tool', name: 'record' },
    }, { headers: { 'x-sim-output-json': json, 'x-sim-output': 'wrong-values' } });
    expect(answer.content.find((block) => block.type === 'tool_use')?.input).toEqual({ total: 23, lines: [13, 11], paid: true });
  });

  it('refuses unknown fault names and scripts that are not JSON', async () => {
    await expect(chat({ 'x-sim-output': 'sloppy' })).rejects.toMatchObject({ status: 400 });
    await expect(chat({ 'x-sim-output-json': '{nope' })).rejects.toMatchObject({ status: 400 });
  });

  it('wrong values reverse strings when there is nothing to shift', () => {
    expect(wrongValues({ id: 'abc', tags: ['xy'] })).toEqual({ id: 'cba', tags: ['yx'] });
  });
});

describe('migration v5', () => {
  it('brings a v4 ledger forward: old calls read as unjudged first tries', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'intime-v5-'));
    try {
      const path = join(dir, 'ledger.db');
      const old = new Database(path);
      old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
      for (const migration of SQLITE_MIGRATIONS.filter((entry) => entry.version <= 4)) {
        old.exec(migration.sql);
        old.prepare('INSERT INTO schema_migrations VALUES (?, ?)').run(migration.version, Date.now());
      }
      old.prepare(`INSERT INTO calls (id, run_id, provider, model, protocol, stream, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens,
        reasoning_tokens, cost, estimated, status, http_status, started_at, latency_ms) VALUES ('call_old', 'run_old', 'openai', 'gpt-4o-mini', 'openai-chat', 0, 1, 0, 0, 1, 0, 5, 0, 'ok', 200, 1, 1)`).run();
      old.close();
      const ledger = new SqliteLedger(path);
      expect(await ledger.getCall('call_old')).toMatchObject({ contractVerdict: 'none', contractName: null, attempt: 1, retryOf: null, cost: 5n });
      expect(await ledger.waste({ by: 'run' })).toEqual([{ group: 'run_old', cost: 5n, wasted: 0n, calls: 1, failedCalls: 0, retries: 0 }]);
      await ledger.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
