import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { PriceTable } from '../core/prices.js';
import type { Protocol } from '../core/tokenizer.js';
import { DirectiveError, readDirectives } from './directives.js';
import { errorReply, SimError } from './errors.js';
import { clientGone, readBody, sendJson, waitUnlessClosed } from './http-io.js';
import { newId } from './ids.js';
import { planOutput, type OutputPlan } from './output-plan.js';
import { writePacedStream } from './paced-stream.js';
import { anthropicMessages } from './protocols/anthropic-messages.js';
import { openAiChat } from './protocols/openai-chat.js';
import { openAiResponses } from './protocols/openai-responses.js';
import type { ProtocolRenderer } from './protocols/renderer.js';
import { readCall, type SimulatedCall } from './simulated-call.js';

export interface SimOptions {
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** When given, a model it cannot price gets a 404 model_not_found, as a real provider would. */
  priceTable?: PriceTable;
}

export interface SimStats {
  requests: number;
  byPath: Record<string, number>;
  activeStreams: number;
}

/** Emitted when a request has been read. `at` is performance.now(). */
export interface SimRequestEvent {
  id: string;
  path: string;
  model: string | undefined;
  stream: boolean;
  at: number;
}

/** Emitted once per request, when its response ends or its connection closes. */
export interface SimClosedEvent {
  id: string;
  path: string;
  at: number;
  tokensSent: number;
  /** False when the client went away (or a fault dropped it) before the response ended. */
  completed: boolean;
}

export type SimEvents = { request: [SimRequestEvent]; closed: [SimClosedEvent] };

export interface SimServer {
  /** http://host:port, no trailing slash. OpenAI clients use `${url}/v1`, Anthropic's `url`. */
  url: string;
  port: number;
  stats(): SimStats;
  resetStats(): void;
  events: EventEmitter<SimEvents>;
  close(): Promise<void>;
}

interface Route {
  protocol: Protocol;
  renderer: ProtocolRenderer;
}

const ROUTES: Record<string, Route> = {
  '/v1/chat/completions': { protocol: 'openai-chat', renderer: openAiChat },
  '/v1/responses': { protocol: 'openai-responses', renderer: openAiResponses },
  '/v1/messages': { protocol: 'anthropic-messages', renderer: anthropicMessages },
};

/** Longer than the 5 s that clients' connection pools commonly keep idle sockets. */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export async function startSim(options: SimOptions = {}): Promise<SimServer> {
  const events = new EventEmitter<SimEvents>();
  const stats: SimStats = { requests: 0, byPath: {}, activeStreams: 0 };
  const context: SimContext = { events, stats, priceTable: options.priceTable };
  const server = createServer((request, response) => {
    handleRequest(context, request, response).catch((error: unknown) => failSafely(response, error));
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1000;
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    stats: () => ({ ...stats, byPath: { ...stats.byPath } }),
    resetStats: () => resetCounters(stats),
    events,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // In-flight streams end now; their close handlers clear every timer.
        server.closeAllConnections();
      }),
  };
}

interface SimContext {
  events: EventEmitter<SimEvents>;
  stats: SimStats;
  priceTable: PriceTable | undefined;
}

