/**
 * Budget checks per second on one core: reserve + settle cycles through BudgetBook with
 * 1, 3 and 6 nested scopes (run, parent runs, key, project). The book is synchronous and
 * single-threaded by design, so one core is the whole story. Part of `npm run bench`.
 */
import { BudgetBook } from '../src/core/budget.js';

const NOW = Date.now();
const results: Record<string, number> = {};
for (const depth of [1, 3, 6]) {
  const book = new BudgetBook();
  const scopes = Array.from({ length: depth }, (_, index) => `run:${index}`);
  for (const scope of scopes) {
    book.define(scope, { limits: { money: 10n ** 18n, tokens: null, calls: null }, window: 'total', softThreshold: 0.8 }, { money: 0n, tokens: 0, calls: 0 }, NOW);
  }
  const cycle = (i: number) => {
    const id = `c${i}`;
    const result = book.reserve({ id, scopes, fixed: { money: 1_500_000n, tokens: 10 }, outputPrice: 600_000n, maxOutputTokens: 500, policy: 'clamp' }, NOW);
    if (!result.ok) throw new Error('refused');
    book.settle(id, { money: 61_500_000n, tokens: 110, calls: 1 }, NOW);
  };
  for (let i = 0; i < 50_000; i++) cycle(i); // warm-up
  const samples: number[] = [];
  for (let round = 0; round < 5; round++) {
    const count = 200_000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) cycle(i);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    samples.push(count / seconds);
  }
  samples.sort((a, b) => a - b);
  results[`${depth} scope${depth > 1 ? 's' : ''}`] = Math.round(samples[2]!);
}
console.log('\nBudget checks (reserve + settle) per second, one core, median of 5 rounds of 200k:');
for (const [label, perSecond] of Object.entries(results)) console.log(`  ${label.padEnd(9)} ${perSecond.toLocaleString('en-US')} /s`);
