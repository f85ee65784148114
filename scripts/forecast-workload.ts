/**
 * A realistic synthetic history of agent runs, priced with the simulator's price table
 * (the shipped prices/prices.json, exactly as the gateway meters), for `intime forecast
 * evaluate` and the README's table.
 *
 *   node --import tsx scripts/forecast-workload.ts --runs 4000 --out workload.jsonl [--seed 1] [--evaluate] [--ablation]
 *
 * Each run is an agent loop: every call re-sends the growing context (task input, earlier
 * outputs, tool results), with prompt-cache reads where the model prices them; the number
 * of turns is heavy-tailed (a few runs loop far longer), and depends on a latent difficulty
 * the caller declares correctly only 70% of the time. Features that carry no signal
 * (customer tier, a ticket tag) are there too, to check they are left out.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { evaluateForecasts, timeSplit } from '../src/core/forecast-evaluate.js';
import { historyRunToLine, type HistoryRun, type TaskFeatures } from '../src/core/forecast-history.js';
import { formatUsd, type Money } from '../src/core/money.js';
import { costOf } from '../src/core/prices.js';
import { makeUsage } from '../src/core/usage.js';
import { evaluationText } from '../src/cli/forecast.js';
import { formatTable } from '../src/cli/table.js';
import { defaultConfig } from '../src/gateway/config.js';
import { modelPriceFrom } from '../src/gateway/forecasts.js';
import { loadPriceTable } from '../src/gateway/price-loader.js';
import { SeededRandom } from '../src/sim/seeded-random.js';

type Difficulty = 'easy' | 'medium' | 'hard';

interface Pipeline {
  name: string;
  weight: number;
  models: [string, number][];
  stages: number;
  tools: number;
  /** Median and log-spread of the task's input size in tokens. */
  input: [number, number];
  /** Median and log-spread of one call's output tokens. */
  output: [number, number];
  /** Median tokens a tool result adds to the context (0: no tools). */
  toolResult: number;
  turns: (difficulty: Difficulty, inputTokens: number, random: Draw) => number;
}

class Draw {
  constructor(private readonly random: SeededRandom) {}
  uniform = () => Math.max(Number.EPSILON, this.random.next());
  /** Log-normal by Box-Muller: to generate data, not to forecast it. */
  lognormal = (median: number, sigma: number) => median * Math.exp(sigma * Math.sqrt(-2 * Math.log(this.uniform())) * Math.cos(2 * Math.PI * this.random.next()));
  pareto = (minimum: number, alpha: number) => minimum / this.uniform() ** (1 / alpha);
  geometric = (mean: number) => Math.floor(Math.log(this.uniform()) / Math.log(1 - 1 / (mean + 1)));
  weighted = <T>(items: [T, number][]) => {
    let pick = this.random.next() * items.reduce((sum, [, weight]) => sum + weight, 0);
    for (const [item, weight] of items) if ((pick -= weight) < 0) return item;
    return items[items.length - 1]![0];
  };
}

const HARDNESS: Record<Difficulty, number> = { easy: 1, medium: 2, hard: 4 };

const PIPELINES: Pipeline[] = [
  { name: 'support-triage', weight: 4, models: [['gpt-4o-mini', 3], ['claude-haiku-4-5', 1]], stages: 1, tools: 1,
    input: [900, 0.6], output: [150, 0.5], toolResult: 300, turns: (d, _i, r) => 1 + (r.uniform() < 0.15 * HARDNESS[d] ? 1 : 0) },
  { name: 'doc-summarize', weight: 2, models: [['gpt-4.1-mini', 2], ['claude-haiku-4-5', 1]], stages: 2, tools: 0,
    input: [12_000, 1.0], output: [500, 0.4], toolResult: 0, turns: (_d, input) => 1 + Math.ceil(input / 8000) },
  { name: 'research-agent', weight: 2, models: [['gpt-4.1', 2], ['claude-sonnet-4-5', 2], ['gpt-5', 1]], stages: 3, tools: 6,
    input: [1500, 0.5], output: [400, 0.7], toolResult: 1200,
    turns: (d, _i, r) => Math.min(120, 2 + r.geometric(2 * HARDNESS[d]) + (r.uniform() < 0.05 ? Math.floor(r.pareto(10, 1.2)) : 0)) },
  { name: 'code-fix', weight: 1, models: [['claude-sonnet-4-5', 3], ['gpt-5', 2], ['claude-opus-4-1', 1]], stages: 4, tools: 12,
    input: [6000, 0.8], output: [700, 0.8], toolResult: 2000,
    turns: (d, _i, r) => Math.min(200, 2 + Math.floor(r.pareto(1, 1.1) * HARDNESS[d])) },
];

