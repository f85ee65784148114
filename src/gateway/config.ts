import { readFileSync } from 'node:fs';
import type { Protocol } from '../core/tokenizer.js';
import type { UsdPerMillion } from '../core/prices.js';
import type { RoutingPolicySpec } from './routing/registry.js';
import { DEFAULT_BURN_ANOMALY, type BurnAnomalyOptions } from '../core/burn-anomaly.js';
import { DEFAULT_WASTE_WATCH, type WasteWatchOptions } from '../core/waste-watch.js';

/** Where a provider lives and how to authenticate to it. Keys come from the environment or the file, never from logs. */
export interface ProviderConfig {
  /** OpenAI-style base URL including /v1 (https://api.openai.com/v1), or Anthropic's origin (https://api.anthropic.com). */
  baseUrl: string;
  apiKey?: string;
  /** Name of an environment variable holding the key (preferred over apiKey in files). */
  apiKeyEnv?: string;
  /** Wire formats this provider speaks. */
  protocols: Protocol[];
  /** A local server (Ollama, vLLM, llama.cpp): its models are priced $0, on purpose. */
  local?: boolean;
  /** Models served here beyond those the price table attributes to this provider. */
  models?: string[];
}

export interface GatewayConfig {
  providers: Record<string, ProviderConfig>;
  prices: {
    /** Price files in our format; later ones override earlier ones and the shipped table. */
    files: string[];
    /** LiteLLM model_prices_and_context_window.json files to import. */
    litellm: string[];
    /** A price for models nobody priced. Unset means such models are refused. */
    defaultUsdPerMillion?: UsdPerMillion;
  };
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
  /** How long to wait for an upstream's response headers. */
  upstreamHeadersTimeoutMs: number;
  /** How long a call of a paused run is held before it is refused (run_paused_timeout). */
  pauseHoldMs: number;
  budgets: {
    /** When a call's output does not fit: 'clamp' its max tokens to what fits, or 'refuse' it. Runs may override. */
    overflowPolicy: 'clamp' | 'refuse';
    /** Output cap put on requests that set none while a budget applies: without one a call has no worst case. */
    defaultMaxOutputTokens: number;
    /** Share of a budget at which the soft-threshold event fires (once per window). */
    softThreshold: number;
    /** Where soft-threshold events are posted, unless a budget names its own webhook. */
    webhook?: string;
  };
  /** Approval gates: the global policy (the API can replace it and add per-scope ones). */
  approvals: {
    /** Tool names or globs (`send_*`, `deploy*`) whose calls wait for a decision. */
    tools: string[];
    /** How long a decision may take before the call is denied. */
    timeoutMs: number;
    /** What a denial does: strip the tool call from the answer, or stop the run. */
    onDeny: 'strip' | 'stop';
    /** Where approval requests are posted (Slack-compatible). */
    webhook?: string;
    /** How often a held stream sends an SSE comment while it waits (default 15 s). */
    keepAliveMs?: number;
  };
  /** Routing policies, requested as model `intime/auto:<name>` (the API can add more). */
  routing: { policies: Record<string, RoutingPolicySpec> };
  /** Alerts: burn-rate anomalies per key and project, budget thresholds, approvals waiting. */
  alerts: {
    /** Where every alert is posted (Slack-compatible {text, blocks}). */
    webhook?: string;
    /** Burn-rate anomaly detection; false turns it off. */
    burnRate: (BurnAnomalyOptions & { bucketMs: number }) | false;
    /** Silent burn: a run whose failed-contract spend passes a share of its spend; false turns it off, absent uses the defaults. */
    waste?: WasteWatchOptions | false;
  };
  /** GET /metrics: needs a control-API token that sees every project, unless public. */
  metrics: { public: boolean };
  /** Precedents: failures recorded where they happened, and brought back into later calls at the same step. */
  precedents: PrecedentsConfig;
  /** OpenTelemetry export of runs, steps and calls as traces (OTLP/HTTP JSON). Off unless an endpoint is set. */
  otlp: {
    /** The collector's base URL (http://127.0.0.1:4318); spans go to <endpoint>/v1/traces. */
    endpoint?: string;
    headers?: Record<string, string>;
    serviceName: string;
  };
}

export interface PrecedentsConfig {
  /** Record precedents from failures (default true). */
  record: boolean;
  /**
   * Inject retrieved precedents into calls labelled with a step (x-intime-step): false (the
   * default), true for every step, or a list of steps. A call's `x-intime-precedents: on|off` overrides.
   */
  inject: boolean | string[];
  /** Most tokens the injected block may add to one call's prompt. */
  maxTokens: number;
  /** Least share (0 to 1) of a precedent's own BM25 weight the task must cover to be injected. */
  minRelevance: number;
  /** Most precedents injected into one call. */
  limit: number;
  /** Least share (0 to 1) of the best match's BM25 score a further precedent needs to be injected too. */
  minScoreShare: number;
  /** Redact email addresses in recorded evidence too (default true). */
  redactEmails: boolean;
}

