import type { Command } from 'commander';
import { Option } from 'commander';
import { ApiClient, CliError, gatewayOptions, type ClientOptions } from './client.js';
import { formatTable } from './table.js';

interface BudgetView {
  scope: string; window: string; budgetUsd: string | null; budgetTokens: number | null; maxCalls: number | null;
  spentUsd: string; reservedUsd: string; remainingUsd: string | null; calls: number; windowStart: string | null;
}

type SetOptions = ClientOptions & {
  key?: string; project?: string; usd?: string; tokens?: string; calls?: string; window: string; soft?: string; webhook?: string; json?: boolean;
};

export function registerBudgetCommands(program: Command): void {
  const budgets = program.command('budgets').description('budgets on virtual keys and projects, per day, month or in total');
  gatewayOptions(budgets.command('set').description('set (or replace) the budget of a key or a project'))
    .option('--key <id>', 'the virtual key (key_…)')
    .option('--project <name>', 'the project')
    .option('--usd <amount>', 'money limit in USD')
    .option('--tokens <n>', 'token limit')
    .option('--calls <n>', 'call limit')
    .addOption(new Option('--window <window>', 'calendar window (UTC)').choices(['total', 'day', 'month']).default('total'))
    .option('--soft <share>', 'soft threshold as a share, e.g. 0.8')
    .option('--webhook <url>', 'where the soft-threshold event is posted')
    .action(async (options: SetOptions) => {
      if (!options.key === !options.project) throw new CliError('give exactly one of --key or --project');
      const view = await new ApiClient(options).post<BudgetView>('/api/budgets', {
        scope: options.key ? `key:${options.key}` : `project:${options.project}`,
        budgetUsd: options.usd,
        budgetTokens: options.tokens === undefined ? undefined : Number(options.tokens),
        maxCalls: options.calls === undefined ? undefined : Number(options.calls),
        window: options.window,
        softThreshold: options.soft === undefined ? undefined : Number(options.soft),
        webhook: options.webhook,
      });
      console.log(options.json ? JSON.stringify(view, null, 2) : `budget set on ${view.scope} (${view.window}): ${describe(view)}`);
    });
  gatewayOptions(budgets.command('list').description('budgets with what is spent and left in the current window'))
    .action(async (options: ClientOptions & { json?: boolean }) => {
      const { budgets: list } = await new ApiClient(options).get<{ budgets: BudgetView[] }>('/api/budgets');
      if (options.json) return console.log(JSON.stringify(list, null, 2));
      console.log(formatTable(['scope', 'window', 'limit', 'spent', 'reserved', 'left', 'calls'],
        list.map((view) => [view.scope, view.window, describe(view), `$${view.spentUsd}`, `$${view.reservedUsd}`,
          view.remainingUsd === null ? '-' : `$${view.remainingUsd}`, view.calls])));
    });
}

function describe(view: BudgetView): string {
  const parts = [view.budgetUsd && `$${view.budgetUsd}`, view.budgetTokens && `${view.budgetTokens} tokens`, view.maxCalls && `${view.maxCalls} calls`];
  return parts.filter(Boolean).join(', ') || 'no limit';
}
