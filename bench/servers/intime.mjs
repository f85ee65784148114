/**
 * Child process: the InTime gateway alone, every provider pointed at the sim in another process.
 * argv: <simUrl> <dataDir>; INTIME_ADMIN_TOKEN carries the admin token. Runs the built package
 * (dist/), as `intime serve` does; with BENCH_FROM_SOURCE=1 (and tsx loaded) the sources.
 */
const root = process.env.BENCH_FROM_SOURCE === '1' ? '../../src/' : '../../dist/';
const { startGateway } = await import(new URL(`${root}gateway/gateway.js`, import.meta.url).href);
const { createLogger } = await import(new URL(`${root}gateway/log.js`, import.meta.url).href);

const [simUrl, dataDir] = process.argv.slice(2);
if (!simUrl || !dataDir) throw new Error('usage: intime.mjs <simUrl> <dataDir>');
await startGateway({
  host: '127.0.0.1',
  port: 0,
  dataDir,
  simUrl,
  adminToken: process.env.INTIME_ADMIN_TOKEN,
  log: createLogger('error'), // only failures, which the bench prints if it breaks
});
