import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { RunEndedEvent } from '../gateway/budgets.js';
import type { callView, runView } from '../gateway/views.js';
import { ApiClient, CliError } from './client.js';
import { ClockDisplay } from './clock-display.js';
import { addTaskOptions, taskFromFlags, type ForecastView, type TaskFlags } from './forecast.js';
import { reportText } from './reports.js';
import { signalProcessGroup } from './process-group.js';

type RunView = ReturnType<typeof runView> & { token?: string; lastModel?: string | null };
type CallView = ReturnType<typeof callView>;

/** Exit codes of `intime run` when InTime ended the command; otherwise the command's own. */
export const EXIT_CODES = { gatewayError: 2, budget: 3, deadline: 4, stopped: 5 } as const;

interface RunOptions extends TaskFlags {
  budget?: string;
  tokens?: number;
  calls?: number;
  deadline?: number;
  name?: string;
  gateway?: string;
  adminToken?: string;
  dataDir: string;
  sim?: boolean;
  policy?: 'clamp' | 'refuse';
  grace: number;
  config?: string;
}

export function registerRunCommand(program: Command): void {
  const command = program
    .command('run')
    .description('run a command as a metered agent: its OpenAI/Anthropic calls go through InTime with a budget, and the clock stops it at zero')
    .option('--budget <usd>', 'money budget in USD, or "auto": the P90 of the forecast for the task (see --pipeline)')
    .option('--tokens <n>', 'token budget (input + output)', positiveInt)
    .option('--calls <n>', 'maximum model calls', positiveInt)
    .option('--deadline <duration>', 'wall-clock deadline, e.g. 90s, 30m, 2h', parseDuration)
    .option('--name <name>', 'run name')
    .option('--gateway <url>', 'use a running gateway instead of an embedded one')
    .option('--admin-token <token>', 'admin token of that gateway')
    .option('--data-dir <dir>', 'data directory of the embedded gateway', '.intime')
    .option('--config <file>', 'config file of the embedded gateway')
    .option('--sim', 'embedded gateway with the simulated provider (no API keys)')
    .addOption(new Option('--policy <policy>', 'when a call\'s output does not fit: clamp it or refuse it').choices(['clamp', 'refuse']))
    .option('--grace <duration>', 'time between SIGINT, SIGTERM and SIGKILL', parseDuration, 3000)
    .argument('<command...>', 'the command to run, after --');
  addTaskOptions(command)
    .action(async (command: string[], options: RunOptions) => {
      process.exitCode = await runCommand(command, options);
    });
}

