import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { defaultConfig, type GatewayConfig } from '../src/gateway/config.js';
import { startGateway, type RunningGateway } from '../src/gateway/gateway.js';
import { createLogger } from '../src/gateway/log.js';
import { loadPriceTable } from '../src/gateway/price-loader.js';
import { startSim, type SimServer } from '../src/sim/index.js';

export const ADMIN_TOKEN = 'it_admin_test-token-for-the-suite';

export interface Stack {
  sim: SimServer;
  gateway: RunningGateway;
  dataDir: string;
  admin<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  createRun(body?: Record<string, unknown>): Promise<{ id: string; token: string }>;
  openai(token: string, options?: ConstructorParameters<typeof OpenAI>[0]): OpenAI;
  anthropic(token: string, options?: ConstructorParameters<typeof Anthropic>[0]): Anthropic;
  close(): Promise<void>;
}

/** A simulator and a gateway in this process, on loopback ports, with a fresh ledger. */
export async function startStack(options: {
  config?: (config: GatewayConfig) => GatewayConfig;
  now?: () => number;
  /** Routes the gateway's upstream traffic somewhere else (a recording proxy) given the simulator's URL. */
  upstream?: (simUrl: string) => string;
} = {}): Promise<Stack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'intime-test-'));
  const config = (options.config ?? ((c) => c))(defaultConfig());
  const sim = await startSim({ priceTable: loadPriceTable(config) });
  const gateway = await startGateway({ dataDir, config, simUrl: options.upstream?.(sim.url) ?? sim.url, adminToken: ADMIN_TOKEN, log: createLogger('silent'), now: options.now });
  const admin = async <T>(method: string, path: string, body?: unknown) => {
    const response = await fetch(`${gateway.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as T };
  };
  return {
    sim,
    gateway,
    dataDir,
    admin,
    async createRun(body = {}) {
      const created = await admin<{ id: string; token: string }>('POST', '/api/runs', body);
      if (created.status !== 201) throw new Error(`createRun: ${created.status} ${JSON.stringify(created.body)}`);
      return created.body;
    },
    openai: (token, clientOptions) => new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: token, ...clientOptions }),
    anthropic: (token, clientOptions) => new Anthropic({ baseURL: gateway.url, apiKey: token, ...clientOptions }),
    async close() {
      await gateway.close();
      await sim.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface CallView {
  id: string;
  model: string;
  step: string | null;
  inputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  costUsd: string;
  estimated: boolean;
  status: string;
  errorCode: string | null;
  httpStatus: number;
  stream: boolean;
  routePolicy: string | null;
  contract: { verdict: 'passed' | 'failed' | 'none'; name: string | null; version: number | null; violation: string | null };
  attempt: number;
  retryOf: string | null;
}

export async function callsOf(stack: Stack, runId: string): Promise<CallView[]> {
  const { body } = await stack.admin<{ calls: CallView[] }>('GET', `/api/runs/${runId}/calls`);
  return body.calls;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
