import type { IncomingMessage, ServerResponse } from 'node:http';
import { SimError } from './errors.js';

/** Small helpers for the simulator's node:http plumbing. */

/** Bodies beyond this are refused, as real providers refuse oversized requests. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** The request body as text; undefined if the client went away while sending it. */
export function readBody(request: IncomingMessage): Promise<string | undefined> {
  // Plain events, not `for await`: the async iterator costs more than the rest of a small request.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        request.removeAllListeners('data');
        request.resume();
        reject(new SimError('too_large', `request body exceeds ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    request.once('end', () => resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    request.once('error', () => resolve(undefined));
    request.once('aborted', () => resolve(undefined));
  });
}

/**
 * Resolves true after `ms`, or false as soon as the client goes away; the timer never
 * outlives the connection.
 */
export function waitUnlessClosed(response: ServerResponse, ms: number): Promise<boolean> {
  if (ms <= 0 || clientGone(response)) return Promise.resolve(!clientGone(response));
  return new Promise((resolve) => {
    const onClose = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      response.off('close', onClose);
      resolve(!clientGone(response));
    }, ms);
    response.once('close', onClose);
  });
}

/** True once the connection is gone (or the response already finished with it). */
export function clientGone(response: ServerResponse): boolean {
  return response.socket?.destroyed ?? true;
}

export function sendJson(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (clientGone(response) || response.headersSent) return;
  response.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}
