import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { evaluateForecasts, timeSplit, type Evaluation } from '../core/forecast-evaluate.js';
import { parseFeatureFlag, parseHistoryJsonl, timeOrdered, type FeatureValue, type HistoryRun, type TaskInput } from '../core/forecast-history.js';
import type { forecastView } from '../gateway/forecasts.js';
import { ApiClient, CliError, gatewayOptions, type ClientOptions } from './client.js';
import { formatTable } from './table.js';

export type ForecastView = ReturnType<typeof forecastView>;

/** Task flags shared by `intime forecast` and `intime run --budget auto`. */
export interface TaskFlags {
  pipeline?: string;
  model?: string;
  inputTokens?: number;
  stages?: number;
  tools?: number;
  tag?: string[];
  difficulty?: string;
  feature?: string[];
}

export function addTaskOptions(command: Command): Command {
  return command
    .option('--pipeline <name>', 'the task\'s pipeline (group): runs of one pipeline are the same kind of work')
    .option('--model <model>', 'the model it will mostly use')
    .option('--input-tokens <n>', 'size of the task\'s input in tokens', count)
    .option('--stages <n>', 'number of stages', count)
    .option('--tools <n>', 'number of tools offered', count)
    .option('--tag <tag>', 'a tag (repeatable)', collect, [])
    .option('--difficulty <level>', 'declared difficulty')
    .option('--feature <key=value>', 'any other feature, numeric or categorical (repeatable)', collect, []);
}

export function taskFromFlags(flags: TaskFlags): TaskInput {
  const features: Record<string, FeatureValue> = {};
  for (const text of flags.feature ?? []) {
    try {
      const [key, value] = parseFeatureFlag(text);
      features[key] = value;
    } catch (error) {
      throw new CliError((error as Error).message);
    }
  }
  return {
    pipeline: flags.pipeline,
    model: flags.model,
    inputTokens: flags.inputTokens,
    stages: flags.stages,
    tools: flags.tools,
    tags: flags.tag && flags.tag.length > 0 ? flags.tag : undefined,
    difficulty: flags.difficulty,
    features: Object.keys(features).length > 0 ? features : undefined,
  };
}

export function registerForecastCommands(program: Command, runs: Command): void {
  const forecast = addTaskOptions(gatewayOptions(program.command('forecast')
    .description('forecast a task\'s cost, tokens and calls (P50, P90, P99) from the history of finished runs')))
    .action(async (flags: TaskFlags & ClientOptions & { json?: boolean }) => {
      if (!flags.pipeline) throw new CliError('--pipeline is required (the kind of task to forecast)');
      const view = await new ApiClient(flags).post<ForecastView>('/api/forecast', taskFromFlags(flags));
      console.log(flags.json ? JSON.stringify(view, null, 2) : forecastText(view));
    });

  forecast.command('evaluate')
    .description('score the forecaster on held-out runs against global and per-group quantiles')
    .option('--train <file>', 'history to learn from (JSONL, the `runs import` format)')
    .option('--test <file>', 'history to forecast and score')
    .option('--split <file>', 'one history, split in time order instead of --train/--test')
    .option('--train-share <share>', 'with --split: the earliest share used for training', share, 0.7)
    .option('--config <file>', 'config whose price table prices runs without costUsd')
    .addOption(new Option('--json', 'print JSON instead of a table'))
    .action(async (options: { train?: string; test?: string; split?: string; trainShare: number; config?: string; json?: boolean }, command: Command) => {
      const json = options.json ?? (command.optsWithGlobals() as { json?: boolean }).json;
      const { loadConfig } = await import('../gateway/config.js');
      const { loadPriceTable } = await import('../gateway/price-loader.js');
      const { modelPriceFrom, pricerFor } = await import('../gateway/forecasts.js');
      const prices = loadPriceTable(loadConfig(options.config));
      const pricer = pricerFor(prices);
      let train: HistoryRun[];
      let test: HistoryRun[];
      if (options.split) {
        if (options.train || options.test) throw new CliError('give --split, or --train and --test, not both');
        ({ train, test } = timeSplit(timeOrdered(readHistory(options.split, pricer)), options.trainShare));
      } else {
        if (!options.train || !options.test) throw new CliError('give --train and --test files, or --split one file');
        train = readHistory(options.train, pricer);
        test = readHistory(options.test, pricer);
      }
      let evaluation: Evaluation;
      try {
        evaluation = evaluateForecasts(train, test, { modelPrice: modelPriceFrom(prices) });
      } catch (error) {
        throw new CliError((error as Error).message);
      }
      console.log(json ? JSON.stringify(evaluation, null, 2) : evaluationText(evaluation));
    });

  // The gateway options (--gateway, --admin-token, --json) are those of `runs`, which parses them wherever they appear.
  runs.command('import <file>')
    .description('import finished runs from elsewhere (JSONL) as history for forecasts; all lines are checked before any is sent ' +
      '(takes the --gateway, --admin-token and --json options of `intime runs`)')
    .action(async (file: string, _options: unknown, command: Command) => {
      const options = command.optsWithGlobals() as ClientOptions & { json?: boolean };
      const lines = readJsonLines(file);
      const client = new ApiClient(options);
      let added = 0;
      let replaced = 0;
      for (const batch of batches(lines)) {
        try {
          const result = await client.post<{ added: number; replaced: number }>('/api/history/import', { runs: batch.map((line) => line.value) });
          added += result.added;
          replaced += result.replaced;
        } catch (error) {
          const message = (error as Error).message.replace(/runs\[(\d+)\]/g, (_, index: string) => `line ${batch[Number(index)]!.line}`);
          const done = added + replaced > 0 ? ` (${added + replaced} runs before line ${batch[0]!.line} were imported; importing again replaces them)` : '';
          throw new CliError(`${message}${done}`);
        }
      }
      const summary = { file, added, replaced };
      console.log(options.json ? JSON.stringify(summary) : `imported ${added + replaced} runs from ${file} (${added} new, ${replaced} replaced)`);
    });
}

