import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';

export const DEFAULT_PORT = 4242;

export interface ClientOptions {
  gateway?: string;
  adminToken?: string;
  dataDir?: string;
}

/** Talks to a gateway's control API with the admin token, for the CLI's read and write commands. */
export class ApiClient {
  readonly baseUrl: string;
  private readonly adminToken: string;

  constructor(options: ClientOptions) {
    this.baseUrl = (options.gateway ?? process.env.INTIME_URL ?? `http://127.0.0.1:${DEFAULT_PORT}`).replace(/\/+$/, '');
    const token = options.adminToken ?? process.env.INTIME_ADMIN_TOKEN ?? readTokenFile(options.dataDir);
    if (!token) {
      throw new CliError('no admin token: set INTIME_ADMIN_TOKEN, pass --admin-token, or run where the gateway keeps its data dir (.intime/admin-token)');
    }
    this.adminToken = token;
  }

  async get<T>(path: string): Promise<T> {
    return this.send<T>('GET', path);
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>('POST', path, body);
  }

  async patch<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>('PATCH', path, body);
  }

  /** A request whose body and answer are text, not JSON (JSONL export and import). */
  async text(method: string, path: string, body?: string): Promise<string> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/x-ndjson' }) },
        body,
      });
    } catch {
      throw new CliError(`cannot reach the gateway at ${this.baseUrl} (is \`intime serve\` running? set --gateway or INTIME_URL)`);
    }
    const text = await response.text();
    if (!response.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        // Not JSON: the text itself says what went wrong.
      }
      throw new CliError(`${method} ${path}: ${response.status} ${message}`);
    }
    return text;
  }

  private async send<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.adminToken}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new CliError(`cannot reach the gateway at ${this.baseUrl} (is \`intime serve\` running? set --gateway or INTIME_URL)`);
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new CliError(`the gateway answered ${response.status} with a body that is not JSON`);
    }
    if (!response.ok) {
      const message = (json as { error?: { message?: string } }).error?.message ?? text;
      throw new CliError(`${method} ${path}: ${response.status} ${message}`);
    }
    return json as T;
  }
}

export class CliError extends Error {}

/** Options shared by every command that talks to a running gateway. */
export function gatewayOptions(command: Command): Command {
  return command
    .addOption(new Option('--gateway <url>', 'gateway URL').env('INTIME_URL').default(`http://127.0.0.1:${DEFAULT_PORT}`))
    .addOption(new Option('--admin-token <token>', 'admin token (default: INTIME_ADMIN_TOKEN or .intime/admin-token)'))
    .addOption(new Option('--data-dir <dir>', 'where the gateway keeps its data').default('.intime'))
    .option('--json', 'print JSON instead of a table');
}

function readTokenFile(dataDir: string | undefined): string | undefined {
  const path = join(dataDir ?? join(process.cwd(), '.intime'), 'admin-token');
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}
