import type { Command } from 'commander';
import { Option } from 'commander';
import { displayUsd, parseUsd } from '../core/money.js';
import type { runView } from '../gateway/views.js';
import type { DemoRun } from '../demo/workload.js';
import { CliError, DEFAULT_PORT } from './client.js';
import { onShutdown, parsePort } from './serve.js';
import { formatTable } from './table.js';
import { wasteTable } from './reports.js';

type RunView = ReturnType<typeof runView> & { token?: string };

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('start a gateway with the simulated provider, drive a small agent workload through the official OpenAI and Anthropic clients, and show what it cost')
    .addOption(new Option('--port <port>', 'gateway port').default(DEFAULT_PORT).argParser(parsePort))
    .option('--data-dir <dir>', 'data directory (ledger, admin token)', '.intime')
    .option('--exit', 'exit after printing the spend table instead of serving')
    .option('--real', 'call real providers (needs OPENAI_API_KEY and ANTHROPIC_API_KEY)')
    .action(async (options: { port: number; dataDir: string; exit?: boolean; real?: boolean }) => {
      const simulated = !options.real;
      if (!simulated && (!process.env.OPENAI_API_KEY || !process.env.ANTHROPIC_API_KEY)) {
        throw new CliError('--real needs OPENAI_API_KEY and ANTHROPIC_API_KEY in the environment');
      }
      // Loaded here, not at the top: every other command starts faster without the SDKs and the sim.
      const [{ loadConfig }, { startGateway }, { loadPriceTable }, { startSim }, { researchAgent, supportAgent }] = await Promise.all([
        import('../gateway/config.js'), import('../gateway/gateway.js'), import('../gateway/price-loader.js'),
        import('../sim/index.js'), import('../demo/workload.js'),
      ]);
      const { invoicePipeline } = await import('../demo/invoice-pipeline.js');
      const config = loadConfig(undefined);
      const sim = simulated ? await startSim({ priceTable: loadPriceTable(config) }) : undefined;
      const gateway = await startGateway({ port: options.port, dataDir: options.dataDir, config, simUrl: sim?.url });
      const label = simulated ? 'SIMULATED PROVIDER (intime sim): no real model was called; prices are real list prices' : 'REAL PROVIDERS';
      process.stderr.write(`intime demo: gateway on ${gateway.url}  [${label}]\n`);

      const admin = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
        const response = await fetch(`${gateway.url}${path}`, {
          method, headers: { authorization: `Bearer ${gateway.gateway.adminToken}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (!response.ok) throw new CliError(`${method} ${path}: ${response.status} ${await response.text()}`);
        return (await response.json()) as T;
      };
      const workload = { gatewayUrl: gateway.url, simulated, models: { openai: 'gpt-4o-mini', anthropic: 'claude-haiku-4-5' } };
      const created: RunView[] = [];
      for (const [name, agent] of [['research-agent', researchAgent], ['support-agent', supportAgent], ['invoice-pipeline', invoicePipeline]] as const) {
        const run = await admin<RunView>('POST', '/api/runs', { name, project: 'demo' });
        created.push(run);
        await agent({ name, token: run.token!, id: run.id } satisfies DemoRun & { id: string }, workload);
      }
      const runs = await Promise.all(created.map((run) => admin<RunView>('GET', `/api/runs/${run.id}`)));
      const total = runs.reduce((sum, run) => sum + parseUsd(run.spentUsd), 0n);
      console.log(`\nSpend per run  [${label}]\n`);
      const wasted = runs.reduce((sum, run) => sum + parseUsd(run.wastedUsd), 0n);
      console.log(formatTable(['run', 'name', 'calls', 'input tok', 'output tok', 'estimated', 'spent (exact USD)', 'spent', 'wasted'],
        [...runs.map((run) => [run.id, run.name ?? '-', run.calls, run.inputTokens + run.cacheReadTokens + run.cacheWriteTokens,
          run.outputTokens, run.estimatedCalls, run.spentUsd, displayUsd(parseUsd(run.spentUsd)), displayUsd(parseUsd(run.wastedUsd))]),
          ['total', '', runs.reduce((n, run) => n + run.calls, 0), '', '', '', '', displayUsd(total), displayUsd(wasted)]]));
      const pipelineRun = runs.find((run) => run.name === 'invoice-pipeline');
      if (pipelineRun) {
        const waste = await admin<Parameters<typeof wasteTable>[0]>('GET', `/api/waste?by=stage&run=${pipelineRun.id}`);
        console.log(`\nWaste of ${pipelineRun.id} (invoice-pipeline): every stage passed in the end; spend on outputs that failed their contract first\n`);
        console.log(wasteTable(waste));
      }
      console.log(`\nEach call is in the ledger (${options.dataDir}/ledger.db). Try: npx intime report ${runs[0]?.id}`);
      if (options.exit) {
        await gateway.close();
        await sim?.close();
        return;
      }
      console.log(`Gateway still serving on ${gateway.url} (OpenAI base URL ${gateway.url}/v1, Anthropic ${gateway.url}). Ctrl-C to stop.`);
      onShutdown(async () => {
        await gateway.close();
        await sim?.close();
      });
    });
}
