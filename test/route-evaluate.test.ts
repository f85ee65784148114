import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PriceTable } from '../src/core/prices.js';
import { seededRandom } from '../src/core/routing/explore.js';
import { RoutingRegistry } from '../src/gateway/routing/registry.js';
import { runCli } from './processes.js';

const dir = mkdtempSync(join(tmpdir(), 'intime-route-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('intime route evaluate', () => {
  it('reports on the committed GSM8K outcomes: cascade, oracle, saving at 95% of GPT-4 quality, AIQ', async () => {
    const cli = runCli(['route', 'evaluate', '--data', 'data/routing/gsm8k-outcomes.jsonl', '--split', '0.5', '--json']);
    expect(await cli.exited).toBe(0);
    const report = JSON.parse(cli.stdout()) as {
      bestSingle: string; trainRows: number; testRows: number;
      cascade: { order: string[]; quality: number; savingVsBaseline: number; reachesTarget: boolean };
      oracle: { quality: number }; aiq: { singles: number; cascade: number; oracle: number };
    };
    expect(report.bestSingle).toBe('gpt-4-1106-preview');
    expect(report.trainRows + report.testRows).toBe(1319);
    expect(report.cascade.order).toEqual(['mistralai/Mixtral-8x7B-Instruct-v0.1', 'gpt-4-1106-preview']);
    expect(report.cascade.reachesTarget).toBe(true);
    expect(report.cascade.savingVsBaseline).toBeGreaterThan(0.35);
    expect(report.aiq.cascade).toBeGreaterThan(report.aiq.singles);
    expect(report.aiq.oracle).toBeGreaterThanOrEqual(report.aiq.cascade);
  });

  it('learns from --train and reports on --test, pricing outcomes given in tokens', async () => {
    const line = (id: number, cheapPasses: boolean) => JSON.stringify({
      id, task: 't', outcomes: {
        'gpt-4o-mini': { passed: cheapPasses, inputTokens: 1000, outputTokens: 1000 },
        'gpt-4o': { passed: true, inputTokens: 1000, outputTokens: 1000 },
      },
    });
    const rows = Array.from({ length: 40 }, (_, index) => line(index, index % 4 !== 0)).join('\n');
    writeFileSync(join(dir, 'train.jsonl'), rows);
    writeFileSync(join(dir, 'test.jsonl'), rows);
    const cli = runCli(['route', 'evaluate', '--train', join(dir, 'train.jsonl'), '--test', join(dir, 'test.jsonl'), '--quality-target', '0.95']);
    expect(await cli.exited).toBe(0);
    // gpt-4o-mini at $0.15/$0.60 per M, gpt-4o at $2.50/$10: the cascade pays mini always, 4o a quarter of the time.
    expect(cli.stdout()).toMatch(/cascade gpt-4o-mini → gpt-4o\s+\$0\.003875\s+100\.0%\s+69\.0%/);
  });

  it('refuses a bad file with the line that is wrong', async () => {
    writeFileSync(join(dir, 'bad.jsonl'), '{"id":"1","task":"t","outcomes":{"m":{"passed":true,"costUsd":1}}}\n{"id":"2","task":"t"}\n');
    const cli = runCli(['route', 'evaluate', '--train', join(dir, 'bad.jsonl'), '--test', join(dir, 'bad.jsonl')]);
    expect(await cli.exited).toBe(2);
    expect(cli.stderr()).toMatch(/bad\.jsonl:2: "outcomes" must map model names/);
    const noise = runCli(['route', 'evaluate', '--data', 'data/routing/gsm8k-outcomes.jsonl', '--check-noise', '2']);
    expect(await noise.exited).toBe(2);
    expect(noise.stderr()).toMatch(/--check-noise must be a number between 0 and 1/);
  });
});

describe('routing registry', () => {
  it('spends no more than its share of a run budget on exploration', () => {
    const prices = new PriceTable().add({ version: 1, models: [
      { id: 'cheap', provider: 'p', usdPerMillion: { input: '1', output: '1' } },
      { id: 'dear', provider: 'p', usdPerMillion: { input: '10', output: '10' } },
    ] }, 'test');
    const registry = new RoutingRegistry({ stage: { candidates: ['cheap', 'dear'], qualityTarget: 0.9, explorationShare: 0.1 } }, join(dir, 'policies.json'), prices, seededRandom(3));
    const policy = registry.get('stage')!;
    let explored = 0;
    let exploring = 0;
    for (let index = 0; index < 500; index++) {
      const decision = registry.decide(policy, 'stage', 1000, 1000, { id: 'run_1', budgetUsd: 0.05 });
      explored += decision.explorationCostUsd;
      if (decision.exploring) exploring++;
    }
    expect(exploring).toBeGreaterThan(0);
    expect(explored).toBeLessThanOrEqual(0.05 * 0.1 + 1e-12);
    // Without a budget there is no exploring at all.
    expect(registry.decide(policy, 'stage', 1000, 1000, { id: 'run_2', budgetUsd: null }).exploring).toBe(false);
  });
});
