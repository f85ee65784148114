import type { Protocol } from '../core/tokenizer.js';
import type { ModelPrice } from '../core/prices.js';
import { GatewayError } from '../protocols/errors.js';
import { providerApiKey, type GatewayConfig, type ProviderConfig } from './config.js';

/** Where one call goes: the provider, its full URL, its auth, and the model name it knows. */
export interface Upstream {
  provider: string;
  origin: string;
  path: string;
  authHeaders: Record<string, string>;
  model: string;
}

/**
 * Picks the provider for a model: an explicit "provider/model" prefix, else the provider
 * the price table names, else one that lists the model. Only configured providers serve.
 */
export function resolveUpstream(config: GatewayConfig, protocol: Protocol, model: string, price: ModelPrice): Upstream {
  const slash = model.indexOf('/');
  const prefix = slash > 0 ? model.slice(0, slash) : undefined;
  let name: string | undefined;
  let upstreamModel = model;
  if (prefix && config.providers[prefix]) {
    name = prefix;
    upstreamModel = model.slice(slash + 1);
  } else if (config.providers[price.provider]) {
    name = price.provider;
  } else {
    name = Object.keys(config.providers).find((key) => config.providers[key]!.models?.includes(model));
  }
  const provider = name === undefined ? undefined : config.providers[name];
  if (!provider || name === undefined) {
    throw new GatewayError('provider_not_configured', 'invalid_request',
      `model "${model}" is priced for provider "${price.provider}", which this gateway has no upstream for`,
      { param: 'model', retryable: false });
  }
  if (!provider.protocols.includes(protocol)) {
    throw new GatewayError('protocol_not_supported', 'invalid_request',
      `model "${model}" is served by "${name}", which speaks ${provider.protocols.join(', ')}, not ${protocol}; send it to that endpoint`,
      { param: 'model' });
  }
  const url = new URL(endpointUrl(provider.baseUrl, protocol));
  return {
    provider: name,
    origin: url.origin,
    path: url.pathname + url.search,
    authHeaders: authHeaders(name, provider, protocol),
    model: upstreamModel,
  };
}

function endpointUrl(baseUrl: string, protocol: Protocol): string {
  const base = baseUrl.replace(/\/+$/, '');
  switch (protocol) {
    case 'openai-chat':
      return `${base}/chat/completions`;
    case 'openai-responses':
      return `${base}/responses`;
    case 'anthropic-messages':
      // Anthropic's SDKs take the origin as base URL; OpenAI-style ones include /v1. Accept both.
      return base.endsWith('/v1') ? `${base}/messages` : `${base}/v1/messages`;
  }
}

function authHeaders(name: string, provider: ProviderConfig, protocol: Protocol): Record<string, string> {
  const key = providerApiKey(provider);
  if (!key) {
    if (provider.local) return {};
    throw new GatewayError('provider_not_configured', 'upstream',
      `provider "${name}" has no API key (set ${provider.apiKeyEnv ?? 'apiKey in the config'})`, { retryable: false });
  }
  return protocol === 'anthropic-messages' ? { 'x-api-key': key } : { authorization: `Bearer ${key}` };
}

/** Points every provider at one simulator that speaks every protocol. */
export function simulatedProviders(config: GatewayConfig, simUrl: string): GatewayConfig {
  const providers: Record<string, ProviderConfig> = {};
  for (const name of Object.keys(config.providers)) {
    providers[name] = { baseUrl: `${simUrl}/v1`, apiKey: 'sim', protocols: ['openai-chat', 'openai-responses', 'anthropic-messages'] };
  }
  return { ...config, providers };
}