export const DEFAULT_PROVIDERS: Record<string, ProviderConfig> = {
  openai: { baseUrl: 'https://api.openai.com/v1', apiKeyEnv: 'OPENAI_API_KEY', protocols: ['openai-chat', 'openai-responses'] },
  anthropic: { baseUrl: 'https://api.anthropic.com', apiKeyEnv: 'ANTHROPIC_API_KEY', protocols: ['anthropic-messages'] },
  google: {
    baseUrl: 'https://generativelanguage.googleapis.com/v1beta/openai',
    apiKeyEnv: 'GEMINI_API_KEY',
    protocols: ['openai-chat'],
  },
  ollama: { baseUrl: 'http://127.0.0.1:11434/v1', protocols: ['openai-chat'], local: true },
};

export function defaultConfig(): GatewayConfig {
  return {
    providers: structuredClone(DEFAULT_PROVIDERS),
    prices: { files: [], litellm: [] },
    maxBodyBytes: 8 * 1024 * 1024,
    upstreamHeadersTimeoutMs: 300_000,
    pauseHoldMs: 300_000,
    budgets: { overflowPolicy: 'clamp', defaultMaxOutputTokens: 16_384, softThreshold: 0.8 },
    approvals: { tools: [], timeoutMs: 300_000, onDeny: 'strip' },
    routing: { policies: {} },
    alerts: { burnRate: { ...DEFAULT_BURN_ANOMALY, bucketMs: 300_000 } },
    metrics: { public: false },
    precedents: { record: true, inject: false, maxTokens: 300, minRelevance: 0.2, limit: 3, minScoreShare: 0.5, redactEmails: true },
    otlp: { serviceName: 'intime' },
  };
}

export class ConfigError extends Error {
  readonly code = 'invalid_config';
}

/** Reads a JSON config file and lays it over the defaults (providers merge by name). */
export function loadConfig(path: string | undefined): GatewayConfig {
  const config = defaultConfig();
  if (!path) return config;
  let file: Partial<GatewayConfig>;
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as Partial<GatewayConfig>;
  } catch (error) {
    throw new ConfigError(`cannot read config ${path}: ${(error as Error).message}`);
  }
  for (const [name, provider] of Object.entries(file.providers ?? {})) {
    if (typeof provider?.baseUrl !== 'string' || !Array.isArray(provider.protocols)) {
      throw new ConfigError(`config ${path}: provider "${name}" needs baseUrl and protocols`);
    }
    config.providers[name] = provider;
  }
  if (file.prices) config.prices = { ...config.prices, ...file.prices };
  if (typeof file.maxBodyBytes === 'number') config.maxBodyBytes = file.maxBodyBytes;
  if (typeof file.upstreamHeadersTimeoutMs === 'number') config.upstreamHeadersTimeoutMs = file.upstreamHeadersTimeoutMs;
  if (typeof file.pauseHoldMs === 'number') config.pauseHoldMs = file.pauseHoldMs;
  if (file.budgets) {
    config.budgets = { ...config.budgets, ...file.budgets };
    if (!['clamp', 'refuse'].includes(config.budgets.overflowPolicy)) throw new ConfigError(`config ${path}: budgets.overflowPolicy must be clamp or refuse`);
  }
  if (file.routing?.policies !== undefined) {
    if (typeof file.routing.policies !== 'object' || file.routing.policies === null) throw new ConfigError(`config ${path}: routing.policies must map names to {"candidates": [...]}`);
    config.routing = { policies: file.routing.policies };
  }
  if (file.approvals) config.approvals = approvalsConfig({ ...config.approvals, ...file.approvals }, path);
  if (file.alerts) config.alerts = alertsConfig(file.alerts, config.alerts, path);
  if (file.metrics) {
    if (typeof file.metrics.public !== 'boolean') throw new ConfigError(`config ${path}: metrics.public must be true or false`);
    config.metrics = { public: file.metrics.public };
  }
  if (file.precedents) config.precedents = precedentsConfig({ ...config.precedents, ...file.precedents }, path);
  if (file.otlp) {
    const { endpoint, headers, serviceName } = file.otlp;
    if (endpoint !== undefined && (typeof endpoint !== 'string' || !/^https?:\/\//.test(endpoint))) throw new ConfigError(`config ${path}: otlp.endpoint must be an http(s) URL`);
    if (headers !== undefined && (typeof headers !== 'object' || headers === null || Object.values(headers).some((value) => typeof value !== 'string'))) {
      throw new ConfigError(`config ${path}: otlp.headers must map header names to strings`);
    }
    config.otlp = { endpoint, headers, serviceName: typeof serviceName === 'string' && serviceName !== '' ? serviceName : config.otlp.serviceName };
  }
  return config;
}

function approvalsConfig(approvals: GatewayConfig['approvals'], path: string): GatewayConfig['approvals'] {
  if (!Array.isArray(approvals.tools) || !approvals.tools.every((tool) => typeof tool === 'string' && tool !== '')) {
    throw new ConfigError(`config ${path}: approvals.tools must be a list of tool names or globs`);
  }
  if (!Number.isSafeInteger(approvals.timeoutMs) || approvals.timeoutMs < 1) throw new ConfigError(`config ${path}: approvals.timeoutMs must be a positive integer`);
  if (approvals.onDeny !== 'strip' && approvals.onDeny !== 'stop') throw new ConfigError(`config ${path}: approvals.onDeny must be strip or stop`);
  if (approvals.keepAliveMs !== undefined && (!Number.isSafeInteger(approvals.keepAliveMs) || approvals.keepAliveMs < 10)) {
    throw new ConfigError(`config ${path}: approvals.keepAliveMs must be an integer of at least 10`);
  }
  return approvals;
}

export function precedentsConfig(precedents: PrecedentsConfig, path: string): PrecedentsConfig {
  const { inject, maxTokens, minRelevance, limit } = precedents;
  if (typeof inject !== 'boolean' && !(Array.isArray(inject) && inject.every((step) => typeof step === 'string' && step !== ''))) {
    throw new ConfigError(`config ${path}: precedents.inject must be true, false or a list of steps`);
  }
  if (typeof precedents.record !== 'boolean' || typeof precedents.redactEmails !== 'boolean') {
    throw new ConfigError(`config ${path}: precedents.record and precedents.redactEmails must be true or false`);
  }
  if (!Number.isSafeInteger(maxTokens) || maxTokens < 20 || maxTokens > 20_000) throw new ConfigError(`config ${path}: precedents.maxTokens must be an integer from 20 to 20000`);
  if (typeof minRelevance !== 'number' || !(minRelevance >= 0 && minRelevance <= 1)) throw new ConfigError(`config ${path}: precedents.minRelevance must be a number from 0 to 1`);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 50) throw new ConfigError(`config ${path}: precedents.limit must be an integer from 1 to 50`);
  if (typeof precedents.minScoreShare !== 'number' || !(precedents.minScoreShare >= 0 && precedents.minScoreShare <= 1)) {
    throw new ConfigError(`config ${path}: precedents.minScoreShare must be a number from 0 to 1`);
  }
  return precedents;
}

