import type { IncomingMessage, ServerResponse } from 'node:http';
import { anthropicMessages } from '../protocols/anthropic-messages.js';
import type { ProtocolAdapter } from '../protocols/adapter.js';
import { asGatewayError, GatewayError } from '../protocols/errors.js';
import { openAiChat } from '../protocols/openai-chat.js';
import { openAiResponses } from '../protocols/openai-responses.js';
import { handleApi } from './api.js';
import type { Gateway } from './gateway.js';
import { sendJson } from './http.js';
import { handleModelCall, sendError } from './model-call.js';
import { serveDashboardAsset } from './dashboard-assets.js';
import { authenticate, requireSee } from './authorize.js';

/** Model endpoints, at the paths the official SDKs call (with and without the /v1 prefix). */
const MODEL_ROUTES = new Map<string, ProtocolAdapter>([
  ['/v1/chat/completions', openAiChat],
  ['/chat/completions', openAiChat],
  ['/v1/responses', openAiResponses],
  ['/responses', openAiResponses],
  ['/v1/messages', anthropicMessages],
]);

export async function routeRequest(gateway: Gateway, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://gateway');
  const adapter = MODEL_ROUTES.get(url.pathname);
  if (adapter) {
    if (request.method !== 'POST') return sendJson(response, 405, adapter.errorBody(methodNotAllowed()), { allow: 'POST' });
    return handleModelCall(gateway, adapter, request, response);
  }
  if (url.pathname === '/healthz') {
    return sendJson(response, 200, { ok: true, simulated: gateway.simulated });
  }
  if (url.pathname === '/metrics') {
    try {
      // Metrics span every project: a token that sees them all, unless the config makes them public.
      if (!gateway.config.metrics.public) requireSee(await authenticate(gateway, request), null, 'metrics across projects');
    } catch (error) {
      const failure = asGatewayError(error);
      return sendJson(response, failure.status, { error: { code: failure.code, message: failure.message } });
    }
    const text = await gateway.metrics.text();
    response.writeHead(200, { 'content-type': gateway.metrics.registry.contentType, 'cache-control': 'no-store' });
    response.end(text);
    return;
  }
  if (serveDashboardAsset(request, response, url.pathname)) return;
  if (url.pathname.startsWith('/api/')) {
    try {
      return await handleApi(gateway, request, response, url);
    } catch (error) {
      const failure = asGatewayError(error);
      if (failure.code === 'internal_error') gateway.log.error('api error', { path: url.pathname, error: (error as Error).stack });
      return sendJson(response, failure.status, { error: { code: failure.code, message: failure.message } });
    }
  }
  sendError(openAiChat, response, notFound(url.pathname));
}

function methodNotAllowed(): GatewayError {
  return new GatewayError('invalid_request', 'invalid_request', 'model endpoints accept POST only', { status: 405, retryable: false });
}

function notFound(path: string): GatewayError {
  return new GatewayError('not_found', 'not_found', `no route for ${path}`, { retryable: false });
}
