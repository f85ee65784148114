/**
 * The cost of precedents per call: retrieval (BM25 over the stage's precedents, the
 * relevance threshold, the token cap with the real tokenizer) at 10,000 precedents, all in
 * the call's stage (the worst case) and spread over 100 stages; the block's injection into
 * the body; and loading 10,000 from SQLite at the first retrieval. In process, about 20 s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PrecedentObservation } from '../src/core/precedents.js';
import { defaultConfig } from '../src/gateway/config.js';
import { createLogger } from '../src/gateway/log.js';
import { PrecedentService } from '../src/gateway/precedents.js';
import { withInstructions } from '../src/protocols/instructions.js';
import { SqliteLedger } from '../src/stores/sqlite-ledger.js';
import { SqlitePrecedentStore } from '../src/stores/sqlite-precedents.js';

const COUNT = Number(process.env.BENCH_PRECEDENTS ?? 10_000);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 500);

/** A deterministic vocabulary of 3,000 made-up words, drawn with a Zipf-like skew like real text. */
let seed = 42;
const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
const syllables = ['ka', 'lo', 'mi', 'ren', 'tas', 'vo', 'quin', 'dor', 'el', 'sup', 'pra', 'ix', 'ul', 'gen', 'bar', 'ton'];
const vocabulary = Array.from({ length: 3000 }, (_, index) => {
  let word = '';
  for (let value = index + 17; value > 0; value = Math.floor(value / syllables.length)) word += syllables[value % syllables.length];
  return word;
});
const word = () => vocabulary[Math.floor(vocabulary.length * random() ** 2)]!;
const sentence = (words: number) => Array.from({ length: words }, word).join(' ');

function observation(index: number, stage: string): PrecedentObservation {
  return {
    kind: 'contract_violation',
    where: { pipeline: 'bench', stage, model: 'gpt-4o-mini', tool: null, contract: 'bench-contract' },
    what: `failed check ${sentence(8)}`, evidence: `output: {"${word()}": "${sentence(12)}"}`, taskText: sentence(80), features: {},
    fix: index % 3 === 0 ? sentence(10) : null, fixSource: index % 3 === 0 ? 'retry' : null, project: null, runId: null, callId: null, at: index, createdBy: 'bench',
  };
}

async function scenario(name: string, stageOf: (index: number) => string): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'intime-precedents-bench-'));
  const ledger = new SqliteLedger(join(directory, 'ledger.db'));
  const store = new SqlitePrecedentStore(ledger.database);
  const writer = new PrecedentService(store, defaultConfig().precedents, createLogger('silent'));
  // Filled in one transaction (the bench's setup); recording is timed on its own below, one commit each.
  ledger.database.exec('BEGIN');
  for (let index = 0; index < COUNT; index++) await writer.observe(observation(index, stageOf(index)));
  ledger.database.exec('COMMIT');
  const writeStarted = performance.now();
  const RECORDED = 200;
  for (let index = 0; index < RECORDED; index++) await writer.observe(observation(COUNT + index, stageOf(index)));
  const writeMs = performance.now() - writeStarted;

  // A fresh service, as after a restart: the first retrieval loads every active precedent.
  const service = new PrecedentService(store, defaultConfig().precedents, createLogger('silent'));
  const prompt = () => `${sentence(40)}\n\n${sentence(260)}`;
  const loadStarted = performance.now();
  await service.retrieve({ stage: 'stage-0', pipeline: 'bench', project: null, taskText: prompt() });
  const loadMs = performance.now() - loadStarted;

  const body = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: sentence(40) }, { role: 'user', content: sentence(260) }] };
  const timings: number[] = [];
  let injected = 0;
  for (let round = 0; round < QUERIES; round++) {
    const taskText = prompt();
    const started = performance.now();
    const injection = await service.retrieve({ stage: `stage-${round % 7 === 0 ? 1 : 0}`, pipeline: 'bench', project: null, taskText });
    if (injection.precedents.length > 0) withInstructions('openai-chat', body, injection.text);
    timings.push(performance.now() - started);
    injected += injection.precedents.length;
  }
  timings.sort((a, b) => a - b);
  const at = (share: number) => timings[Math.min(timings.length - 1, Math.floor(share * timings.length))]!.toFixed(3);
  console.log(`${name}: ${COUNT} precedents; retrieval per call p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, p99 ${at(0.99)} ms ` +
    `(${(injected / QUERIES).toFixed(2)} injected per call); first load ${loadMs.toFixed(0)} ms; recording a failure ${(writeMs / RECORDED * 1000).toFixed(0)} µs each (merge lookup, upsert, occurrence, re-index)`);
  await ledger.close();
  rmSync(directory, { recursive: true, force: true });
}

await scenario('all in one stage (worst case)', () => 'stage-0');
await scenario('over 100 stages', (index) => `stage-${index % 100}`);
