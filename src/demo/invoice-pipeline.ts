import { z } from 'zod';
import { defineContract } from '../library/contract.js';
import { InTime } from '../library/intime.js';
import type { AttemptContext } from '../library/stage.js';
import type { DemoRun, WorkloadOptions } from './workload.js';

/**
 * A three-stage pipeline on the library: extract invoice items → price the lines →
 * summarise. Each stage has a contract; in the simulation, two stages answer wrong on
 * their first try (wrong numbers a check catches, and an empty `{}` that a loose schema
 * lets through), so the run finishes with every stage passed and some waste on the way.
 */
interface Invoice { text: string; ids: string[] }
const items = z.object({ items: z.array(z.object({ id: z.string(), qty: z.number().int(), price: z.number().int() })) });
const lines = z.object({ lines: z.array(z.object({ id: z.string(), amount: z.number().int() })), total: z.number().int() });
type Items = z.infer<typeof items>;
type Lines = z.infer<typeof lines>;

const extractContract = defineContract<Items, Invoice>({
  name: 'invoice-items',
  schema: items,
  checks: {
    'every id is in the invoice': (output, input) => output.items.every((item) => input.ids.includes(item.id)),
    'quantities and prices match the text': (output, input) => output.items.every((item) => input.text.includes(`${item.id} ${item.qty}x${item.price}`)),
  },
});
const priceContract = defineContract<Lines, Items>({
  name: 'invoice-lines',
  schema: lines,
  checks: { 'total equals the sum of lines': (output) => output.total === output.lines.reduce((sum, line) => sum + line.amount, 0) },
});
const summaryContract = defineContract<{ summary?: string; total?: number }, Lines>({
  name: 'invoice-summary',
  schema: { type: 'object', properties: { summary: { type: 'string' }, total: { type: 'integer' } } },
  checks: {
    'has a summary': (output) => typeof output.summary === 'string' && output.summary.length > 0,
    'total matches the lines': (output, input) => output.total === input.total,
  },
});

/** What a correct model answers; the simulator is scripted with it (and told when to get it wrong). */
function rightAnswer(stage: string, input: unknown): unknown {
  if (stage === 'extract') {
    return { items: [...(input as Invoice).text.matchAll(/(\w+) (\d+)x(\d+)/g)].map((match) => ({ id: match[1], qty: Number(match[2]), price: Number(match[3]) })) };
  }
  if (stage === 'price') {
    const priced = (input as Items).items.map((item) => ({ id: item.id, amount: item.qty * item.price }));
    return { lines: priced, total: priced.reduce((sum, line) => sum + line.amount, 0) };
  }
  const { total, lines: priced } = input as Lines;
  return { summary: `${priced.length} lines, total ${total}`, total };
}

const FIRST_TRY_FAULTS: Record<string, string> = { extract: 'wrong-values', summarise: 'empty-object' };

export async function invoicePipeline(run: DemoRun & { id: string }, options: WorkloadOptions): Promise<void> {
  const pipeline = InTime.joinRun({ url: options.gatewayUrl, token: run.token, runId: run.id });
  const headers = ({ stage, input, attempt }: AttemptContext<unknown>): Record<string, string> | undefined => {
    if (!options.simulated) return { 'x-intime-agent': 'invoices' };
    const fault = attempt === 1 ? FIRST_TRY_FAULTS[stage] : undefined;
    return { 'x-intime-agent': 'invoices', 'x-sim-output-json': JSON.stringify(rightAnswer(stage, input)), ...(fault ? { 'x-sim-output': fault } : {}) };
  };
  const models = [options.models.openai, options.models.anthropic];
  const common = { models, headers, maxTokens: 400, policy: { retries: 1 } };
  const invoice: Invoice = { text: 'Invoice 7: A1 3x40, B2 2x15, C3 10x2', ids: ['A1', 'B2', 'C3'] };
  const extracted = await pipeline.stage({ ...common, name: 'extract', contract: extractContract, prompt: (input: Invoice) => `Extract the items of: ${input.text}` }).run(invoice);
  const priced = await pipeline.stage({ ...common, name: 'price', contract: priceContract, prompt: (input: Items) => `Price these lines: ${JSON.stringify(input)}` }).run(extracted);
  await pipeline.stage({ ...common, name: 'summarise', contract: summaryContract, prompt: (input: Lines) => `Summarise: ${JSON.stringify(input)}` }).run(priced);
}
