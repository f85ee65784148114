import { Command } from 'commander';
import { CliError } from './client.js';
import { registerKeyCommands } from './keys.js';
import { registerReportCommands } from './reports.js';
import { registerServeCommands } from './serve.js';
import { registerDemoCommand } from './demo.js';
import { registerRunCommand } from './run.js';
import { registerBudgetCommands } from './budgets.js';
import { registerControlCommands } from './control.js';
import { registerApprovalCommands } from './approvals.js';
import { registerRouteCommands } from './route.js';
import { registerForecastCommands } from './forecast.js';
import { registerPrecedentCommands } from './precedents.js';

const program = new Command('intime')
  .description('InTime: a clock on every AI agent\'s arm. Meters every model call in money, to the last token.')
  .version('0.1.0')
  .showHelpAfterError();

registerServeCommands(program);
registerDemoCommand(program);
registerRunCommand(program);
registerReportCommands(program);
registerKeyCommands(program);
registerBudgetCommands(program);
registerControlCommands(program);
registerApprovalCommands(program);
registerRouteCommands(program);
registerForecastCommands(program, program.commands.find((command) => command.name() === 'runs')!);
registerPrecedentCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CliError || (error as { code?: string }).code === 'invalid_config' || (error as { code?: string }).code === 'invalid_price_table') {
    process.stderr.write(`intime: ${(error as Error).message}\n`);
    process.exit(2);
  }
  throw error;
}
