import { z } from 'zod';

/** A feature value the caller declares about a task: numbers are measured, the rest are categories. */
export type FeatureValue = string | number | boolean;

/** What is known about a task before it runs. */
export interface TaskFeatures {
  /** The pipeline, agent or scaffold: runs of one group are the same kind of work. */
  group: string | null;
  model: string | null;
  /** The size of the task's input in tokens (its first prompt), not what the run went on to read. */
  inputTokens: number | null;
  /** Stages, tools offered, difficulty, tags and anything else: numeric or categorical. */
  features: Record<string, FeatureValue>;
}

/** What a finished run consumed: the quantities forecast. */
export interface RunOutcome {
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  calls: number;
}

/** One finished run the forecaster learns from. */
export interface HistoryRun {
  id: string;
  task: TaskFeatures;
  outcome: RunOutcome;
  /** Epoch ms, for time-ordered splits; null when unknown. */
  finishedAt: number | null;
  /** How the run ended (completed, failed...), as recorded. */
  status: string | null;
  source: 'ledger' | 'import';
}

const MAX_FEATURES = 64;

const featureValue = z.union([z.string().max(200), z.number().finite(), z.boolean()]);
const featureMap = z.record(z.string().min(1).max(100), featureValue)
  .refine((features) => Object.keys(features).length <= MAX_FEATURES, `at most ${MAX_FEATURES} features`);
const count = z.number().int().nonnegative().finite();

/**
 * One line of `intime runs import`: `{"id", "group", "model", "features": {...}, "inputTokens",
 * "outputTokens", "calls", "costUsd"?, "outcome"?, "finishedAt"?}`. inputTokens/outputTokens are
 * what the run consumed; the task's own input size, if known, goes in features.inputTokens.
 */
export const importedRunSchema = z.object({
  id: z.string().min(1).max(200),
  group: z.string().min(1).max(200),
  model: z.string().min(1).max(200).nullable().optional(),
  features: featureMap.optional(),
  inputTokens: count,
  outputTokens: count,
  calls: count,
  costUsd: z.union([z.number().nonnegative().finite(), z.string().regex(/^\d+(\.\d+)?$/, 'a decimal USD amount')]).optional(),
  outcome: z.string().max(100).nullable().optional(),
  finishedAt: z.union([z.string().refine((text) => !Number.isNaN(Date.parse(text)), 'an ISO date or time'), z.number().int().nonnegative()])
    .nullable().optional(),
}).strict();

export type ImportedRun = z.infer<typeof importedRunSchema>;

/** Prices a run that came without costUsd; undefined when its model has no price. */
export type RunPricer = (model: string, inputTokens: number, outputTokens: number) => number | undefined;

export interface ParsedHistory {
  runs: HistoryRun[];
  errors: string[];
}

/**
 * Parses a JSONL history. Every bad line is reported with its number and field; callers
 * import nothing when there is any error, so a file is never half taken.
 */
export function parseHistoryJsonl(text: string, priceOf: RunPricer, maxErrors = 20): ParsedHistory {
  const runs: HistoryRun[] = [];
  const errors: string[] = [];
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length && errors.length < maxErrors; index++) {
    const line = lines[index]!.trim();
    if (line === '') continue;
    const where = `line ${index + 1}`;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      errors.push(`${where}: not JSON`);
      continue;
    }
    const parsed = importedRunSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      errors.push(`${where}: ${issue.path.length > 0 ? `"${issue.path.join('.')}" ` : ''}${issue.message}`);
      continue;
    }
    if (seen.has(parsed.data.id)) {
      errors.push(`${where}: duplicate id ${parsed.data.id}`);
      continue;
    }
    seen.add(parsed.data.id);
    const run = historyRunFromImport(parsed.data, priceOf);
    if (typeof run === 'string') errors.push(`${where}: ${run}`);
    else runs.push(run);
  }
  return { runs, errors };
}

