import type { Command } from 'commander';
import { ApiClient, gatewayOptions, type ClientOptions } from './client.js';
import { formatTable } from './table.js';

type Options = ClientOptions & { note?: string; json?: boolean };

/** intime stop|pause|resume <run>: the authority to interrupt, from any terminal. */
export function registerControlCommands(program: Command): void {
  const verbs: [string, string][] = [
    ['stop', 'stop a run for good: calls in flight are cut, later calls refused, its sub-runs too'],
    ['pause', 'pause a run: its new calls wait (up to the hold time); calls in flight finish'],
    ['resume', 'resume a paused run: its held calls go on, in order'],
  ];
  for (const [verb, description] of verbs) {
    gatewayOptions(program.command(`${verb} <run>`).description(description))
      .option('--note <text>', 'why (kept in the audit trail)')
      .action(async (runId: string, options: Options) => {
        const view = await new ApiClient(options).post<{ id: string; state: string; changed: boolean; stop?: { callsCut: number; endedInMs: number } }>(
          `/api/runs/${encodeURIComponent(runId)}/${verb}`, { note: options.note });
        if (options.json) return console.log(JSON.stringify(view, null, 2));
        if (!view.changed) return console.log(`run ${view.id} is ${view.state}; nothing to ${verb}`);
        const cut = view.stop && view.stop.callsCut > 0
          ? ` (${view.stop.callsCut === 1 ? '1 call in flight cut; its agent' : `${view.stop.callsCut} calls in flight cut; their agents`} had the error ${view.stop.endedInMs.toFixed(1)} ms after the request)`
          : '';
        console.log(`run ${view.id}: ${view.state}${cut}`);
      });
  }
  gatewayOptions(program.command('audit').description('the audit trail: who stopped, paused, resumed, approved or denied what'))
    .option('--run <id>', 'only this run')
    .action(async (options: Options & { run?: string }) => {
      const query = options.run ? `?run=${encodeURIComponent(options.run)}` : '';
      const { audit } = await new ApiClient(options).get<{ audit: { at: string; actor: string; role: string; action: string; runId: string | null; note: string | null }[] }>(`/api/audit${query}`);
      if (options.json) return console.log(JSON.stringify(audit, null, 2));
      console.log(formatTable(['at', 'actor', 'role', 'action', 'run', 'note'],
        audit.map((entry) => [entry.at, entry.actor, entry.role, entry.action, entry.runId ?? '-', entry.note ?? ''])));
    });
}
