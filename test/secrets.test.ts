import { readdirSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSim, type SimServer } from '../src/sim/index.js';
import { freePort, startGatewayProcess } from './processes.js';

const ADMIN = 'it_admin_secrets-test-admin-token';
const OPENAI_KEY = 'sk-proj-TOPSECRET-openai-0123456789abcdef';
const ANTHROPIC_KEY = 'sk-ant-TOPSECRET-anthropic-0123456789';
let sim: SimServer;
let dataDir: string;

beforeAll(async () => {
  sim = await startSim();
  dataDir = mkdtempSync(join(tmpdir(), 'intime-secrets-'));
  writeFileSync(join(dataDir, 'config.json'), JSON.stringify({
    providers: {
      openai: { baseUrl: `${sim.url}/v1`, apiKeyEnv: 'OPENAI_API_KEY', protocols: ['openai-chat', 'openai-responses'] },
      anthropic: { baseUrl: sim.url, apiKeyEnv: 'ANTHROPIC_API_KEY', protocols: ['anthropic-messages'] },
    },
  }));
});
afterAll(async () => {
  await sim.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('secrets', () => {
  it('never appear in logs, ledger rows or API output', async () => {
    const gateway = await startGatewayProcess(
      ['--port', String(await freePort()), '--data-dir', dataDir, '--config', join(dataDir, 'config.json')],
      { INTIME_ADMIN_TOKEN: ADMIN, OPENAI_API_KEY: OPENAI_KEY, ANTHROPIC_API_KEY: ANTHROPIC_KEY, INTIME_LOG: 'debug' },
    );
    const admin = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${gateway.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}` }, body: body === undefined ? undefined : JSON.stringify(body) });
      return response.text();
    };
    const run = JSON.parse(await admin('POST', '/api/runs', { name: 'secretive' })) as { id: string; token: string };
    const key = JSON.parse(await admin('POST', '/api/keys', { name: 'ci', project: 'p' })) as { key: string };
    const secrets = [OPENAI_KEY, ANTHROPIC_KEY, run.token, key.key, ADMIN];

    const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: run.token, maxRetries: 0 });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-sim-fault': '500' } }).catch(() => undefined);
    await openai.chat.completions.create({ model: 'unpriced-model', messages: [{ role: 'user', content: 'hi' }] }).catch(() => undefined);
    const keyed = new Anthropic({ baseURL: gateway.url, apiKey: key.key, maxRetries: 0 });
    await keyed.messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
    await keyed.messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-sim-fault': 'disconnect-mid-stream' } }).catch(() => undefined);
    await new Anthropic({ baseURL: gateway.url, apiKey: `${key.key}x`, maxRetries: 0 }).messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }).catch(() => undefined);

    const outputs = [
      await admin('GET', '/api/runs'),
      await admin('GET', `/api/runs/${run.id}`),
      await admin('GET', `/api/runs/${run.id}/calls`),
      await admin('GET', '/api/keys'),
      await admin('GET', '/api/spend?by=key'),
      await admin('GET', '/api/spend?by=run'),
      await admin('GET', '/metrics'),
      await admin('GET', '/api/live-runs'),
      await admin('GET', '/api/alerts'),
      await admin('GET', '/api/audit'),
      await admin('GET', '/'),
      await eventsSnapshot(gateway.url),
      // Errors that name what was refused must not echo the credential they refused.
      await (await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${run.token}x` }, body: '{}' })).text(),
      await (await fetch(`${gateway.url}/api/runs`, { headers: { authorization: `Bearer ${ADMIN}x` } })).text(),
    ];
    gateway.child.kill('SIGTERM');
    await gateway.exited;
    const files = readdirSync(dataDir).filter((name) => name.startsWith('ledger.db')).map((name) => readFileSync(join(dataDir, name)).toString('latin1'));
    expect(files.length).toBeGreaterThan(0);
    expect(files.join('')).toContain('gpt-4o-mini'); // the ledger was really written and read here
    for (const secret of secrets) {
      for (const [where, text] of [['stdout', gateway.stdout()], ['stderr', gateway.stderr()], ['api', outputs.join('\n')], ['ledger', files.join('')]] as const) {
        expect(text.includes(secret), `${secret.slice(0, 12)}… leaked in ${where}`).toBe(false);
      }
    }
    expect(gateway.stderr()).toContain('call settled'); // debug logging was on, so the check above means something
    expect(outputs.join('\n')).toContain('intime_'); // the metrics really were read
    expect(outputs.join('\n')).toContain('event: runs'); // and the live feed
  }, 60_000);

  it('are stored hashed: the ledger holds the SHA-256 of each token, never the token', async () => {
    const { hashToken } = await import('../src/gateway/secrets.js');
    const Database = (await import('better-sqlite3')).default;
    const gateway = await startGatewayProcess(['--port', String(await freePort()), '--data-dir', dataDir, '--config', join(dataDir, 'config.json')], { INTIME_ADMIN_TOKEN: ADMIN });
    const post = async (path: string, body: unknown) => (await fetch(`${gateway.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: JSON.stringify(body) })).json() as Promise<Record<string, string>>;
    const run = await post('/api/runs', { name: 'hashed' });
    const key = await post('/api/keys', { name: 'hashed-key' });
    const principal = await post('/api/principals', { name: 'ops', role: 'viewer' });
    gateway.child.kill('SIGTERM');
    await gateway.exited;
    const db = new Database(join(dataDir, 'ledger.db'), { readonly: true });
    const hashes = [
      (db.prepare('SELECT token_hash AS h FROM runs WHERE id = ?').get(run.id) as { h: string }).h,
      (db.prepare('SELECT token_hash AS h FROM keys WHERE name = ?').get('hashed-key') as { h: string }).h,
      (db.prepare('SELECT token_hash AS h FROM principals WHERE name = ?').get('ops') as { h: string }).h,
    ];
    db.close();
    expect(hashes).toEqual([hashToken(run.token!), hashToken(key.key!), hashToken(principal.token!)]);
  }, 60_000);
});

/** What the dashboard's live feed sends first, read for a moment and then closed. */
async function eventsSnapshot(url: string): Promise<string> {
  const abort = new AbortController();
  const response = await fetch(`${url}/api/events`, { headers: { authorization: `Bearer ${ADMIN}` }, signal: abort.signal });
  let text = '';
  const reader = response.body!.getReader();
  const timer = setTimeout(() => abort.abort(), 500);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
      if (text.includes('event: runs')) break;
    }
  } catch {
    // read until the timer, whatever came
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return text;
}
