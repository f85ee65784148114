import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { PriceTable, type PriceFile } from '../core/prices.js';
import { evaluateRouting, type Evaluation } from '../core/routing/evaluate.js';
import { seededRandom } from '../core/routing/explore.js';
import { OutcomeFileError, parseOutcomes, priceRows, type OutcomeRow } from '../core/routing/outcomes.js';
import { SHIPPED_PRICES_PATH } from '../gateway/price-loader.js';
import { CliError } from './client.js';
import { formatTable } from './table.js';

interface EvaluateOptions {
  train?: string;
  test?: string;
  data?: string;
  split?: string;
  qualityTarget: string;
  checkNoise: string;
  seed: string;
  prices: string[];
  json?: boolean;
}

export function registerRouteCommands(program: Command): void {
  const route = program.command('route').description('routing: choose the cheapest model order that passes a stage\'s contract');
  route.command('evaluate')
    .description('learn a cascade on per-prompt outcomes (train) and report cost and quality on held-out ones (test)')
    .option('--train <file>', 'outcomes JSONL to learn from')
    .option('--test <file>', 'outcomes JSONL to report on')
    .option('--data <file>', 'one outcomes file, split in order by --split (instead of --train/--test)')
    .option('--split <share>', 'with --data: the first share of rows trains, the rest tests', '0.5')
    .option('--quality-target <share>', 'share of the best single model\'s quality to keep', '0.95')
    .option('--check-noise <p>', 'flip each contract verdict with probability p (an imperfect contract)', '0')
    .option('--seed <n>', 'seed for --check-noise', '1')
    .option('--prices <file...>', 'extra price files (InTime format) for outcomes given in tokens', [])
    .option('--json', 'machine-readable output')
    .action((options: EvaluateOptions) => {
      const evaluation = evaluateCommand(options);
      if (options.json) return console.log(JSON.stringify(evaluation, null, 2));
      console.log(evaluationText(evaluation));
    });
}

function evaluateCommand(options: EvaluateOptions): Evaluation {
  const qualityTarget = share(options.qualityTarget, '--quality-target');
  const noise = share(options.checkNoise, '--check-noise');
  const prices = new PriceTable().add(readJson(SHIPPED_PRICES_PATH) as PriceFile, 'builtin');
  for (const file of options.prices) prices.add(readJson(file) as PriceFile, file);
  let train: OutcomeRow[];
  let test: OutcomeRow[];
  try {
    if (options.data) {
      if (options.train || options.test) throw new CliError('give either --data (with --split) or --train and --test');
      const rows = parseOutcomes(readText(options.data), options.data);
      const cut = Math.round(rows.length * share(options.split ?? '0.5', '--split'));
      if (cut < 1 || cut >= rows.length) throw new CliError(`--split leaves no rows on one side (${rows.length} rows)`);
      [train, test] = [rows.slice(0, cut), rows.slice(cut)];
    } else {
      if (!options.train || !options.test) throw new CliError('give --train and --test (or --data with --split)');
      train = parseOutcomes(readText(options.train), options.train);
      test = parseOutcomes(readText(options.test), options.test);
    }
    const random = seededRandom(Number(options.seed) || 1);
    return evaluateRouting(priceRows(train, prices, noise, random), priceRows(test, prices, noise, random), { qualityTarget });
  } catch (error) {
    if (error instanceof OutcomeFileError) throw new CliError(error.message);
    throw error;
  }
}

export function evaluationText(e: Evaluation): string {
  const usd = (value: number | null) => (value === null ? '-' : `$${value.toFixed(6)}`);
  const pct = (value: number | null) => (value === null ? '-' : `${(value * 100).toFixed(1)}%`);
  const rows: (string | number)[][] = [
    ...e.singles.map((single) => [`single ${single.model}`, usd(single.costUsd), pct(single.quality), pct(1 - single.costUsd / e.baseline.costUsd)]),
    [`cascade ${e.cascade.order.join(' → ')}`, usd(e.cascade.costUsd), pct(e.cascade.quality), pct(e.cascade.savingVsBaseline)],
    ['mix of single models (no contract)', usd(e.mix.costUsd), pct(e.baseline.targetQuality), pct(e.mix.savingVsBaseline)],
    ...(e.sizeRouter ? [['one model per prompt-size quartile (no contract)', usd(e.sizeRouter.costUsd), pct(e.baseline.targetQuality), pct(e.sizeRouter.savingVsBaseline)]] : []),
    ['cascade frontier at target', usd(e.frontier.costUsd), pct(e.baseline.targetQuality), pct(e.frontier.savingVsBaseline)],
    ['oracle', usd(e.oracle.costUsd), pct(e.oracle.quality), pct(1 - e.oracle.costUsd / e.baseline.costUsd)],
  ];
  return [
    `train ${e.trainRows} prompts, test ${e.testRows}; target ${pct(e.qualityTarget)} of ${e.bestSingle}'s quality = ${pct(e.baseline.targetQuality)}; baseline ${e.baseline.model}`,
    '',
    formatTable(['policy (on test)', 'cost/prompt', 'quality', 'saving'], rows),
    '',
    `cascade learned on train: expected ${usd(e.cascade.trainCostUsd)}/prompt, pass rate ${pct(e.cascade.trainPassRate)}${e.cascade.meetsTarget ? '' : ' (no order met the target; best pass rate chosen)'}; on test it ${e.cascade.reachesTarget ? 'keeps' : 'misses'} the target`,
    `AIQ (mean quality over the single models' cost range): single models ${e.aiq.singles.toFixed(4)}${e.sizeRouter ? `, size router ${e.sizeRouter.aiq.toFixed(4)}` : ''}, cascade router ${e.aiq.cascade.toFixed(4)}, oracle ${e.aiq.oracle.toFixed(4)}`,
  ].join('\n');
}

function share(text: string, flag: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) throw new CliError(`${flag} must be a number between 0 and 1, got "${text}"`);
  return value;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`);
  }
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readText(path));
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`${path}: not JSON (${(error as Error).message})`);
  }
}
