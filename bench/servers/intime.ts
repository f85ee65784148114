/**
 * Child process: the InTime gateway alone, every provider pointed at the sim in another process.
 * argv: <simUrl> <dataDir>; INTIME_ADMIN_TOKEN carries the admin token.
 */
import { startGateway } from '../../src/gateway/gateway.js';
import { createLogger } from '../../src/gateway/log.js';

const [simUrl, dataDir] = process.argv.slice(2);
if (!simUrl || !dataDir) throw new Error('usage: intime.ts <simUrl> <dataDir>');
await startGateway({
  host: '127.0.0.1',
  port: 0,
  dataDir,
  simUrl,
  adminToken: process.env.INTIME_ADMIN_TOKEN,
  log: createLogger('error'), // only failures, which the bench prints if it breaks
});
