import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { ApiClient, gatewayOptions, type ClientOptions } from './client.js';
import { formatTable } from './table.js';

interface ApprovalView {
  id: string; run: string | null; call: string; tool: string; arguments: unknown; model: string; state: string;
  createdAt: string; expiresAt: string; decidedBy: string | null; note: string | null; decidedAt: string | null;
}

type ListOptions = ClientOptions & { state: string; run?: string; json?: boolean };
type DecideOptions = ClientOptions & { note?: string; json?: boolean };

/** `intime approvals`, `intime approve <id>`, `intime deny <id>`: the humans' side of approval gates. */
export function registerApprovalCommands(program: Command): void {
  gatewayOptions(program.command('approvals [id]').description('tool calls held for a decision (pending by default), or one of them'))
    .option('--state <state>', 'pending, approved, denied, timed_out, abandoned or all', 'pending')
    .option('--run <id>', 'only this run\'s')
    .action(async (id: string | undefined, options: ListOptions) => {
      const client = new ApiClient(options);
      if (id) {
        const approval = await client.get<ApprovalView>(`/api/approvals/${encodeURIComponent(id)}`);
        return console.log(JSON.stringify(approval, null, 2));
      }
      const query = new URLSearchParams();
      if (options.state !== 'all') query.set('state', options.state);
      if (options.run) query.set('run', options.run);
      const { approvals } = await client.get<{ approvals: ApprovalView[] }>(`/api/approvals?${query}`);
      if (options.json) return console.log(JSON.stringify(approvals, null, 2));
      if (approvals.length === 0) return console.log(options.state === 'pending' ? 'no tool call is waiting for a decision' : 'no approvals');
      const now = Date.now();
      console.log(formatTable(['id', 'run', 'tool', 'arguments', 'state', 'waiting', 'denied in'],
        approvals.map((approval) => [
          approval.id, approval.run ?? '-', approval.tool, shorten(JSON.stringify(approval.arguments), 60), approval.state,
          seconds(now - Date.parse(approval.createdAt)),
          approval.state === 'pending' ? seconds(Date.parse(approval.expiresAt) - now) : '-',
        ])));
    });
  for (const [name, verb] of [['approve', 'release the held answer to the agent, unchanged'], ['deny', 'take the tool call out of the answer; the agent is told why']] as const) {
    gatewayOptions(program.command(`${name} <id>`).description(verb))
      .option('--note <text>', 'why (the agent reads it on a deny)')
      .action(async (id: string, options: DecideOptions) => {
        const decided = await new ApiClient(options).post<ApprovalView>(`/api/approvals/${encodeURIComponent(id)}/${name}`, {
          note: options.note, by: operatorName(),
        });
        if (options.json) return console.log(JSON.stringify(decided, null, 2));
        console.log(`${decided.id}: ${decided.tool} ${decided.state}${decided.note ? ` (${decided.note})` : ''}`);
      });
  }
}

/** Who is deciding, for the record: the OS user, until roles give each operator a token. */
function operatorName(): string | undefined {
  try {
    return `${userInfo().username} (cli)`;
  } catch {
    return undefined;
  }
}

function shorten(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`;
}

function seconds(milliseconds: number): string {
  return `${Math.max(0, Math.round(milliseconds / 1000))}s`;
}
