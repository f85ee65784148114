import type { Command } from 'commander';
import { ApiClient, gatewayOptions, type ClientOptions } from './client.js';
import { formatTable } from './table.js';

interface KeyView { id: string; name: string; project: string | null; createdAt: string; revokedAt: string | null; key?: string }

export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('virtual keys: long-lived API keys for agents, stored hashed');
  gatewayOptions(keys.command('create').description('create a virtual key (the key is shown once)'))
    .requiredOption('--name <name>', 'what the key is for')
    .option('--project <project>', 'project the key\'s spend is attributed to')
    .action(async (options: ClientOptions & { name: string; project?: string; json?: boolean }) => {
      const client = new ApiClient(options);
      const created = await client.post<KeyView>('/api/keys', { name: options.name, project: options.project });
      if (options.json) return console.log(JSON.stringify(created, null, 2));
      console.log(`created ${created.id} (${created.name}${created.project ? `, project ${created.project}` : ''})`);
      console.log(`key (shown once): ${created.key}`);
    });
  gatewayOptions(keys.command('list').description('list virtual keys (never their secrets)'))
    .action(async (options: ClientOptions & { json?: boolean }) => {
      const { keys: list } = await new ApiClient(options).get<{ keys: KeyView[] }>('/api/keys');
      if (options.json) return console.log(JSON.stringify(list, null, 2));
      console.log(formatTable(['id', 'name', 'project', 'created', 'revoked'],
        list.map((key) => [key.id, key.name, key.project ?? '-', key.createdAt, key.revokedAt ?? '-'])));
    });
}
