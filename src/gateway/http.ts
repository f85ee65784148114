import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError, invalidRequest } from '../protocols/errors.js';

/** Reads a request body up to a limit; a larger one is refused before it is buffered. */
export async function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

function tooLarge(limit: number): GatewayError {
  return new GatewayError('request_too_large', 'too_large', `request body exceeds ${limit} bytes`, { retryable: false });
}

/** Parses a JSON object body, refusing anything else with a clear error. */
/**
 * Deeper than any request of these APIs needs (content parts and tool schemas nest a few
 * dozen levels at most), shallow enough that every recursive walk over the body is safe.
 */
export const MAX_JSON_DEPTH = 128;

export function parseJsonObject(body: Buffer): Record<string, unknown> {
  let value: unknown;
  const text = body.toString('utf8');
  if (nestingExceeds(text, MAX_JSON_DEPTH)) {
    throw new GatewayError('too_deeply_nested', 'invalid_request', `the request body nests objects or arrays more than ${MAX_JSON_DEPTH} levels deep`);
  }
  try {
    value = JSON.parse(text);
  } catch {
    throw new GatewayError('invalid_json', 'invalid_request', 'the request body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new GatewayError('invalid_json', 'invalid_request', 'the request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  const text = JSON.stringify(body, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(text);
}

/** Headers that describe one connection, not the message; never copied between hops. */
export const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'host', 'content-length', 'content-encoding', 'accept-encoding',
]);

export function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** True when brackets outside JSON strings open deeper than `limit`: one pass, no allocation. */
export function nestingExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 0x5c) i++; // backslash: skip the escaped character
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) {
      inString = true;
    } else if (code === 0x7b || code === 0x5b) {
      if (++depth > limit) return true;
    } else if (code === 0x7d || code === 0x5d) {
      depth--;
    }
  }
  return false;
}

/** An optional ISO date or time query parameter, as epoch ms; a clear 400 when it does not parse. */
export function timeParameter(url: URL, name: string): number | undefined {
  const text = url.searchParams.get(name);
  if (text === null) return undefined;
  const time = Date.parse(text);
  if (Number.isNaN(time)) throw invalidRequest(`${name} must be an ISO date or time`, name);
  return time;
}

/** Resolves on whichever of the events the response emits first (and stops listening for the others). */
export function firstEvent(response: ServerResponse, events: readonly string[]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      for (const event of events) response.off(event, done);
      resolve();
    };
    for (const event of events) response.on(event, done);
  });
}
