import type { Command } from 'commander';
import { formatUsd, parseUsd } from '../core/money.js';
import { ApiClient, gatewayOptions, type ClientOptions } from './client.js';
import { formatTable } from './table.js';
import type { callView, runView, spendRowView, totalsView } from '../gateway/views.js';
import type { forecastVersusActual } from '../gateway/forecasts.js';
import type { wasteRowView } from '../gateway/contracts-api.js';

type RunView = ReturnType<typeof runView> & { forecast?: ReturnType<typeof forecastVersusActual> | null };
type CallView = ReturnType<typeof callView>;
type SpendView = { by: string; rows: ReturnType<typeof spendRowView>[]; total: ReturnType<typeof totalsView> };
type Options = ClientOptions & { json?: boolean };
type WasteRowView = ReturnType<typeof wasteRowView>;
type WasteView = { by: string; rows: WasteRowView[]; total: WasteRowView };

const usd = (amount: string | null) => (amount === null ? '-' : `$${amount}`);

export function registerReportCommands(program: Command): void {
  gatewayOptions(program.command('runs').description('list runs with their spend'))
    .option('--state <state>', 'only runs in this state (running, paused, stopped, exhausted, completed)')
    .option('--limit <n>', 'how many, newest first', '50')
    .action(async (options: Options & { state?: string; limit: string }) => {
      const query = new URLSearchParams({ limit: options.limit, ...(options.state ? { state: options.state } : {}) });
      const { runs } = await new ApiClient(options).get<{ runs: RunView[] }>(`/api/runs?${query}`);
      if (options.json) return console.log(JSON.stringify(runs, null, 2));
      console.log(formatTable(['run', 'name', 'state', 'spent', 'budget', 'calls', 'in tok', 'out tok', 'created'],
        runs.map((run) => [run.id, run.name ?? '-', run.state, usd(run.spentUsd), usd(run.budgetUsd), run.calls,
          run.inputTokens + run.cacheReadTokens + run.cacheWriteTokens, run.outputTokens, run.createdAt ?? '-'])));
    });

  gatewayOptions(program.command('report <run>').description('one run: its spend by step and model, and its calls'))
    .action(async (runId: string, options: Options) => {
      const client = new ApiClient(options);
      const run = await client.get<RunView>(`/api/runs/${encodeURIComponent(runId)}`);
      const { calls } = await client.get<{ calls: CallView[] }>(`/api/runs/${encodeURIComponent(runId)}/calls`);
      const waste = await client.get<WasteView>(`/api/waste?by=stage&run=${encodeURIComponent(runId)}`);
      if (options.json) return console.log(JSON.stringify({ run, calls, waste }, null, 2));
      console.log(reportText(run, calls, waste));
    });

  gatewayOptions(program.command('spend').description('spend grouped by model, key, day, run, project, step or provider'))
    .option('--by <dimension>', 'model | key | day | run | project | step | provider', 'model')
    .option('--since <time>', 'ISO date or time')
    .option('--until <time>', 'ISO date or time')
    .action(async (options: Options & { by: string; since?: string; until?: string }) => {
      const query = new URLSearchParams({ by: options.by });
      if (options.since) query.set('since', options.since);
      if (options.until) query.set('until', options.until);
      const spend = await new ApiClient(options).get<SpendView>(`/api/spend?${query}`);
      if (options.json) return console.log(JSON.stringify(spend, null, 2));
      console.log(formatTable([spend.by, 'cost', 'wasted', 'calls', 'input tok', 'output tok', 'estimated'],
        [...spend.rows.map((row) => [row.group ?? '(none)', usd(row.costUsd), usd(row.wastedUsd), row.calls, row.inputTokens + row.cacheReadTokens + row.cacheWriteTokens, row.outputTokens, row.estimatedCalls]),
          ['total', usd(spend.total.costUsd), usd(spend.total.wastedUsd), spend.total.calls, spend.total.inputTokens + spend.total.cacheReadTokens + spend.total.cacheWriteTokens, spend.total.outputTokens, spend.total.estimatedCalls]]));
      if (spend.total.wastedUsd !== '0') console.log(`\nwasted: spend on outputs that failed their contract (see intime waste --by ${spend.by === 'step' ? 'stage' : 'model'})`);
    });

  gatewayOptions(program.command('waste').description('silent burn: spend on outputs that failed their contract, by stage, model, run or day'))
    .option('--by <dimension>', 'stage | model | run | day', 'stage')
    .option('--run <id>', 'only this run')
    .option('--since <time>', 'ISO date or time')
    .option('--until <time>', 'ISO date or time')
    .action(async (options: Options & { by: string; run?: string; since?: string; until?: string }) => {
      const query = new URLSearchParams({ by: options.by });
      if (options.run) query.set('run', options.run);
      if (options.since) query.set('since', options.since);
      if (options.until) query.set('until', options.until);
      const waste = await new ApiClient(options).get<WasteView>(`/api/waste?${query}`);
      if (options.json) return console.log(JSON.stringify(waste, null, 2));
      console.log(wasteTable(waste));
    });
}

