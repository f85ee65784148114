import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSim, type SimServer } from '../src/sim/index.js';
import { admin, client, Cluster, PG_URL, REDIS_URL, type Replica } from './replicas.js';

const ready = PG_URL !== undefined && REDIS_URL !== undefined;
if (!ready) console.warn('[replicas-approvals] INTIME_TEST_PG_URL and INTIME_TEST_REDIS_URL must both be set: skipped');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let sim: SimServer;
let cluster: Cluster;
let a: Replica, b: Replica, c: Replica;

beforeAll(async () => {
  if (!ready) return;
  sim = await startSim();
  cluster = new Cluster(sim.url, 3000);
  [a, b, c] = await Promise.all([cluster.start('a'), cluster.start('b'), cluster.start('c')]);
}, 60_000);
afterAll(async () => {
  if (!ready) return;
  await cluster.close();
  await sim.close();
});

interface ApprovalView { id: string; state: string; tool: string; decidedBy: string | null }

async function pendingOn(replica: Replica, runId: string): Promise<ApprovalView> {
  for (let attempt = 0; attempt < 250; attempt++) {
    const { approvals } = await admin<{ approvals: ApprovalView[] }>(replica, 'GET', `/api/approvals?state=pending&run=${runId}`);
    if (approvals.length > 0) return approvals[0]!;
    await sleep(20);
  }
  throw new Error(`no pending approval for run ${runId}`);
}

const TOOL = { 'x-sim-tool-call': 'send_email', 'x-sim-tool-args': '{"to":"ops@example.com"}' };

describe.skipIf(!ready)('approvals, pause and resume across replicas', () => {
  it('a policy set on A gates calls on B; the approval is listed and decided on C; B releases the answer', async () => {
    await admin(a, 'PUT', '/api/approval-policies', { scope: 'global', tools: ['send_*'] });
    await sleep(100); // the other replicas reload the policies on the signal
    const run = await admin<{ id: string; token: string }>(a, 'POST', '/api/runs', {});
    let answeredAt = 0;
    const answer = client(b, run.token).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mail ops' }] }, { headers: TOOL })
      .then((completion) => { answeredAt = performance.now(); return completion; });
    const pending = await pendingOn(c, run.id);
    expect(pending).toMatchObject({ tool: 'send_email', state: 'pending' });
    await sleep(200);
    expect(answeredAt).toBe(0); // held on B
    const decidedAt = performance.now();
    const decided = await admin<ApprovalView>(c, 'POST', `/api/approvals/${pending.id}/approve`, { by: 'carol' });
    expect(decided).toMatchObject({ state: 'approved', decidedBy: 'carol' });
    const completion = await answer;
    console.log(`[replicas-approvals] approved on C → answer released by B after ${(answeredAt - decidedAt).toFixed(1)} ms`);
    expect(completion.choices[0]!.message.tool_calls?.map((call) => call.type === 'function' && call.function.name)).toEqual(['send_email']);
    expect(answeredAt - decidedAt).toBeLessThan(1000);
  }, 60_000);

  it('a deny on A reaches the call held on C, and a second decision anywhere is refused', async () => {
    const run = await admin<{ id: string; token: string }>(b, 'POST', '/api/runs', {});
    const answer = client(c, run.token).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mail ops' }] }, { headers: TOOL });
    const pending = await pendingOn(a, run.id);
    await admin(a, 'POST', `/api/approvals/${pending.id}/deny`, { note: 'not today' });
    const completion = await answer;
    expect(completion.choices[0]!.message.tool_calls ?? []).toEqual([]);
    const late = await fetch(`${b.url}/api/approvals/${pending.id}/approve`, { method: 'POST', headers: { authorization: 'Bearer it_admin_replicas-test' }, body: '{}' });
    expect(late.status).toBe(409);
  }, 60_000);

  it('pause on A holds new calls on B; resume on C releases them', async () => {
    const run = await admin<{ id: string; token: string }>(a, 'POST', '/api/runs', {});
    const api = client(b, run.token);
    await api.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'warm' }] }, { headers: { 'x-sim-output-tokens': '4' } });
    expect((await admin<{ state: string }>(a, 'POST', `/api/runs/${run.id}/pause`, {})).state).toBe('paused');
    await sleep(50);
    let answered = false;
    const held = api.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'held' }] }, { headers: { 'x-sim-output-tokens': '4' } })
      .then(() => { answered = true; });
    await sleep(300);
    expect(answered).toBe(false);
    expect((await admin<{ state: string }>(c, 'POST', `/api/runs/${run.id}/resume`, {})).state).toBe('running');
    await held;
    expect(answered).toBe(true);
  }, 60_000);
});
