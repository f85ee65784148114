/**
 * Child process: the least a Node gateway can do. Every request is forwarded to the upstream
 * (argv[2]) with undici and its answer piped back, with no parsing, metering or ledger:
 * the floor that any proxy written in Node pays on this machine. Plain .mjs, no tsx.
 */
import { createServer } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Agent } from 'undici';

const upstream = process.argv[2];
if (!upstream) throw new Error('usage: bare-proxy.mjs <upstreamUrl>');
const dispatcher = new Agent({ connections: 512, keepAliveTimeout: 30_000 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'content-length']);

createServer(async (request, response) => {
  try {
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    const headers = {};
    for (const [name, value] of Object.entries(request.headers)) if (!HOP.has(name) && value !== undefined) headers[name] = value;
    const answer = await dispatcher.request({ origin: upstream, path: request.url, method: request.method, headers, body: Buffer.concat(chunks) });
    const out = {};
    for (const [name, value] of Object.entries(answer.headers)) if (!HOP.has(name) && value !== undefined) out[name] = value;
    response.writeHead(answer.statusCode, out);
    await pipeline(answer.body, response);
  } catch (error) {
    if (!response.headersSent) response.writeHead(502).end(String(error));
    else response.destroy();
  }
}).listen(0);
