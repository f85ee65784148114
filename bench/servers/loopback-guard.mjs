/**
 * Preloaded (`node --import`) into every server the benchmark starts, Portkey included:
 *  - every listening socket is bound to 127.0.0.1, whatever host the server asked for
 *    (Portkey's @hono/node-server `serve({fetch, port})` passes no hostname, i.e. all interfaces);
 *  - outbound TCP/TLS connections to anything but loopback are refused (and counted);
 *  - the parent learns the bound address over IPC, and the process exits when the parent goes.
 * Plain .mjs so Portkey runs under plain node, without the tsx loader.
 */
import net from 'node:net';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '::ffff:127.0.0.1']);
let blocked = 0;

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function guardedListen(...args) {
  const first = args[0];
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback])
    if (typeof args[1] === 'string' || args[1] === undefined || args[1] === null) args[1] = '127.0.0.1';
    else args.splice(1, 0, '127.0.0.1');
  } else if (first !== null && typeof first === 'object' && !('_handle' in first) && !('fd' in first) && typeof first.path !== 'string') {
    args[0] = { ...first, host: '127.0.0.1' };
  }
  this.once('listening', () => {
    const address = this.address();
    if (address && typeof address === 'object' && process.send) {
      process.send({ type: 'listening', address: address.address, port: address.port });
    }
  });
  return listen.apply(this, args);
};

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(...args) {
  // net.connect() hands over its normalized [options, callback] array; direct calls pass
  // (options[, cb]) or (port[, host][, cb]).
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  let host;
  let ipc = false;
  if (first !== null && typeof first === 'object') {
    ipc = typeof first.path === 'string';
    host = first.host;
  } else if (typeof first === 'number' || typeof first === 'string') {
    ipc = typeof first === 'string' && !/^\d+$/.test(first);
    host = typeof args[1] === 'string' ? args[1] : undefined;
  }
  if (!ipc && host !== undefined && !LOOPBACK.has(String(host).toLowerCase())) {
    blocked += 1;
    process.stderr.write(`[loopback-guard] refused outbound connection to ${host}\n`);
    process.send?.({ type: 'blocked', host: String(host), count: blocked });
    process.nextTick(() => this.destroy(new Error(`loopback-guard: ${host} is not loopback`)));
    return this;
  }
  return connect.apply(this, args);
};

if (process.send) {
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message) => {
    if (message && message.type === 'exit') process.exit(0);
  });
}
process.on('SIGTERM', () => process.exit(0));
