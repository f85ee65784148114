import type { Command } from 'commander';
import { Option } from 'commander';
import { loadConfig } from '../gateway/config.js';
import { loadPriceTable } from '../gateway/price-loader.js';
import { DEFAULT_PORT } from './client.js';

export function registerServeCommands(program: Command): void {
  program
    .command('serve')
    .description('run the gateway: agents point their OpenAI/Anthropic base URL here')
    .addOption(new Option('--port <port>', 'port to listen on').default(DEFAULT_PORT).argParser(parsePort))
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--data-dir <dir>', 'data directory (ledger, admin token)', '.intime')
    .option('--db <path>', 'ledger SQLite file (default <data-dir>/ledger.db)')
    .option('--config <file>', 'JSON config: providers, price files, limits')
    .option('--sim', 'use the built-in simulated provider as every upstream (no API keys needed)')
    .option('--otlp-endpoint <url>', 'export runs, steps and calls as OpenTelemetry traces to this OTLP/HTTP collector (e.g. http://127.0.0.1:4318)')
    .action(async (options: { port: number; host: string; dataDir: string; db?: string; config?: string; sim?: boolean; otlpEndpoint?: string }) => {
      const [{ startGateway }, { startSim }] = await Promise.all([import('../gateway/gateway.js'), import('../sim/index.js')]);
      const config = loadConfig(options.config);
      const sim = options.sim ? await startSim({ priceTable: loadPriceTable(config) }) : undefined;
      const gateway = await startGateway({
        port: options.port, host: options.host, dataDir: options.dataDir, db: options.db, config, simUrl: sim?.url, otlpEndpoint: options.otlpEndpoint,
      });
      process.stderr.write(`intime gateway listening on ${gateway.url}${sim ? '  [SIMULATED PROVIDER: no real model is called]' : ''}\n`);
      process.stderr.write(`  OpenAI base URL: ${gateway.url}/v1   Anthropic base URL: ${gateway.url}\n`);
      process.stderr.write(`  dashboard: ${gateway.url}/   metrics: ${gateway.url}/metrics${gateway.gateway.otlp ? '   OTLP export: on' : ''}\n`);
      if (gateway.generatedAdminToken) {
        process.stderr.write(`  admin token (shown once, kept in ${options.dataDir}/admin-token): ${gateway.generatedAdminToken}\n`);
      }
      onShutdown(async () => {
        await gateway.close();
        await sim?.close();
      });
    });

  program
    .command('sim')
    .description('run the simulated model provider (OpenAI Chat/Responses and Anthropic Messages wire formats)')
    .addOption(new Option('--port <port>', 'port to listen on').default(4243).argParser(parsePort))
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .action(async (options: { port: number; host: string }) => {
      const { startSim } = await import('../sim/index.js');
      const sim = await startSim({ port: options.port, host: options.host, priceTable: loadPriceTable(loadConfig(undefined)) });
      process.stderr.write(`intime sim (SIMULATED PROVIDER) listening on ${sim.url}\n`);
      process.stderr.write(`  OpenAI base URL: ${sim.url}/v1   Anthropic base URL: ${sim.url}\n`);
      onShutdown(() => sim.close());
    });
}

export function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`not a port: ${text}`);
  return port;
}

/** Closes cleanly on Ctrl-C or SIGTERM; a second signal exits at once. */
export function onShutdown(close: () => Promise<void>): void {
  let closing = false;
  const handler = () => {
    if (closing) process.exit(130);
    closing = true;
    close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
