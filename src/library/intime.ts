import type { TaskInput } from '../core/forecast-history.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type RunningGateway } from '../gateway/gateway.js';
import { createLogger } from '../gateway/log.js';
import { loadConfig } from '../gateway/config.js';
import { loadPriceTable } from '../gateway/price-loader.js';
import { newToken } from '../gateway/secrets.js';
import { startSim, type SimServer } from '../sim/index.js';
import type { Contract } from './contract.js';
import { Run, type AdminApi } from './run.js';

/** The forecast made when the run was created with a task, as the API returns it. */
export type RunForecast = Record<string, unknown>;

export interface RunOptions {
  name?: string;
  project?: string;
  /** Decimal USD, e.g. "0.50"; or "auto": the P90 of the forecast for `task` (needs history). */
  budgetUsd?: string;
  /** What the run is, for the forecaster: its pipeline, model, input size and features. */
  task?: TaskInput;
  budgetTokens?: number;
  maxCalls?: number;
  deadlineMs?: number;
  parent?: string;
}

/**
 * The library's entry: a connection to an InTime gateway (by URL with an admin token,
 * or one started in this process) that creates runs and registers contracts.
 */
export class InTime implements AdminApi {
  private constructor(
    readonly url: string,
    private readonly adminToken: string,
    private readonly stopEmbedded: (() => Promise<void>) | undefined,
    /** Set for an embedded gateway: the running gateway itself. */
    readonly embeddedGateway: RunningGateway | undefined,
  ) {}

  /** A gateway already running (`intime serve`), with an admin (or operator) token. */
  static connect(options: { url?: string; adminToken?: string } = {}): InTime {
    const url = (options.url ?? process.env.INTIME_URL ?? 'http://127.0.0.1:4680').replace(/\/$/, '');
    const adminToken = options.adminToken ?? process.env.INTIME_ADMIN_TOKEN;
    if (!adminToken) throw new Error('InTime.connect needs an admin token (option adminToken or INTIME_ADMIN_TOKEN)');
    return new InTime(url, adminToken, undefined, undefined);
  }

  /**
   * A gateway in this process on a loopback port, with its own SQLite ledger. With
   * `simulate` (the default) every provider is the built-in simulator: no key, no network.
   */
  static async embedded(options: { simulate?: boolean; dataDir?: string; configPath?: string } = {}): Promise<InTime> {
    const temporary = options.dataDir === undefined;
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'intime-embedded-'));
    const config = loadConfig(options.configPath);
    let sim: SimServer | undefined;
    if (options.simulate !== false) sim = await startSim({ priceTable: loadPriceTable(config) });
    const adminToken = newToken('it_admin');
    const gateway = await startGateway({ dataDir, config, simUrl: sim?.url, adminToken, log: createLogger('warn') });
    return new InTime(gateway.url, adminToken, async () => {
      await gateway.close();
      await sim?.close();
      if (temporary) rmSync(dataDir, { recursive: true, force: true });
    }, gateway);
  }

  /**
   * The run this process was started in: `intime run -- <cmd>` sets INTIME_URL, INTIME_RUN
   * and the run token as the provider API keys.
   */
  static joinRun(options: { url?: string; token?: string; runId?: string } = {}): Run {
    const url = options.url ?? process.env.INTIME_URL;
    const token = options.token ?? [process.env.OPENAI_API_KEY, process.env.ANTHROPIC_API_KEY].find((key) => key?.startsWith('it_run_'));
    if (!url || !token) throw new Error('joinRun needs a gateway url and a run token (or run under `intime run`)');
    return new Run(options.runId ?? process.env.INTIME_RUN, token, url.replace(/\/$/, ''), undefined);
  }

  async createRun(options: RunOptions = {}): Promise<Run> {
    const created = await this.request<{ id: string; token: string; budgetUsd: string | null; forecast?: RunForecast }>('POST', '/api/runs', options);
    return new Run(created.id, created.token, this.url, this, { budgetUsd: created.budgetUsd, forecast: created.forecast ?? null });
  }

  /** Registers a contract's schema on the gateway, so agents that do not use the library can name it (x-intime-contract). */
  async registerContract(contract: Contract<unknown, unknown>): Promise<{ name: string; version: number }> {
    return this.request('POST', '/api/contracts', { name: contract.name, schema: contract.jsonSchema, description: contract.description ?? null });
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`InTime ${method} ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  }

  async close(): Promise<void> {
    await this.stopEmbedded?.();
  }
}