/** Reads a JSONL history, refusing the file with every bad line named. */
function readHistory(file: string, pricer: Parameters<typeof parseHistoryJsonl>[1]): HistoryRun[] {
  const parsed = parseHistoryJsonl(readText(file), pricer);
  if (parsed.errors.length > 0) throw new CliError(`${file}: ${parsed.errors.join('; ')}`);
  return parsed.runs;
}

function readJsonLines(file: string): { line: number; value: unknown }[] {
  const lines: { line: number; value: unknown }[] = [];
  const errors: string[] = [];
  readText(file).split(/\r?\n/).forEach((text, index) => {
    if (text.trim() === '' || errors.length >= 20) return;
    try {
      lines.push({ line: index + 1, value: JSON.parse(text) });
    } catch {
      errors.push(`line ${index + 1}: not JSON`);
    }
  });
  if (errors.length > 0) throw new CliError(`${file}: nothing imported: ${errors.join('; ')}`);
  if (lines.length === 0) throw new CliError(`${file}: no runs in it`);
  return lines;
}

/** Chunks of at most ~4 MB and 5000 runs, so each fits one request; most files are one chunk (all or nothing). */
function* batches<T extends { value: unknown }>(lines: T[]): Generator<T[]> {
  let batch: T[] = [];
  let bytes = 0;
  for (const line of lines) {
    const size = JSON.stringify(line.value).length;
    if (batch.length > 0 && (batch.length >= 5000 || bytes + size > 4_000_000)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(line);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export function forecastText(view: ForecastView): string {
  const task = view.task;
  const head = `forecast for ${task.group ?? '(no pipeline)'} with ${task.model ?? '(any model)'}` +
    `${task.inputTokens === null ? '' : `, input ${task.inputTokens} tokens`}: ${view.status === 'ok' ? 'ok' : view.status === 'thin' ? 'NOT ENOUGH HISTORY (widened)' : 'NO HISTORY'}`;
  if (!view.costUsd) return `${head}\n${view.summary}`;
  const rows: (string | number)[][] = [
    ['cost', `$${view.costUsd.p50}`, `$${view.costUsd.p90}`, `$${view.costUsd.p99}`],
    ['tokens', view.tokens!.p50, view.tokens!.p90, view.tokens!.p99],
    ['calls', view.calls!.p50, view.calls!.p90, view.calls!.p99],
  ];
  return `${head}\n${formatTable(['', 'P50', 'P90', 'P99'], rows)}\n${view.summary}`;
}

const percent = (share: number) => `${(share * 100).toFixed(1)}%`;

export function evaluationText(evaluation: Evaluation): string {
  const loss = (target: string, value: number) => (target === 'cost' ? `$${value.toFixed(6)}` : value.toFixed(0));
  const table = formatTable(['target', 'method', '≤P50', '≤P90', 'in P25–P75', 'in P5–P95', 'pinball P50', 'pinball P90', 'log-pinball P50', 'log-pinball P90'],
    evaluation.rows.map((row) => [row.target, row.method, percent(row.belowP50), percent(row.belowP90), percent(row.inside50), percent(row.inside90),
      loss(row.target, row.pinballP50), loss(row.target, row.pinballP90), row.logPinballP50.toFixed(3), row.logPinballP90.toFixed(3)]));
  const signals = formatTable(['feature', 'kind', 'runs', 'variance explained', 'used'],
    evaluation.signals.map((signal) => [signal.feature, signal.kind, signal.runs, percent(signal.strength), signal.used ? 'yes' : 'no']));
  return [
    `trained on ${evaluation.trainRuns} runs, tested on ${evaluation.testRuns}` +
      (evaluation.thinForecasts > 0 ? ` (${evaluation.thinForecasts} test runs had too little history for their pipeline and model: widened)` : ''),
    'ideal: ≤P50 50%, ≤P90 90%, in P25–P75 50%, in P5–P95 90%; pinball loss (USD or tokens; log-pinball: relative, each run alike): lower is better',
    '',
    table,
    '',
    'signal in the training history (share of log-cost variance; model within pipeline, features within pipeline and model):',
    signals,
  ].join('\n');
}

function count(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new CliError(`not a whole number: ${text}`);
  return value;
}

function share(text: string): number {
  const value = Number(text);
  if (!(value > 0 && value < 1)) throw new CliError(`not a share between 0 and 1: ${text}`);
  return value;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
