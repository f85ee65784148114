import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bm25Index } from '../src/core/bm25.js';
import { selectWithinCap } from '../src/core/precedent-retrieval.js';
import { mergeKeyOf, mergeObservation, normalizeWhat, redact } from '../src/core/precedents.js';
import { countTextTokens } from '../src/core/tokenizer.js';
import { createLogger } from '../src/gateway/log.js';
import { defaultConfig } from '../src/gateway/config.js';
import { PrecedentService } from '../src/gateway/precedents.js';
import { SqliteLedger } from '../src/stores/sqlite-ledger.js';
import { SqlitePrecedentStore } from '../src/stores/sqlite-precedents.js';
import { readDirectives } from '../src/sim/directives.js';
import { taskTextOf, withInstructions } from '../src/protocols/instructions.js';
import { distractor, LABELLED_PRECEDENTS, LABELLED_TASKS, observationOf } from './precedents-labelled.js';

describe('redaction', () => {
  it('takes out keys, tokens, bearer credentials, JWTs, assigned secrets and emails, and caps the length', () => {
    const text = [
      'key sk-proj-abcdefghijklmnop1234 and sk-ant-api03-ZZZZZZZZZZZZZZZZ', 'run it_run_AbCdEfGhIjKlMnOpQrSt', 'Authorization: Bearer abc.def.ghijklmnop',
      'jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U', 'password=hunter2hunter2',
      '{"api_key": "AKIAIOSFODNN7EXAMPLE"}', 'mail ops@example.com', `payload ${'QUJD'.repeat(60)}`,
    ].join('\n');
    const clean = redact(text, { maxLength: 10_000 });
    for (const secret of ['sk-proj-abcdefghijklmnop1234', 'sk-ant-api03', 'it_run_AbCd', 'abc.def.ghijklmnop', 'eyJhbGci', 'hunter2', 'AKIAIOSFODNN7EXAMPLE', 'ops@example.com']) {
      expect(clean).not.toContain(secret);
    }
    expect(clean).toContain('[redacted key]');
    expect(clean).toMatch(/QUJDQUJD.*…\[240 chars\]/);
    expect(clean.includes('QUJD'.repeat(20))).toBe(false);
    const capped = redact('word '.repeat(500), { maxLength: 100 });
    expect(capped.length).toBeLessThanOrEqual(100);
    expect(capped).toMatch(/…\(\+\d+ chars\)$/);
    expect(redact('mail ops@example.com', { maxLength: 100, emails: false })).toContain('ops@example.com');
  });
});

describe('merging', () => {
  const where = { pipeline: 'invoices', stage: 'extract', model: 'gpt-4o-mini', tool: null, contract: 'invoice-items' };
  it('treats the same failure with other ids and numbers as one', () => {
    expect(normalizeWhat('call_ab12 failed at /items/3: got 41')).toBe(normalizeWhat('call_zz98 failed at /items/7: got 5'));
    expect(mergeKeyOf('contract_violation', where, '/items/3 expected number')).toBe(mergeKeyOf('contract_violation', where, '/items/9 expected number'));
    expect(mergeKeyOf('contract_violation', where, '/items/3 expected number')).not.toBe(mergeKeyOf('contract_violation', { ...where, stage: 'transform' }, '/items/3 expected number'));
    expect(mergeKeyOf('contract_violation', where, 'expected number')).not.toBe(mergeKeyOf('contract_violation', where, 'expected string'));
  });

  it('counts a repeat, keeps the latest evidence, and never replaces an operator\'s fix', () => {
    const base = {
      kind: 'contract_violation' as const, where, what: 'total is wrong', evidence: 'output: {"total":3}', taskText: 'Sum the invoice', features: {},
      fix: null, fixSource: null, project: null, runId: 'run_1', callId: 'call_1', at: 1000, createdBy: 'gateway',
    };
    const first = mergeObservation(undefined, base, () => 'prec_1');
    const withFix = { ...first, fix: 'add the lines up twice', fixSource: 'operator' as const };
    const second = mergeObservation(withFix, { ...base, evidence: 'output: {"total":4}', fix: 'a retry passed', fixSource: 'retry', at: 2000, callId: 'call_2' }, () => 'unused');
    expect(second).toMatchObject({ id: 'prec_1', count: 2, firstSeen: 1000, lastSeen: 2000, evidence: 'output: {"total":4}', fix: 'add the lines up twice', fixSource: 'operator', lastCallId: 'call_2' });
    // A retired precedent whose failure happens again is live again; an inferred fix fills an empty one.
    const revived = mergeObservation({ ...first, retired: true }, { ...base, fix: 'a retry passed', fixSource: 'retry', at: 3000 }, () => 'unused');
    expect(revived).toMatchObject({ retired: false, count: 2, fix: 'a retry passed', fixSource: 'retry' });
  });
});