/** A validated import line as a history run, or why it cannot be one. */
export function historyRunFromImport(line: ImportedRun, priceOf: RunPricer): HistoryRun | string {
  const features = line.features ?? {};
  let costUsd: number | undefined = line.costUsd === undefined ? undefined : Number(line.costUsd);
  if (costUsd === undefined) {
    if (!line.model) return '"costUsd" is missing and there is no "model" to price the tokens with';
    costUsd = priceOf(line.model, line.inputTokens, line.outputTokens);
    if (costUsd === undefined) return `"costUsd" is missing and model ${line.model} has no price`;
  }
  const declaredInput = features.inputTokens;
  return {
    id: line.id,
    task: {
      group: line.group,
      model: line.model ?? null,
      inputTokens: typeof declaredInput === 'number' && declaredInput >= 0 ? declaredInput : null,
      features: withoutKey(features, 'inputTokens'),
    },
    outcome: { costUsd, inputTokens: line.inputTokens, outputTokens: line.outputTokens, calls: line.calls },
    finishedAt: line.finishedAt === undefined || line.finishedAt === null ? null
      : typeof line.finishedAt === 'number' ? line.finishedAt : Date.parse(line.finishedAt),
    status: line.outcome ?? null,
    source: 'import',
  };
}

function withoutKey(features: Record<string, FeatureValue>, key: string): Record<string, FeatureValue> {
  const { [key]: _dropped, ...rest } = features;
  return rest;
}

/** A history run as an import line, so a history can be written back out (scripts, exports). */
export function historyRunToLine(run: HistoryRun): ImportedRun {
  return {
    id: run.id,
    group: run.task.group ?? '(none)',
    model: run.task.model,
    features: run.task.inputTokens === null ? run.task.features : { ...run.task.features, inputTokens: run.task.inputTokens },
    inputTokens: run.outcome.inputTokens,
    outputTokens: run.outcome.outputTokens,
    calls: run.outcome.calls,
    costUsd: run.outcome.costUsd,
    outcome: run.status,
    finishedAt: run.finishedAt === null ? null : new Date(run.finishedAt).toISOString(),
  };
}

/** Orders runs by when they finished (unknown times keep their place at the front), for splits. */
export function timeOrdered(runs: readonly HistoryRun[]): HistoryRun[] {
  return runs.map((run, index) => ({ run, index }))
    .sort((a, b) => (a.run.finishedAt ?? -Infinity) - (b.run.finishedAt ?? -Infinity) || a.index - b.index)
    .map((entry) => entry.run);
}

/**
 * A task as callers describe it (API body, CLI flags): group (or its alias pipeline),
 * model, input size, and the common features by name (stages, tools, tags, difficulty)
 * beside free-form ones. They all end up as features, so history learns from any of them.
 */
export const taskInputSchema = z.object({
  group: z.string().min(1).max(200).optional(),
  pipeline: z.string().min(1).max(200).optional(),
  model: z.string().min(1).max(200).optional(),
  inputTokens: count.optional(),
  stages: count.optional(),
  tools: z.union([z.array(z.string().max(200)).max(500), count]).optional(),
  tags: z.array(z.string().min(1).max(100)).max(50).optional(),
  difficulty: z.string().min(1).max(100).optional(),
  features: featureMap.optional(),
}).strict().refine((task) => !(task.group && task.pipeline && task.group !== task.pipeline), '"group" and "pipeline" name the same thing: give one');

export type TaskInput = z.infer<typeof taskInputSchema>;

export function taskFromInput(input: TaskInput): TaskFeatures {
  const features: Record<string, FeatureValue> = { ...input.features };
  if (input.stages !== undefined) features.stages = input.stages;
  if (input.tools !== undefined) features.tools = Array.isArray(input.tools) ? input.tools.length : input.tools;
  // Tags as one category: the set of tags, in a stable order.
  if (input.tags !== undefined) features.tags = [...new Set(input.tags)].sort().join(',');
  if (input.difficulty !== undefined) features.difficulty = input.difficulty;
  const declaredInput = features.inputTokens;
  delete features.inputTokens;
  return {
    group: input.group ?? input.pipeline ?? null,
    model: input.model ?? null,
    inputTokens: input.inputTokens ?? (typeof declaredInput === 'number' && declaredInput >= 0 ? declaredInput : null),
    features,
  };
}

/** A `key=value` feature from the command line: numbers and booleans as such, the rest as text. */
export function parseFeatureFlag(text: string): [string, FeatureValue] {
  const separator = text.indexOf('=');
  if (separator <= 0) throw new RangeError(`a feature is key=value, not ${JSON.stringify(text)}`);
  const key = text.slice(0, separator);
  const raw = text.slice(separator + 1);
  if (/^-?\d+(\.\d+)?$/.test(raw)) return [key, Number(raw)];
  if (raw === 'true' || raw === 'false') return [key, raw === 'true'];
  return [key, raw];
}
