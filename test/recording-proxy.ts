import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One upstream exchange as the proxy saw it: the bytes the upstream sent back. */
export interface Recorded {
  path: string;
  status: number;
  body: Buffer;
  done: Promise<void>;
}

/**
 * A byte-recording HTTP proxy to put between the gateway and the simulator: it passes
 * every chunk on as it arrives (streams stay streams) and keeps a copy, so a test can
 * compare what the agent received with what the upstream sent, byte for byte.
 */
export interface RecordingProxy {
  url: string;
  /** Set once the upstream is known (the stack starts the simulator). */
  target: string;
  exchanges: Recorded[];
  close(): Promise<void>;
}

export async function startRecordingProxy(): Promise<RecordingProxy> {
  const proxy: RecordingProxy = { url: '', target: '', exchanges: [], close: async () => undefined };
  const server: Server = createServer((incoming, outgoing) => {
    const target = new URL(incoming.url ?? '/', proxy.target);
    const forward = httpRequest(target, { method: incoming.method, headers: { ...incoming.headers, host: target.host } }, (upstream) => {
      const chunks: Buffer[] = [];
      let finish: () => void = () => undefined;
      const exchange: Recorded = { path: target.pathname, status: upstream.statusCode ?? 0, body: Buffer.alloc(0), done: new Promise((resolve) => (finish = resolve)) };
      proxy.exchanges.push(exchange);
      outgoing.writeHead(upstream.statusCode ?? 502, upstream.headers);
      upstream.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        outgoing.write(chunk);
      });
      upstream.on('end', () => {
        exchange.body = Buffer.concat(chunks);
        outgoing.end();
        finish();
      });
      upstream.on('error', () => outgoing.destroy());
    });
    forward.on('error', () => outgoing.destroy());
    outgoing.on('close', () => forward.destroy());
    incoming.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}

/** A fetch for the official clients that keeps a live copy of every response body as the client reads it. */
export function recordingFetch(): { fetch: typeof fetch; received: string[] } {
  const received: string[] = [];
  const recording: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (!response.body) return response;
    const index = received.push('') - 1;
    const decoder = new TextDecoder();
    const copy = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        received[index] += decoder.decode(chunk, { stream: true });
        controller.enqueue(chunk);
      },
    });
    return new Response(response.body.pipeThrough(copy), { status: response.status, statusText: response.statusText, headers: response.headers });
  };
  return { fetch: recording, received };
}