describe('BM25 relevance', () => {
  it('is the share of a document\'s own weight the query covers', () => {
    const index = new Bm25Index();
    index.add('a', 'invoice line id missing from input');
    index.add('b', 'receipt total must include vat');
    index.add('c', 'container numbers have eleven characters');
    const [best] = index.search('extract the invoice lines with id and price from the input');
    expect(best!.id).toBe('a');
    expect(best!.relevance).toBeGreaterThan(0.5);
    expect(index.search('receipt with vat', { minRelevance: 0.3 }).map((match) => match.id)).toEqual(['b']);
    expect(index.search('receipt with vat', { minRelevance: 0.99 })).toEqual([]);
    index.remove('b');
    expect(index.search('receipt with vat')).toEqual([]);
    expect(index.size).toBe(2);
  });
});

describe('retrieval on the labelled set', () => {
  let ledger: SqliteLedger;
  let service: PrecedentService;
  const labelOf = new Map<string, string>();

  beforeAll(async () => {
    ledger = new SqliteLedger(':memory:');
    service = new PrecedentService(new SqlitePrecedentStore(ledger.database), defaultConfig().precedents, createLogger('silent'));
    for (const [index, precedent] of LABELLED_PRECEDENTS.entries()) {
      const recorded = await service.observe(observationOf(precedent, 1000 + index));
      labelOf.set(recorded!.id, precedent.label);
    }
    for (let index = 0; index < 300; index++) await service.observe(distractor(index, 5000 + index));
  });
  afterAll(() => ledger.close());

  it('picks the right precedent among near-misses, injects nothing where none applies, and reports its precision', async () => {
    let injected = 0;
    let correct = 0;
    let topHits = 0;
    let withTarget = 0;
    let falsePositives = 0;
    for (const task of LABELLED_TASKS) {
      const injection = await service.retrieve({ stage: task.stage, pipeline: null, project: null, taskText: task.text });
      const labels = injection.precedents.map((entry) => labelOf.get(entry.id));
      injected += labels.length;
      correct += labels.filter((label) => label === task.expected).length;
      if (task.expected === null) {
        falsePositives += labels.length;
        continue;
      }
      withTarget++;
      if (labels[0] === task.expected) topHits++;
      // Never a precedent of another stage (the distractors' stages are never asked about).
      expect(labels.every((label) => label !== undefined)).toBe(true);
    }
    const precision = correct / injected;
    const top1 = topHits / withTarget;
    console.log(`labelled retrieval: precision ${precision.toFixed(3)} (${correct}/${injected} injected), top-1 ${top1.toFixed(3)} (${topHits}/${withTarget}), ${falsePositives} injected where none applies`);
    expect(top1).toBeGreaterThanOrEqual(0.9);
    expect(precision).toBeGreaterThanOrEqual(0.8);
    expect(falsePositives).toBeLessThanOrEqual(1);
    // The threshold trades precision for recall: printed for the report.
    for (const minRelevance of [0, 0.1, 0.3, 0.4]) {
      let kept = 0;
      let right = 0;
      for (const task of LABELLED_TASKS) {
        const labels = (await service.retrieve({ stage: task.stage, pipeline: null, project: null, taskText: task.text }, { maxTokens: 300, minRelevance, limit: 3, minScoreShare: 0.5 }))
          .precedents.map((entry) => labelOf.get(entry.id));
        kept += labels.length;
        right += labels.filter((label) => label === task.expected).length;
      }
      console.log(`  minRelevance ${minRelevance}: precision ${(right / Math.max(1, kept)).toFixed(3)} (${right}/${kept}), recall ${(right / withTarget).toFixed(3)}`);
    }
  });

  it('stays under the token cap, and a precedent too long for it is skipped for one that fits', async () => {
    for (const maxTokens of [40, 60, 120, 300]) {
      for (const task of LABELLED_TASKS) {
        const injection = await service.retrieve({ stage: task.stage, pipeline: null, project: null, taskText: task.text }, { maxTokens, minRelevance: 0, limit: 10, minScoreShare: 0 });
        expect(injection.tokens).toBe(countTextTokens(injection.text));
        expect(injection.tokens).toBeLessThanOrEqual(maxTokens);
        expect(injection.precedents.reduce((sum, entry) => sum + entry.tokens, 0)).toBe(injection.tokens);
      }
    }
    const ranked = service.rank({ stage: 'extract', pipeline: null, project: null, taskText: LABELLED_TASKS[0]!.text });
    const long = { ...ranked[0]!, precedent: { ...ranked[0]!.precedent, what: 'very long '.repeat(200) } };
    const selection = selectWithinCap([long, ...ranked.slice(1)], { maxTokens: 80, minRelevance: 0, limit: 3, minScoreShare: 0 }, countTextTokens);
    expect(selection.precedents.map((entry) => entry.id)).not.toContain(long.precedent.id);
    expect(selection.precedents.length).toBeGreaterThan(0);
  });

  it('keeps its precision when the same stages fill up with precedents that share the tasks\' words', async () => {
    const hard = new PrecedentService(new SqlitePrecedentStore(ledger.database), defaultConfig().precedents, createLogger('silent'));
    // A second service over the same store sees everything above; these go to the labelled stages themselves.
    const stages = ['extract', 'summarise', 'classify'];
    const colours = ['red', 'blue', 'green', 'amber'];
    const greek = ['alpha', 'beta', 'gamma', 'delta', 'omega', 'sigma', 'kappa'];
    for (let index = 0; index < 300; index++) {
      const near = distractor(index, 9000 + index);
      await hard.observe({ ...near, where: { ...near.where, stage: stages[index % 3]! }, what: `${near.what} variant ${greek[index % 7]} ${colours[index % 4]}` });
    }
    let injected = 0;
    let correct = 0;
    let topHits = 0;
    let withTarget = 0;
    for (const task of LABELLED_TASKS) {
      const labels = (await hard.retrieve({ stage: task.stage, pipeline: null, project: null, taskText: task.text })).precedents.map((entry) => labelOf.get(entry.id));
      injected += labels.length;
      correct += labels.filter((label) => label === task.expected).length;
      if (task.expected === null) continue;
      withTarget++;
      if (labels[0] === task.expected) topHits++;
    }
    console.log(`with 300 topical near-misses at the same stages: precision ${(correct / injected).toFixed(3)} (${correct}/${injected}), top-1 ${topHits}/${withTarget}`);
    expect(topHits / withTarget).toBeGreaterThanOrEqual(0.9);
    expect(correct / injected).toBeGreaterThanOrEqual(0.8);
  });

  it('leaves retired precedents out', async () => {
    const task = LABELLED_TASKS[0]!;
    const [top] = (await service.retrieve({ stage: task.stage, pipeline: null, project: null, taskText: task.text })).precedents;
    const precedent = (await service.store.get(top!.id))!;
    await service.put({ ...precedent, retired: true });
    const after = await service.retrieve({ stage: task.stage, pipeline: null, project: null, taskText: task.text });
    expect(after.precedents.map((entry) => entry.id)).not.toContain(top!.id);
    await service.put({ ...precedent, retired: false });
  });
});