export function generateWorkload(runs: number, seed: number, startAt = Date.UTC(2026, 9, 1)): HistoryRun[] {
  const prices = loadPriceTable(defaultConfig());
  const draw = new Draw(new SeededRandom(seed));
  const history: HistoryRun[] = [];
  for (let index = 0; index < runs; index++) {
    const pipeline = draw.weighted(PIPELINES.map((p): [Pipeline, number] => [p, p.weight]));
    const model = draw.weighted(pipeline.models);
    const price = prices.lookup(model);
    if (!price) throw new Error(`no price for ${model}`);
    const difficulty = draw.weighted<Difficulty>([['easy', 3], ['medium', 2], ['hard', 1]]);
    const declared = draw.uniform() < 0.7 ? difficulty : draw.weighted<Difficulty>([['easy', 1], ['medium', 1], ['hard', 1]]);
    const inputTokens = Math.max(50, Math.round(draw.lognormal(...pipeline.input)));
    const turns = pipeline.turns(difficulty, inputTokens, draw);
    const failed = draw.uniform() < 0.04;
    const callsMade = failed ? Math.max(1, Math.ceil(turns * draw.uniform())) : turns;
    let context = 400 + inputTokens; // system prompt and the task
    let cost: Money = 0n;
    let usedInput = 0;
    let usedOutput = 0;
    let previousPrompt = 0;
    for (let call = 0; call < callsMade; call++) {
      const output = Math.max(1, Math.round(draw.lognormal(...pipeline.output)));
      const cached = price.prices.cacheRead > 0n && call > 0 ? Math.floor(previousPrompt * 0.9) : 0;
      cost += costOf(price, makeUsage({ inputTokens: context - cached, cacheReadTokens: cached, outputTokens: output }));
      usedInput += context;
      usedOutput += output;
      previousPrompt = context;
      context += output + (pipeline.toolResult > 0 ? Math.round(draw.lognormal(pipeline.toolResult, 0.6)) : 0);
    }
    history.push({
      id: `wl-${seed}-${index}`,
      task: {
        group: pipeline.name, model, inputTokens,
        features: {
          stages: pipeline.stages, tools: pipeline.tools, difficulty: declared,
          customerTier: draw.weighted([['gold', 1], ['silver', 2], ['bronze', 3]]),
          tags: draw.weighted([['billing', 1], ['bug', 1], ['question', 1]]),
        },
      },
      outcome: { costUsd: Number(formatUsd(cost)), inputTokens: usedInput, outputTokens: usedOutput, calls: callsMade },
      finishedAt: startAt + index * 90_000,
      status: failed ? 'failed' : 'completed',
      source: 'import',
    });
  }
  return history;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '4000' }, seed: { type: 'string', default: '1' }, out: { type: 'string' }, evaluate: { type: 'boolean' }, ablation: { type: 'boolean' } },
  });
  const history = generateWorkload(Number(values.runs), Number(values.seed));
  if (values.out) {
    writeFileSync(values.out, history.map((run) => JSON.stringify(historyRunToLine(run))).join('\n') + '\n');
    process.stderr.write(`wrote ${history.length} runs to ${values.out}\n`);
  }
  const { train, test } = timeSplit(history, 0.7);
  const modelPrice = modelPriceFrom(loadPriceTable(defaultConfig()));
  if (values.evaluate) console.log(evaluationText(evaluateForecasts(train, test, { modelPrice })));
  if (values.ablation) {
    // What each input is worth: the same evaluation with it taken away from every run.
    const without = (change: (task: TaskFeatures) => TaskFeatures) => (runs: HistoryRun[]) => runs.map((run) => ({ ...run, task: change(run.task) }));
    const variants: [string, (runs: HistoryRun[]) => HistoryRun[], boolean][] = [
      ['everything', (runs) => runs, true],
      ['without model prices', (runs) => runs, false],
      ['without the model', without((task) => ({ ...task, model: null })), false],
      ['without input size', without((task) => ({ ...task, inputTokens: null })), true],
      ['without declared features', without((task) => ({ ...task, features: {} })), true],
      ['pipeline only', without((task) => ({ ...task, model: null, inputTokens: null, features: {} })), false],
    ];
    const rows = variants.map(([name, strip, priced]) => {
      const row = evaluateForecasts(strip(train), strip(test), priced ? { modelPrice } : {}).rows.find((r) => r.target === 'cost' && r.method === 'intime')!;
      return [name, `${(row.belowP90 * 100).toFixed(1)}%`, `$${row.pinballP50.toFixed(6)}`, `$${row.pinballP90.toFixed(6)}`, row.logPinballP50.toFixed(3), row.logPinballP90.toFixed(3)];
    });
    console.log(formatTable(['cost forecast', '≤P90', 'pinball P50', 'pinball P90', 'log-pinball P50', 'log-pinball P90'], rows));
    // Models a pipeline has not used: every claude-opus-4-1 run, and research-agent on gpt-5, held out.
    const unseen = (run: HistoryRun) => run.task.model === 'claude-opus-4-1' || (run.task.group === 'research-agent' && run.task.model === 'gpt-5');
    const held = history.filter(unseen);
    const seen = history.filter((run) => !unseen(run));
    const unseenRows = ([['with model prices', { modelPrice }], ['without', {}]] as const).map(([name, options]) => {
      const row = evaluateForecasts(seen, held, options).rows.find((r) => r.target === 'cost' && r.method === 'intime')!;
      return [name, `${(row.belowP90 * 100).toFixed(1)}%`, `$${row.pinballP50.toFixed(6)}`, `$${row.pinballP90.toFixed(6)}`, row.logPinballP50.toFixed(3), row.logPinballP90.toFixed(3)];
    });
    console.log(`\n${held.length} runs on models their pipeline never used:`);
    console.log(formatTable(['cost forecast', '≤P90', 'pinball P50', 'pinball P90', 'log-pinball P50', 'log-pinball P90'], unseenRows));
  }
}
