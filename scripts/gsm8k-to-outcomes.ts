/**
 * Converts RouteLLM's GSM8K responses (Mixtral-8x7B vs gpt-4-1106-preview, correct or
 * not, with both answers) into InTime's per-prompt outcomes JSONL for `intime route evaluate`.
 *
 *   node --import tsx scripts/gsm8k-to-outcomes.ts [gsm8k_responses.csv] [out.jsonl]
 *
 * Tokens: the prompt as one chat user message and each response, counted with InTime's
 * tokenizer (o200k_base; exact for neither model, the same ruler for both).
 * Prices: gpt-4-1106-preview from prices/prices.json (it matches gpt-4-turbo, $10/$30 per M).
 * Mixtral is not in the shipped table; we use the explicit price below.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { costOf, PriceTable, type PriceFile } from '../src/core/prices.js';
import { toUsdNumber } from '../src/core/routing/usd.js';
import { countPromptTokens, countTextTokens } from '../src/core/tokenizer.js';
import { SHIPPED_PRICES_PATH } from '../src/gateway/price-loader.js';

const MIXTRAL = 'mistralai/Mixtral-8x7B-Instruct-v0.1';
const GPT4 = 'gpt-4-1106-preview';

/**
 * Mixtral-8x7B-Instruct at $0.6 / $0.6 per million tokens: Together AI's published price for
 * this exact model id when RouteLLM ran (pydantic/genai-prices lists $0.9 today, Mistral's own
 * API $0.7, OpenRouter $0.24). The saving moves by well under a point across these: GPT-4's
 * cost dominates every cascade.
 */
const MIXTRAL_PRICE: PriceFile = {
  version: 1,
  models: [{ id: MIXTRAL, provider: 'together', usdPerMillion: { input: '0.6', output: '0.6' } }],
};

const source = process.argv[2] ?? '/work/shared/data/routellm-gsm8k/gsm8k_responses.csv';
const target = process.argv[3] ?? 'data/routing/gsm8k-outcomes.jsonl';

const prices = new PriceTable()
  .add(JSON.parse(readFileSync(SHIPPED_PRICES_PATH, 'utf8')) as PriceFile, 'builtin')
  .add(MIXTRAL_PRICE, 'gsm8k-to-outcomes');

const records = parse(readFileSync(source), { columns: true, skip_empty_lines: true }) as Record<string, string>[];
const lines: string[] = [];
records.forEach((record, index) => {
  const prompt = required(record, 'prompt', index);
  const inputTokens = countPromptTokens('openai-chat', { messages: [{ role: 'user', content: prompt }] });
  const outcomes: Record<string, unknown> = {};
  for (const model of [MIXTRAL, GPT4]) {
    const outputTokens = countTextTokens(required(record, `${model}_response`, index));
    const price = prices.lookup(model);
    if (!price) throw new Error(`no price for ${model}`);
    const costUsd = toUsdNumber(costOf(price, { inputTokens, outputTokens, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }));
    outcomes[model] = { passed: bool(required(record, model, index), index), inputTokens, outputTokens, costUsd };
  }
  lines.push(JSON.stringify({ id: `gsm8k-${index}`, task: 'gsm8k', prompt, outcomes }));
});
writeFileSync(target, lines.join('\n') + '\n');
process.stdout.write(`${records.length} prompts → ${target}\n`);

function required(record: Record<string, string>, column: string, index: number): string {
  const value = record[column];
  if (value === undefined) throw new Error(`row ${index + 2}: no column "${column}"`);
  return value;
}

function bool(text: string, index: number): boolean {
  if (text === 'True') return true;
  if (text === 'False') return false;
  throw new Error(`row ${index + 2}: expected True or False, got ${JSON.stringify(text)}`);
}
