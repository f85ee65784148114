/** Child process: an idle HTTP server, to measure what running under the tsx loader costs in RSS. */
import { createServer } from 'node:http';

createServer((request, response) => response.end()).listen(0, '127.0.0.1');
