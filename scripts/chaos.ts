/**
 * `npm run chaos -- [--seconds N] [--workers N] [--kill-every-ms N] [--seed N]`: mixed load from
 * the official OpenAI and Anthropic clients through a gateway in its own process, with random
 * stops, pauses, approvals, client aborts, every sim fault, and the gateway SIGKILLed and
 * restarted every few seconds. Loopback only. At the end the durable ledger is checked
 * against what the clients saw; any violation exits 1.
 *
 * Invariants checked:
 *  1. every call whose answer the client received whole is in the ledger, status ok, with
 *     the token counts the client saw (when the provider reported usage);
 *  2. no upstream request is charged twice;
 *  3. no reservation is left once the gateway has restarted;
 *  4. no run's settled spend exceeds its budget.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { parseUsd } from '../src/core/money.js';
import { startSim } from '../src/sim/index.js';
import { FAULTS } from '../src/sim/directives.js';
import { freePort, startGatewayProcess, type CliProcess } from '../test/processes.js';
import { agentCall, type AgentOutcome, type CallShape } from './chaos-agent.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    workers: { type: 'string', default: '24' },
    'kill-every-ms': { type: 'string', default: '4000' },
    seed: { type: 'string', default: '1' },
  },
});
const SECONDS = Number(args.seconds);
const WORKERS = Number(args.workers);
const KILL_EVERY_MS = Number(args['kill-every-ms']);
const ADMIN = 'it_admin_chaos';

// A small deterministic generator: a failing run can be replayed with its seed (timing aside).
let state = Number(args.seed) >>> 0 || 1;
const random = () => ((state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const tally = {
  attempts: 0, completed: 0, failedAtClient: 0, clientAborts: 0, faults: {} as Record<string, number>, gatedToolCalls: 0,
  stops: 0, pauses: 0, resumes: 0, approved: 0, denied: 0, kills: 0, runs: 0,
};

const sim = await startSim();
const dataDir = mkdtempSync(join(tmpdir(), 'intime-chaos-'));
const configPath = join(dataDir, 'config.json');
writeFileSync(configPath, JSON.stringify({
  providers: {
    openai: { baseUrl: `${sim.url}/v1`, apiKey: 'sk-sim-openai', protocols: ['openai-chat', 'openai-responses'] },
    anthropic: { baseUrl: sim.url, apiKey: 'sk-sim-anthropic', protocols: ['anthropic-messages'] },
  },
  pauseHoldMs: 1500,
  approvals: { tools: ['send_*'], timeoutMs: 1500, onDeny: 'strip' },
}));
const port = await freePort();
const serveArgs = ['--port', String(port), '--data-dir', dataDir, '--config', configPath];
const env = { INTIME_ADMIN_TOKEN: ADMIN, INTIME_LOG: 'error' };
let gateway: CliProcess & { url: string } = await startGatewayProcess(serveArgs, env);
const url = gateway.url;
let up = true;

async function admin<T>(method: string, path: string, body?: unknown): Promise<T | undefined> {
  try {
    const response = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}` }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(5000) });
    if (!response.ok) {
      if (process.env.CHAOS_DEBUG) console.error('admin', method, path, response.status, await response.text());
      return undefined;
    }
    return (await response.json()) as T;
  } catch (error) {
    if (process.env.CHAOS_DEBUG) console.error('admin', method, path, (error as Error).message);
    return undefined; // the gateway is down right now: chaos goes on
  }
}

interface LiveRun { id: string; token: string; budgetUsd: string | null }
const runs: LiveRun[] = [];
const allRuns: LiveRun[] = [];
async function newRun(): Promise<LiveRun | undefined> {
  const budgetUsd = random() < 0.5 ? pick(['0.0005', '0.002', '0.01']) : null;
  const created = await admin<{ id: string; token: string }>('POST', '/api/runs', { name: 'chaos', ...(budgetUsd ? { budgetUsd } : {}) });
  if (!created) return undefined;
  const run = { id: created.id, token: created.token, budgetUsd };
  runs.push(run);
  allRuns.push(run);
  tally.runs += 1;
  return run;
}

const outcomes: AgentOutcome[] = [];
const deadline = Date.now() + SECONDS * 1000;

async function worker(): Promise<void> {
  while (Date.now() < deadline) {
    if (!up) {
      await sleep(50);
      continue;
    }
    const run = runs.length < 6 || random() < 0.05 ? await newRun() : pick(runs);
    if (!run) {
      await sleep(50);
      continue;
    }
    const shape: CallShape = {
      protocol: pick(['chat', 'responses', 'anthropic'] as const),
      stream: random() < 0.6,
      fault: random() < 0.3 ? pick(FAULTS) : undefined,
      gatedTool: random() < 0.1,
      abortAfterMs: random() < 0.1 ? 5 + Math.floor(random() * 60) : undefined,
      outputTokens: 5 + Math.floor(random() * 60),
    };
    tally.attempts += 1;
    if (shape.fault) tally.faults[shape.fault] = (tally.faults[shape.fault] ?? 0) + 1;
    if (shape.gatedTool) tally.gatedToolCalls += 1;
    if (shape.abortAfterMs !== undefined) tally.clientAborts += 1;
    const outcome = await agentCall(url, run.token, run.id, shape);
    outcomes.push(outcome);
    if (outcome.completed) tally.completed += 1;
    else tally.failedAtClient += 1;
    // A run that ended (stopped, exhausted) leaves the pool.
    if (outcome.errorCode && /run_|exhausted|deadline/.test(outcome.errorCode)) {
      const index = runs.indexOf(run);
      if (index >= 0) runs.splice(index, 1);
    }
  }
}

async function controller(): Promise<void> {
  while (Date.now() < deadline) {
    await sleep(150 + random() * 300);
    if (!up || runs.length === 0) continue;
    const roll = random();
    const run = pick(runs);
    if (roll < 0.2) {
      if (await admin('POST', `/api/runs/${run.id}/stop`, { note: 'chaos' })) tally.stops += 1;
      runs.splice(runs.indexOf(run), 1);
    } else if (roll < 0.4) {
      if (await admin('POST', `/api/runs/${run.id}/pause`, {})) tally.pauses += 1;
      void sleep(100 + random() * 1200).then(async () => {
        if (await admin('POST', `/api/runs/${run.id}/resume`, {})) tally.resumes += 1;
      });
    }
    const pending = await admin<{ approvals: { id: string }[] }>('GET', '/api/approvals?state=pending');
    for (const approval of pending?.approvals ?? []) {
      const approve = random() < 0.5;
      if (await admin('POST', `/api/approvals/${approval.id}/${approve ? 'approve' : 'deny'}`, { note: 'chaos' })) {
        if (approve) tally.approved += 1;
        else tally.denied += 1;
      }
    }
  }
}

async function killer(): Promise<void> {
  while (Date.now() < deadline - KILL_EVERY_MS / 2) {
    await sleep(KILL_EVERY_MS * (0.5 + random()));
    if (Date.now() >= deadline) break;
    up = false;
    gateway.child.kill('SIGKILL');
    await gateway.exited;
    tally.kills += 1;
    await sleep(50 + random() * 250);
    gateway = await startGatewayProcess(serveArgs, env);
    up = true;
  }
}

await Promise.all([...Array.from({ length: WORKERS }, worker), controller(), killer()]);
// The clients are done. Restart once more so the gateway reconciles what the last kill left,
// then stop it cleanly and read the durable ledger directly.
gateway.child.kill('SIGKILL');
await gateway.exited;
tally.kills += 1;
gateway = await startGatewayProcess(serveArgs, env);
gateway.child.kill('SIGTERM');
await gateway.exited;
await sim.close();

let ledgerSummary = '';
const violations = checkLedger();
console.log(`chaos: ${SECONDS}s, ${WORKERS} workers, seed ${args.seed}`);
console.log(`  calls: ${tally.attempts} attempted, ${tally.completed} completed at the client, ${tally.failedAtClient} ended otherwise`);
console.log(`  faults injected: ${Object.entries(tally.faults).map(([kind, count]) => `${kind} ${count}`).join(', ') || 'none'}`);
console.log(`  client aborts ${tally.clientAborts}, gated tool calls ${tally.gatedToolCalls} (approved ${tally.approved}, denied ${tally.denied})`);
console.log(`  runs ${tally.runs}: stops ${tally.stops}, pauses ${tally.pauses}, resumes ${tally.resumes}; gateway SIGKILLs ${tally.kills}`);
console.log(`  ledger: ${ledgerSummary}`);
console.log(`  invariant violations: ${violations.length}`);
for (const violation of violations.slice(0, 20)) console.log(`    - ${violation}`);
rmSync(dataDir, { recursive: true, force: true });
process.exit(violations.length === 0 ? 0 : 1);

// ---

function checkLedger(): string[] {
  const db = new Database(join(dataDir, 'ledger.db'), { readonly: true });
  db.defaultSafeIntegers(true);
  const violations: string[] = [];
  const calls = new Map<string, { status: string; input: bigint; cacheRead: bigint; output: bigint; upstream: string | null }>();
  type Row = { id: string; status: string; input_tokens: bigint; cache_read_tokens: bigint; output_tokens: bigint; upstream_request_id: string | null };
  for (const row of db.prepare('SELECT id, status, input_tokens, cache_read_tokens, output_tokens, upstream_request_id FROM calls').all() as Row[]) {
    calls.set(row.id, { status: row.status, input: row.input_tokens, cacheRead: row.cache_read_tokens, output: row.output_tokens, upstream: row.upstream_request_id });
  }
  const byStatus: Record<string, number> = {};
  for (const call of calls.values()) byStatus[call.status] = (byStatus[call.status] ?? 0) + 1;
  ledgerSummary = `${calls.size} entries (${Object.entries(byStatus).map(([status, count]) => `${status} ${count}`).join(', ')})`;

  // 1. Every answer the client received whole is in the ledger, with the usage the client saw.
  for (const outcome of outcomes) {
    if (!outcome.completed) continue;
    if (!outcome.callId) {
      violations.push(`a completed ${outcome.shape.protocol} call carried no x-intime-call-id`);
      continue;
    }
    const call = calls.get(outcome.callId);
    if (!call) {
      violations.push(`completed call ${outcome.callId} (${outcome.shape.protocol}, stream ${outcome.shape.stream}) is missing from the ledger`);
      continue;
    }
    if (call.status !== 'ok') violations.push(`completed call ${outcome.callId} is recorded as ${call.status}`);
    if (outcome.usage) {
      const input = Number(call.input + call.cacheRead);
      if (input !== outcome.usage.input || Number(call.output) !== outcome.usage.output) {
        violations.push(`call ${outcome.callId}: client saw ${outcome.usage.input}/${outcome.usage.output} tokens, ledger has ${input}/${call.output}`);
      }
    }
  }
  // 2. No upstream request charged twice.
  const seen = new Set<string>();
  for (const [id, call] of calls) {
    if (call.upstream === null) continue;
    if (seen.has(call.upstream)) violations.push(`upstream request ${call.upstream} is charged twice (again in ${id})`);
    seen.add(call.upstream);
  }
  // 3. No reservation left after the restart.
  const left = Number((db.prepare('SELECT COUNT(*) AS n FROM reservations').get() as { n: bigint }).n);
  if (left > 0) violations.push(`${left} reservations left after restart`);
  // 4. No budget overshot.
  for (const run of allRuns) {
    if (!run.budgetUsd) continue;
    const spent = (db.prepare('SELECT COALESCE(SUM(cost), 0) AS spent FROM calls WHERE run_id = ?').get(run.id) as { spent: bigint }).spent;
    if (spent > parseUsd(run.budgetUsd)) {
      violations.push(`run ${run.id} spent ${spent} pico-USD of a ${run.budgetUsd} USD budget`);
      if (process.env.CHAOS_DEBUG) console.table(db.prepare('SELECT model, status, error_code, input_tokens, output_tokens, cost, estimated, started_at FROM calls WHERE run_id = ? ORDER BY started_at').all(run.id));
    }
  }
  db.close();
  return violations;
}
