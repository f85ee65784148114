import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSim, type SimServer } from '../src/sim/index.js';
import { admin, client, Cluster, CuttableProxy, errorCode, PG_URL, REDIS_URL, type Replica } from './replicas.js';

const ready = PG_URL !== undefined && REDIS_URL !== undefined;
if (!ready) console.warn('[replicas-failures] INTIME_TEST_PG_URL and INTIME_TEST_REDIS_URL must both be set: skipped');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let sim: SimServer;
let cluster: Cluster;
let a: Replica;

beforeAll(async () => {
  if (!ready) return;
  sim = await startSim();
  cluster = new Cluster(sim.url, 3000);
  a = await cluster.start('a');
}, 60_000);
afterAll(async () => {
  if (!ready) return;
  await cluster.close();
  await sim.close();
});

const tick = async (replica: Replica, token: string) => {
  try {
    await client(replica, token).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'tick' }] }, { headers: { 'x-sim-output-tokens': '8' } });
    return 'ok';
  } catch (error) {
    return errorCode(error);
  }
};

async function recovers(replica: Replica, token: string): Promise<number> {
  const backAt = performance.now();
  while (performance.now() - backAt < 5_000) {
    if ((await tick(replica, token)) === 'ok') return performance.now() - backAt;
    await sleep(50);
  }
  return Infinity;
}

describe.skipIf(!ready)('replica failure policy', () => {
  it('PostgreSQL unreachable: calls fail closed with ledger_unavailable; service resumes by itself', async () => {
    const postgres = new URL(PG_URL!);
    const proxy = new CuttableProxy({ host: postgres.hostname, port: Number(postgres.port || 5432) });
    await proxy.open();
    const proxied = new URL(PG_URL!);
    proxied.port = String(proxy.port);
    const replica = await cluster.start('pg-behind-proxy', REDIS_URL, `${proxied.toString()}?schema=${cluster.schema}`);
    const run = await admin<{ id: string; token: string }>(a, 'POST', '/api/runs', { budgetUsd: '1' });
    expect(await Promise.all(Array.from({ length: 8 }, () => tick(replica, run.token)))).toEqual(Array(8).fill('ok'));
    await proxy.cut();
    const refused = await client(replica, run.token).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ status: 503, code: 'ledger_unavailable' });
    expect((refused as Error).message).toContain('PostgreSQL');
    await proxy.open();
    const after = await recovers(replica, run.token);
    console.log(`[replicas-failures] PostgreSQL back → calls admitted again after ${after.toFixed(0)} ms`);
    expect(after).toBeLessThan(5_000);
    const view = await admin<{ reservedUsd: string }>(a, 'GET', `/api/runs/${run.id}`);
    expect(view.reservedUsd).toBe('0'); // the refused call released what it had reserved
    await proxy.cut();
  }, 60_000);

  it('a replica whose signal channel was down reads the run states it missed before serving again: a stop it missed is enforced, its streams cut', async () => {
    const redis = new URL(REDIS_URL!);
    const proxy = new CuttableProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    await proxy.open();
    const away = await cluster.start('missed-signals', `redis://127.0.0.1:${proxy.port}`);
    const run = await admin<{ id: string; token: string }>(a, 'POST', '/api/runs', {});
    expect(await tick(away, run.token)).toBe('ok'); // the run is now known (cached) there
    const stream = client(away, run.token).chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'long' }] },
      { headers: { 'x-sim-output-tokens': '5000', 'x-sim-tokens-per-second': '20' } },
    ).then(async (events) => {
      for await (const _event of events) { /* until cut */ }
      return 'finished';
    }).catch((error: unknown) => errorCode(error));
    await sleep(200);
    await proxy.cut();
    await sleep(100);
    await admin(a, 'POST', `/api/runs/${run.id}/stop`, { note: 'while the channel was down' }); // the signal cannot reach it
    expect(await tick(away, run.token)).toBe('budget_store_unavailable'); // refusing while it cannot hear stops
    await proxy.open();
    const backAt = performance.now();
    expect(await stream).toBe('run_stopped'); // cut on resync, not left streaming
    console.log(`[replicas-failures] channel back → missed stop applied after ${(performance.now() - backAt).toFixed(0)} ms`);
    let outcome = 'budget_store_unavailable';
    for (let i = 0; i < 100 && outcome === 'budget_store_unavailable'; i++) {
      outcome = await tick(away, run.token);
      if (outcome === 'budget_store_unavailable') await sleep(50);
    }
    expect(outcome).toBe('run_stopped');
    await proxy.cut();
  }, 60_000);

  it('--on-store-failure open admits calls while Redis is away, with a loud warning, and counts again once it is back', async () => {
    const redis = new URL(REDIS_URL!);
    const proxy = new CuttableProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    await proxy.open();
    const replica = await cluster.start('fail-open', `redis://127.0.0.1:${proxy.port}`, undefined, ['--on-store-failure', 'open']);
    expect(replica.stderr()).toContain('WARNING: --on-store-failure open');
    const run = await admin<{ id: string; token: string }>(a, 'POST', '/api/runs', { budgetUsd: '1' });
    expect(await tick(replica, run.token)).toBe('ok');
    await proxy.cut();
    await sleep(100);
    expect(await Promise.all(Array.from({ length: 8 }, () => tick(replica, run.token)))).toEqual(Array(8).fill('ok'));
    expect(replica.stderr()).toContain('FAIL OPEN');
    await proxy.open();
    await sleep(1500);
    const before = await admin<{ spentUsd: string; calls: number }>(a, 'GET', `/api/runs/${run.id}`);
    expect(await tick(replica, run.token)).toBe('ok');
    const after = await admin<{ spentUsd: string; calls: number }>(a, 'GET', `/api/runs/${run.id}`);
    expect(Number(after.spentUsd)).toBeGreaterThan(Number(before.spentUsd)); // metered again
    await proxy.cut();
  }, 60_000);
});
