import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ApiClient, CliError, gatewayOptions, type ClientOptions } from './client.js';
import { formatTable } from './table.js';

interface RecurrenceCount { calls: number; recurrences: number; rate: number | null }
interface PrecedentView {
  id: string; kind: string; what: string; evidence: string; signature: string; fix: string | null; fixSource: string | null;
  where: { pipeline: string | null; stage: string | null; model: string | null; tool: string | null; contract: string | null };
  count: number; firstSeen: string; lastSeen: string; retired: boolean; project: string | null;
  report?: {
    injected: number; tokens: number; costUsd: string; firstInjectedAt: string | null; occurrences: number;
    before: RecurrenceCount; withPrecedent: RecurrenceCount; withoutPrecedent: RecurrenceCount;
  };
}

type ListOptions = ClientOptions & { stage?: string; kind?: string; retired?: boolean; json?: boolean };
type EditOptions = ClientOptions & { what?: string; fix?: string; clearFix?: boolean; stage?: string; json?: boolean };
type AddOptions = ClientOptions & { stage?: string; pipeline?: string; model?: string; tool?: string; fix?: string; project?: string; json?: boolean };

/** `intime precedents …`: read, write, retire, share and measure the failures InTime remembers. */
export function registerPrecedentCommands(program: Command): void {
  const precedents = program.command('precedents').description('failures remembered where they happened, and what they did since');

  gatewayOptions(precedents.command('list').description('precedents, latest first, with what injecting them did'))
    .option('--stage <step>', 'only this step\'s')
    .option('--kind <kind>', 'contract_violation, stage_halted, budget_exhausted, run_stopped, approval_denied or manual')
    .option('--retired', 'retired ones too')
    .action(async (options: ListOptions) => {
      const query = new URLSearchParams({ report: '1' });
      if (options.stage) query.set('stage', options.stage);
      if (options.kind) query.set('kind', options.kind);
      if (options.retired) query.set('retired', '1');
      const { precedents: list } = await new ApiClient(options).get<{ precedents: PrecedentView[] }>(`/api/precedents?${query}`);
      if (options.json) return console.log(JSON.stringify(list, null, 2));
      if (list.length === 0) return console.log('no precedents yet: they are written when a stage fails its contract, a run is stopped with a note or runs out, or a tool call is denied');
      console.log(formatTable(['id', 'kind', 'stage', 'seen', 'injected', 'before', 'with', 'tokens', 'what'],
        list.map((precedent) => [
          `${precedent.id}${precedent.retired ? ' (retired)' : ''}`, precedent.kind, precedent.where.stage ?? '-', precedent.count,
          precedent.report?.injected ?? 0, rate(precedent.report?.before), rate(precedent.report?.withPrecedent), precedent.report?.tokens ?? 0,
          shorten(precedent.what, 60),
        ])));
    });

  gatewayOptions(precedents.command('show <id>').description('one precedent: where, what, evidence, fix, and its report'))
    .action(async (id: string, options: ClientOptions & { json?: boolean }) => {
      const precedent = await new ApiClient(options).get<PrecedentView>(`/api/precedents/${encodeURIComponent(id)}`);
      if (options.json) return console.log(JSON.stringify(precedent, null, 2));
      const where = Object.entries(precedent.where).filter(([, value]) => value !== null).map(([key, value]) => `${key} ${value}`).join(', ');
      const report = precedent.report!;
      console.log([
        `${precedent.id}  ${precedent.kind}${precedent.retired ? '  (retired)' : ''}`,
        `where     ${where || '(anywhere)'}`,
        `what      ${precedent.what}`,
        `evidence  ${precedent.evidence || '-'}`,
        `fix       ${precedent.fix ?? '-'}${precedent.fixSource ? `  (${precedent.fixSource})` : ''}`,
        `seen      ${precedent.count}×, ${precedent.firstSeen} … ${precedent.lastSeen}`,
        `injected  ${report.injected} calls, ${report.tokens} tokens ($${report.costUsd} of their cost)`,
        `recurred  before injection ${count(report.before)}; with it ${count(report.withPrecedent)}; without it since ${count(report.withoutPrecedent)}`,
      ].join('\n'));
    });

  gatewayOptions(precedents.command('add <what>').description('write a precedent by hand: what to watch for, and what to do'))
    .option('--stage <step>', 'the step it applies to (x-intime-step)')
    .option('--pipeline <name>', 'the pipeline (run name)')
    .option('--model <model>', 'the model')
    .option('--tool <tool>', 'the tool')
    .option('--fix <text>', 'what to do instead')
    .option('--project <name>', 'the project it belongs to')
    .action(async (what: string, options: AddOptions) => {
      const created = await new ApiClient(options).post<PrecedentView>('/api/precedents', {
        what, fix: options.fix, project: options.project,
        where: { stage: options.stage, pipeline: options.pipeline, model: options.model, tool: options.tool },
      });
      if (options.json) return console.log(JSON.stringify(created, null, 2));
      console.log(`${created.id}: ${created.what}`);
    });

  gatewayOptions(precedents.command('edit <id>').description('change what a precedent says (a fix written here is never replaced by an inferred one)'))
    .option('--what <text>', 'the failure, in words')
    .option('--fix <text>', 'what to do instead')
    .option('--clear-fix', 'remove the fix')
    .option('--stage <step>', 'the step it applies to')
    .action(async (id: string, options: EditOptions) => {
      const changes: Record<string, unknown> = {};
      if (options.what !== undefined) changes.what = options.what;
      if (options.fix !== undefined) changes.fix = options.fix;
      if (options.clearFix) changes.fix = null;
      if (options.stage !== undefined) changes.where = { stage: options.stage };
      if (Object.keys(changes).length === 0) throw new CliError('nothing to change: pass --what, --fix, --clear-fix or --stage');
      const updated = await new ApiClient(options).patch<PrecedentView>(`/api/precedents/${encodeURIComponent(id)}`, changes);
      if (options.json) return console.log(JSON.stringify(updated, null, 2));
      console.log(`${updated.id}: ${updated.what}${updated.fix ? ` — fix: ${updated.fix}` : ''}`);
    });

  for (const [name, retired] of [['retire', true], ['restore', false]] as const) {
    gatewayOptions(precedents.command(`${name} <id>`).description(retired ? 'stop injecting a precedent (kept, and live again if its failure recurs)' : 'inject a retired precedent again'))
      .action(async (id: string, options: ClientOptions & { json?: boolean }) => {
        const updated = await new ApiClient(options).patch<PrecedentView>(`/api/precedents/${encodeURIComponent(id)}`, { retired });
        if (options.json) return console.log(JSON.stringify(updated, null, 2));
        console.log(`${updated.id} ${retired ? 'retired' : 'restored'}`);
      });
  }

  gatewayOptions(precedents.command('export').description('every precedent as JSONL, to share with another gateway'))
    .option('-o, --output <file>', 'write to a file instead of standard output')
    .action(async (options: ClientOptions & { output?: string }) => {
      const text = await new ApiClient(options).text('GET', '/api/precedents/export');
      if (options.output) writeFileSync(options.output, text);
      else process.stdout.write(text);
    });

  gatewayOptions(precedents.command('import <file>').description('precedents from a JSONL export: every line valid, or nothing is imported'))
    .action(async (file: string, options: ClientOptions & { json?: boolean }) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        throw new CliError(`cannot read ${file}: ${(error as Error).message}`);
      }
      const result = JSON.parse(await new ApiClient(options).text('POST', '/api/precedents/import', text)) as { added: number; merged: number };
      if (options.json) return console.log(JSON.stringify(result));
      console.log(`${result.added} added, ${result.merged} merged into existing precedents`);
    });
}

function rate(count: RecurrenceCount | undefined): string {
  if (!count || count.rate === null) return '-';
  return `${Math.round(count.rate * 100)}%`;
}

function count(value: RecurrenceCount): string {
  return value.calls === 0 && value.recurrences === 0 ? 'no calls' : `${value.recurrences} of ${value.calls} calls${value.rate === null ? '' : ` (${Math.round(value.rate * 100)}%)`}`;
}

function shorten(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`;
}