async function runCommand(command: string[], options: RunOptions): Promise<number> {
  const started = Date.now();
  const target = await connect(options);
  const name = options.name ?? command.join(' ').slice(0, 200);
  const auto = options.budget === 'auto';
  const declared = auto || [options.pipeline, options.model, options.inputTokens, options.stages, options.tools, options.difficulty].some((flag) => flag !== undefined) ||
    (options.tag?.length ?? 0) > 0 || (options.feature?.length ?? 0) > 0;
  // The task's pipeline defaults to the run's name: runs of the same command learn from each other.
  const task = declared ? { ...taskFromFlags(options), pipeline: options.pipeline ?? name } : undefined;
  const run = await target.client.post<RunView & { forecast?: ForecastView | null }>('/api/runs', {
    name,
    task,
    budgetUsd: options.budget,
    budgetTokens: options.tokens,
    maxCalls: options.calls,
    deadlineMs: options.deadline,
    overflowPolicy: options.policy,
  });
  if (auto && run.forecast) {
    process.stderr.write(`intime run: budget auto: reserved $${run.budgetUsd}, the P90 forecast for ${task!.pipeline}` +
      ` (P50 $${run.forecast.costUsd!.p50}, P99 $${run.forecast.costUsd!.p99}; ${run.forecast.summary})\n`);
  }
  const base = target.url;
  const child = spawn(command[0]!, command.slice(1), {
    stdio: 'inherit',
    // Its own process group, so the clock can end the whole tree: children and grandchildren.
    detached: true,
    env: {
      ...process.env,
      OPENAI_BASE_URL: `${base}/v1`,
      OPENAI_API_KEY: run.token!,
      ANTHROPIC_BASE_URL: base,
      ANTHROPIC_API_KEY: run.token!,
      INTIME_RUN: run.id,
      INTIME_URL: base,
    },
  });
  const childExit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', (error) => {
      process.stderr.write(`intime run: cannot start ${command[0]}: ${error.message}\n`);
      resolve({ code: 127, signal: null });
    });
  });

  const display = new ClockDisplay(process.stderr, run.id);
  let endedBy: RunEndedEvent | undefined;
  let terminating: Promise<void> | undefined;
  let commandExited = false;
  const end = (event: RunEndedEvent) => {
    // Once the command is gone there is nothing to stop; its own ending completes the run.
    if (endedBy || commandExited) return;
    endedBy = event;
    display.note(`clock: run ${event.state} (${event.reason}); stopping the command`);
    terminating = signalProcessGroup(child.pid!, options.grace, childExit);
  };
  target.onRunEnded?.(run.id, end);

  // Ctrl-C stops the run at the gateway (in-flight calls cut, later calls refused) and then the command.
  const onSignal = () => {
    display.note('interrupted; stopping the run');
    target.client.post(`/api/runs/${run.id}/stop`, { note: 'interrupted (Ctrl-C in intime run)' }).catch(() => undefined);
    end({ runId: run.id, state: 'stopped', reason: 'interrupted' });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const poll = setInterval(() => {
    target.client.get<RunView>(`/api/runs/${run.id}`).then((view) => {
      display.update(view);
      if (view.state !== 'running' && view.state !== 'paused') end({ runId: run.id, state: view.state, reason: view.endedReason ?? view.state });
    }, () => undefined);
  }, 250);

  const exit = await childExit;
  commandExited = true;
  clearInterval(poll);
  await terminating;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  display.finish();

  if (!endedBy) await target.client.post(`/api/runs/${run.id}/complete`, {}).catch(() => undefined);
  const final = await target.client.get<RunView>(`/api/runs/${run.id}`);
  const { calls } = await target.client.get<{ calls: CallView[] }>(`/api/runs/${run.id}/calls`);
  process.stderr.write(`\n${reportText(final, calls)}\ntime ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  await target.close();

  if (endedBy) {
    const code = endedBy.reason === 'deadline_exceeded' ? EXIT_CODES.deadline
      : endedBy.state === 'exhausted' ? EXIT_CODES.budget : EXIT_CODES.stopped;
    process.stderr.write(`intime run: ended by the clock (${endedBy.reason}), exit ${code}\n`);
    return code;
  }
  return exit.code ?? 128 + signalNumber(exit.signal);
}

interface Target {
  url: string;
  client: ApiClient;
  onRunEnded?: (runId: string, listener: (event: RunEndedEvent) => void) => void;
  close(): Promise<void>;
}

/** A running gateway (--gateway), or an embedded one on an ephemeral loopback port. */
async function connect(options: RunOptions): Promise<Target> {
  if (options.gateway) {
    const client = new ApiClient({ gateway: options.gateway, adminToken: options.adminToken, dataDir: options.dataDir });
    return { url: client.baseUrl, client, close: async () => undefined };
  }
  const [{ startGateway }, { loadConfig }, { loadPriceTable }, { createLogger }] = await Promise.all([
    import('../gateway/gateway.js'), import('../gateway/config.js'), import('../gateway/price-loader.js'), import('../gateway/log.js'),
  ]);
  const config = loadConfig(options.config);
  const sim = options.sim ? await (await import('../sim/index.js')).startSim({ priceTable: loadPriceTable(config) }) : undefined;
  const gateway = await startGateway({ port: 0, dataDir: options.dataDir, config, simUrl: sim?.url, log: createLogger('error') });
  if (sim) process.stderr.write('intime run: SIMULATED PROVIDER (intime sim): no real model is called\n');
  return {
    url: gateway.url,
    client: new ApiClient({ gateway: gateway.url, adminToken: gateway.gateway.adminToken }),
    onRunEnded(runId, listener) {
      gateway.gateway.budgets.events.on('run-ended', (event: RunEndedEvent) => {
        if (event.runId === runId) listener(event);
      });
    },
    async close() {
      await gateway.close();
      await sim?.close();
    },
  };
}

export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new CliError(`not a duration: ${text} (use e.g. 500ms, 90s, 30m, 2h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(match[1]) * unit);
}

function positiveInt(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new CliError(`not a positive integer: ${text}`);
  return value;
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return (signal && numbers[signal]) ?? 0;
}