function alertsConfig(file: Partial<GatewayConfig['alerts']>, defaults: GatewayConfig['alerts'], path: string): GatewayConfig['alerts'] {
  if (file.webhook !== undefined && (typeof file.webhook !== 'string' || !/^https?:\/\//.test(file.webhook))) {
    throw new ConfigError(`config ${path}: alerts.webhook must be an http(s) URL`);
  }
  let burnRate = defaults.burnRate;
  if (file.burnRate === false) burnRate = false;
  else if (file.burnRate !== undefined) {
    burnRate = { ...(defaults.burnRate || { ...DEFAULT_BURN_ANOMALY, bucketMs: 300_000 }), ...file.burnRate };
    for (const [name, value] of Object.entries(burnRate)) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new ConfigError(`config ${path}: alerts.burnRate.${name} must be a non-negative number`);
    }
    if (burnRate.bucketMs < 1000) throw new ConfigError(`config ${path}: alerts.burnRate.bucketMs must be at least 1000`);
    if (burnRate.alpha <= 0 || burnRate.alpha > 1) throw new ConfigError(`config ${path}: alerts.burnRate.alpha must be in (0, 1]`);
  }
  let waste = defaults.waste;
  if (file.waste === false) waste = false;
  else if (file.waste !== undefined) {
    if (typeof file.waste !== 'object' || file.waste === null || Array.isArray(file.waste)) throw new ConfigError(`config ${path}: alerts.waste must be an object or false`);
    const unknown = Object.keys(file.waste).find((name) => !(name in DEFAULT_WASTE_WATCH));
    if (unknown) throw new ConfigError(`config ${path}: alerts.waste.${unknown} is not a setting (share, minFailedCalls, minUsd)`);
    waste = { ...(defaults.waste || DEFAULT_WASTE_WATCH), ...file.waste };
    for (const [name, value] of Object.entries(waste)) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new ConfigError(`config ${path}: alerts.waste.${name} must be a non-negative number`);
    }
    if (waste.share > 1) throw new ConfigError(`config ${path}: alerts.waste.share must be in [0, 1]`);
  }
  return { webhook: file.webhook ?? defaults.webhook, burnRate, ...(waste === undefined ? {} : { waste }) };
}

export function providerApiKey(provider: ProviderConfig, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return (provider.apiKeyEnv ? env[provider.apiKeyEnv] : undefined) ?? provider.apiKey;
}