describe('the sim\'s remedy mode', () => {
  it('needs a text and a failure to apply without it', () => {
    expect(() => readDirectives({ 'x-sim-fail-unless-prompt-contains': 'check the total' })).toThrow(/x-sim-fault or x-sim-output/);
    expect(() => readDirectives({ 'x-sim-fail-unless-prompt-contains': ' ', 'x-sim-output': 'wrong-values' })).toThrow(/non-empty/);
    expect(readDirectives({ 'x-sim-fail-unless-prompt-contains': 'check the total', 'x-sim-fault': '500' }).failUnlessPromptContains).toBe('check the total');
  });
});

describe('instructions, in each protocol\'s place', () => {
  const block = 'Known pitfalls: X';
  it('appends to a system message or adds one (Chat Completions), to instructions (Responses), to system (Anthropic)', () => {
    const chat = { model: 'm', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Task' }] };
    expect(withInstructions('openai-chat', chat, block).messages).toEqual([{ role: 'system', content: `Be brief.\n\n${block}` }, { role: 'user', content: 'Task' }]);
    expect(chat.messages[0]!.content).toBe('Be brief.');
    expect(withInstructions('openai-chat', { messages: [{ role: 'user', content: 'Task' }] }, block).messages).toEqual([{ role: 'system', content: block }, { role: 'user', content: 'Task' }]);
    expect(withInstructions('openai-responses', { input: 'Task' }, block)).toEqual({ input: 'Task', instructions: block });
    expect(withInstructions('openai-responses', { input: 'Task', instructions: 'Be brief.' }, block).instructions).toBe(`Be brief.\n\n${block}`);
    expect(withInstructions('anthropic-messages', { messages: [], system: 'Be brief.' }, block).system).toBe(`Be brief.\n\n${block}`);
    expect(withInstructions('anthropic-messages', { messages: [], system: [{ type: 'text', text: 'Be brief.' }] }, block).system)
      .toEqual([{ type: 'text', text: 'Be brief.' }, { type: 'text', text: block }]);
    expect(withInstructions('anthropic-messages', { messages: [] }, block).system).toBe(block);
  });

  it('reads a task as its instructions, first user turn and latest one, not the turns between', () => {
    const text = taskTextOf('openai-chat', { messages: [
      { role: 'system', content: 'You extract.' }, { role: 'user', content: 'Extract invoice 7' }, { role: 'assistant', content: '{"bad":1}' },
      { role: 'user', content: 'middle' }, { role: 'user', content: 'Your previous answer broke the contract' },
    ] });
    expect(text).toBe('You extract.\nExtract invoice 7\nYour previous answer broke the contract');
    expect(taskTextOf('anthropic-messages', { system: 'S', messages: [{ role: 'user', content: [{ type: 'text', text: 'T' }] }] })).toBe('S\nT');
    expect(taskTextOf('openai-responses', { instructions: 'I', input: 'T' })).toBe('I\nT');
  });
});