/** The per-run report: totals, then spend by step and model, then each call. */
export function reportText(run: RunView, calls: CallView[], waste?: WasteView): string {
  const lines = [
    `run ${run.id}${run.name ? ` (${run.name})` : ''}: ${run.state}${run.endedReason ? ` (${run.endedReason})` : ''}`,
    `spent ${usd(run.spentUsd)}${run.budgetUsd ? ` of ${usd(run.budgetUsd)}` : ''} in ${run.calls} calls, ` +
      `${run.inputTokens + run.cacheReadTokens + run.cacheWriteTokens} input + ${run.outputTokens} output tokens` +
      (run.estimatedCalls > 0 ? `, ${run.estimatedCalls} estimated` : ''),
    ...forecastLines(run),
  ];
  const judged = calls.filter((call) => call.contract.verdict !== 'none');
  if (judged.length > 0 || (waste && waste.total.wastedUsd !== '0')) {
    const failed = judged.filter((call) => call.contract.verdict === 'failed').length;
    // A run can finish with every stage passing and still have burned money on the way: show both.
    lines.push(`wasted ${usd(waste?.total.wastedUsd ?? run.wastedUsd)} on outputs that failed their contract ` +
      `(${failed} of ${judged.length} judged calls failed, ${waste?.total.retries ?? calls.filter((call) => call.attempt > 1).length} retries)`);
  }
  lines.push('');
  const groups = new Map<string, { cost: bigint; calls: number; output: number }>();
  for (const call of calls) {
    const key = `${call.step ?? '(no step)'}\u0000${call.model}`;
    const group = groups.get(key) ?? { cost: 0n, calls: 0, output: 0 };
    group.cost += parseUsd(call.costUsd);
    group.calls += 1;
    group.output += call.outputTokens;
    groups.set(key, group);
  }
  lines.push(formatTable(['step', 'model', 'calls', 'output tok', 'cost'],
    [...groups].map(([key, group]) => {
      const [step, model] = key.split('\u0000');
      return [step!, model!, group.calls, group.output, usd(formatUsd(group.cost))];
    })));
  if (waste && waste.rows.some((row) => row.wastedUsd !== '0')) lines.push('', wasteTable(waste));
  lines.push('', formatTable(['call', 'step', 'model', 'status', 'contract', 'in', 'out', 'cost', 'est', 'ms'],
    calls.map((call) => [call.id, call.step ?? '-', call.model, call.status, contractCell(call), call.inputTokens + call.cacheReadTokens + call.cacheWriteTokens,
      call.outputTokens, usd(call.costUsd), call.estimated ? 'yes' : '', Math.round(call.latencyMs)])));
  const violations = calls.filter((call) => call.contract.violation);
  if (violations.length > 0) lines.push('', 'violations:', ...violations.map((call) => `  ${call.id} ${call.step ?? '-'}: ${call.contract.violation}`));
  return lines.join('\n');
}

/** Forecast vs actual, when the run declared a task: what was forecast at its start and where it landed. */
function forecastLines(run: RunView): string[] {
  const forecast = run.forecast;
  if (!forecast?.costUsd) return forecast ? [`forecast: ${forecast.summary}`] : [];
  return [
    '',
    `forecast vs actual (${forecast.task.group ?? '-'} with ${forecast.task.model ?? '-'}${forecast.status === 'ok' ? '' : `, ${forecast.status} history`}):`,
    formatTable(['', 'P50', 'P90', 'P99', 'actual', 'fell'], [
      ['cost', usd(forecast.costUsd.p50), usd(forecast.costUsd.p90), usd(forecast.costUsd.p99), usd(forecast.actual.costUsd), forecast.actualBand.cost ?? '-'],
      ['tokens', forecast.tokens!.p50, forecast.tokens!.p90, forecast.tokens!.p99, forecast.actual.tokens, forecast.actualBand.tokens ?? '-'],
      ['calls', forecast.calls!.p50, forecast.calls!.p90, forecast.calls!.p99, forecast.actual.calls, forecast.actualBand.calls ?? '-'],
    ]),
  ];
}

function contractCell(call: CallView): string {
  if (call.contract.verdict === 'none') return '-';
  const retry = call.attempt > 1 ? ` (try ${call.attempt})` : '';
  return `${call.contract.verdict}${retry}`;
}

export function wasteTable(waste: WasteView): string {
  return formatTable([waste.by, 'cost', 'wasted', 'share', 'calls', 'failed', 'retries'],
    [...waste.rows, { ...waste.total, group: 'total' }].map((row) => [row.group ?? '(none)', usd(row.costUsd), usd(row.wastedUsd),
      `${(row.wastedShare * 100).toFixed(1)}%`, row.calls, row.failedCalls, row.retries]));
}