async function handleRequest(context: SimContext, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = (request.url ?? '/').split('?', 1)[0] ?? '/';
  response.setHeader('x-intime-simulated', 'true');
  if (path.startsWith('/sim/')) return handleControl(context, request, response, path);
  const { stats, events } = context;
  stats.requests++;
  stats.byPath[path] = (stats.byPath[path] ?? 0) + 1;
  const route = ROUTES[path];
  const requestId = newId('req_');
  response.setHeader(route?.renderer.requestIdHeader ?? 'x-request-id', requestId);
  const progress = { tokensSent: 0 };
  let streaming = false;
  response.once('close', () => {
    if (streaming) stats.activeStreams--;
    events.emit('closed', { id: requestId, path, at: performance.now(), tokensSent: progress.tokensSent, completed: response.writableFinished });
  });
  const fail = (error: SimError) => {
    const reply = errorReply(route?.protocol, error, requestId);
    // retry-after-ms is honoured by both official SDKs: their retries in tests stay fast.
    const headers: Record<string, string> = error.kind === 'rate_limit' ? { 'retry-after-ms': '1', 'retry-after': '0' } : {};
    sendJson(response, reply.status, reply.body, headers);
  };
  if (route === undefined) return fail(new SimError('not_found', `Invalid URL (${request.method} ${path})`));
  if (request.method !== 'POST') return fail(new SimError('method_not_allowed', `${request.method} is not allowed on ${path}; use POST`));

  let text: string | undefined;
  try {
    text = await readBody(request);
  } catch (error) {
    return fail(error as SimError);
  }
  if (text === undefined) return;
  const body = parseObject(text);
  events.emit('request', {
    id: requestId,
    path,
    model: typeof body?.model === 'string' ? body.model : undefined,
    stream: body?.stream === true,
    at: performance.now(),
  });
  if (body === undefined) return fail(new SimError('invalid_request', 'We could not parse the JSON body of your request: expected a JSON object.'));

  try {
    const call = readCall(route.protocol, body, readDirectives(request.headers), requestId);
    if (context.priceTable !== undefined && context.priceTable.lookup(call.model) === undefined) {
      throw new SimError('model_not_found', `The model \`${call.model}\` does not exist or you do not have access to it.`, 'model');
    }
    const plan = planOutput(call);
    const { fault } = call.directives;
    if (fault === 'disconnect-mid-stream' && !call.stream) return void request.socket.destroy();
    // Refusals come before any stream starts, as real providers send them.
    if (!call.stream || fault === '429' || fault === '500') return await respondWhole(route, call, plan, response, progress);
    if (clientGone(response)) return;
    streaming = true;
    stats.activeStreams++;
    respondStream(route, call, plan, response, progress);
  } catch (error) {
    if (error instanceof SimError) return fail(error);
    if (error instanceof DirectiveError) return fail(new SimError('invalid_request', error.message, error.header));
    throw error;
  }
}

/** A whole JSON response (or a simulated refusal), after the requested latency. */
async function respondWhole(route: Route, call: SimulatedCall, plan: OutputPlan, response: ServerResponse, progress: { tokensSent: number }): Promise<void> {
  const { fault } = call.directives;
  if (!(await waitUnlessClosed(response, call.directives.latencyMs))) return;
  if (fault === '429') throw new SimError('rate_limit', 'Rate limit reached (simulated fault x-sim-fault: 429).');
  if (fault === '500') throw new SimError('server_error', 'The server had an error while processing your request (simulated fault x-sim-fault: 500).');
  const complete = route.renderer.completeBody(call, plan);
  // Half a document is the simplest body that is certainly not JSON.
  const sent = fault === 'malformed-json' ? complete.slice(0, Math.floor(complete.length / 2)) : complete;
  if (fault !== 'malformed-json') progress.tokensSent = plan.outputTokens;
  sendJson(response, 200, sent);
}

function respondStream(route: Route, call: SimulatedCall, plan: OutputPlan, response: ServerResponse, progress: { tokensSent: number }): void {
  const { fault } = call.directives;
  response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  writePacedStream({
    response,
    events: route.renderer.streamEvents(call, plan),
    delayMs: call.directives.latencyMs,
    tokensPerSecond: call.directives.tokensPerSecond,
    totalTokens: plan.outputTokens,
    fault: fault === 'disconnect-mid-stream' || fault === 'malformed-json' ? fault : undefined,
    malformedEvent: route.renderer.malformedEvent(call),
    progress,
  });
}

function handleControl(context: SimContext, request: IncomingMessage, response: ServerResponse, path: string): void {
  if (path === '/sim/stats' && request.method === 'GET') return sendJson(response, 200, JSON.stringify(context.stats));
  if (path === '/sim/reset' && request.method === 'POST') {
    resetCounters(context.stats);
    return sendJson(response, 200, JSON.stringify(context.stats));
  }
  sendJson(response, 404, JSON.stringify({ error: { message: `Unknown control path ${path}`, type: 'invalid_request_error', param: null, code: null } }));
}

/** Request counters restart; activeStreams is a gauge of what is open now, so it stays. */
function resetCounters(stats: SimStats): void {
  stats.requests = 0;
  stats.byPath = {};
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Whatever went wrong, the process stays up: answer 500 if we still can, else drop the connection. */
function failSafely(response: ServerResponse, error: unknown): void {
  const message = `simulator internal error: ${error instanceof Error ? error.message : String(error)}`;
  if (!response.headersSent) sendJson(response, 500, JSON.stringify({ error: { message, type: 'server_error', param: null, code: null } }));
  else response.destroy();
}
