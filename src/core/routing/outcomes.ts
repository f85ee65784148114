import { costOf, type PriceTable } from '../prices.js';
import { toUsdNumber } from './usd.js';

/**
 * Per-prompt outcome files, one JSON object a line:
 * {"id", "task", "prompt"?, "outcomes": {"<model>": {"passed", "score"?, "costUsd"?, "inputTokens"?, "outputTokens"?}}}
 */
export interface ModelOutcome {
  /** The truth: did this model's output pass (what quality is measured on). */
  passed: boolean;
  /** Quality in [0, 1] when graded finer than pass/fail; else passed counts 1. */
  score?: number;
  costUsd?: number;
  inputTokens?: number;
  outputTokens?: number;
}

export interface OutcomeRow {
  id: string;
  task: string;
  prompt?: string;
  outcomes: Record<string, ModelOutcome>;
}

/** A row ready to evaluate: every model's cost known, and the verdict the router sees. */
export interface PricedRow {
  id: string;
  task: string;
  promptTokens: number | undefined;
  outcomes: Map<string, { quality: number; passed: boolean; verdict: boolean; costUsd: number }>;
}

export class OutcomeFileError extends Error {
  readonly code = 'invalid_outcomes';
}

/** Parses JSONL text into rows; a bad line is an error naming its line, never skipped. */
export function parseOutcomes(text: string, source: string): OutcomeRow[] {
  const rows: OutcomeRow[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === '') continue;
    const where = `${source}:${index + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new OutcomeFileError(`${where}: not JSON (${(error as Error).message})`);
    }
    rows.push(checkRow(value, where));
  }
  if (rows.length === 0) throw new OutcomeFileError(`${source}: no outcome rows`);
  return rows;
}

function checkRow(value: unknown, where: string): OutcomeRow {
  const row = value as Partial<OutcomeRow> | null;
  if (!row || typeof row !== 'object' || Array.isArray(row)) throw new OutcomeFileError(`${where}: expected a JSON object`);
  if (typeof row.id !== 'string' && typeof row.id !== 'number') throw new OutcomeFileError(`${where}: "id" must be a string`);
  if (typeof row.task !== 'string') throw new OutcomeFileError(`${where}: "task" must be a string`);
  if (!row.outcomes || typeof row.outcomes !== 'object' || Object.keys(row.outcomes).length === 0) {
    throw new OutcomeFileError(`${where}: "outcomes" must map model names to outcomes`);
  }
  for (const [model, outcome] of Object.entries(row.outcomes)) {
    if (!outcome || typeof outcome.passed !== 'boolean') throw new OutcomeFileError(`${where}: outcomes["${model}"].passed must be true or false`);
    for (const field of ['score', 'costUsd', 'inputTokens', 'outputTokens'] as const) {
      const number = outcome[field];
      if (number !== undefined && (typeof number !== 'number' || !Number.isFinite(number) || number < 0)) {
        throw new OutcomeFileError(`${where}: outcomes["${model}"].${field} must be a non-negative number`);
      }
    }
    if (outcome.score !== undefined && outcome.score > 1) throw new OutcomeFileError(`${where}: outcomes["${model}"].score must be within [0, 1]`);
  }
  return { ...row, id: String(row.id) } as OutcomeRow;
}

/**
 * Gives every outcome a cost (its own costUsd, else tokens x the price table) and a
 * verdict: the truth, flipped with probability `noise` to model an imperfect contract.
 */
export function priceRows(rows: readonly OutcomeRow[], prices: PriceTable, noise: number, random: () => number): PricedRow[] {
  return rows.map((row) => {
    const outcomes: PricedRow['outcomes'] = new Map();
    let promptTokens: number | undefined;
    for (const [model, outcome] of Object.entries(row.outcomes)) {
      promptTokens ??= outcome.inputTokens;
      const flip = noise > 0 && random() < noise;
      outcomes.set(model, {
        quality: outcome.score ?? (outcome.passed ? 1 : 0),
        passed: outcome.passed,
        verdict: flip ? !outcome.passed : outcome.passed,
        costUsd: costOfOutcome(model, outcome, prices, row.id),
      });
    }
    return { id: row.id, task: row.task, promptTokens, outcomes };
  });
}

function costOfOutcome(model: string, outcome: ModelOutcome, prices: PriceTable, id: string): number {
  if (outcome.costUsd !== undefined) return outcome.costUsd;
  if (outcome.inputTokens === undefined && outcome.outputTokens === undefined) {
    throw new OutcomeFileError(`row ${id}: model ${model} has neither costUsd nor token counts`);
  }
  const price = prices.lookup(model);
  if (!price) throw new OutcomeFileError(`row ${id}: model ${model} has no costUsd and no price in the table (add one with --prices)`);
  return toUsdNumber(costOf(price, {
    inputTokens: outcome.inputTokens ?? 0, outputTokens: outcome.outputTokens ?? 0, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0,
  }));
}

/** The models every row has an outcome for: the only ones a policy can be judged on. */
export function commonModels(rows: readonly PricedRow[]): string[] {
  const [first, ...rest] = rows;
  if (!first) return [];
  return [...first.outcomes.keys()].filter((model) => rest.every((row) => row.outcomes.has(model)));
}
