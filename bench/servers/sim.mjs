/**
 * Child process: the simulated provider alone, on loopback (the parent learns the port over IPC).
 * With `--report-closes` it also reports each request it saw end unfinished (the gateway closed
 * the socket) as { type: 'sim-closed', at }, `at` in epoch ms (performance.timeOrigin + now),
 * so that a parent process can time upstream closes without hosting the sim's work itself.
 * Runs the built package (dist/); with BENCH_FROM_SOURCE=1 (and tsx loaded) the sources.
 */
const root = process.env.BENCH_FROM_SOURCE === '1' ? '../../src/' : '../../dist/';
const load = (path) => import(new URL(`${root}${path}`, import.meta.url).href);
const { loadConfig } = await load('gateway/config.js');
const { loadPriceTable } = await load('gateway/price-loader.js');
const { startSim } = await load('sim/index.js');

const sim = await startSim({ host: '127.0.0.1', port: 0, priceTable: loadPriceTable(loadConfig(undefined)) });
if (process.argv.includes('--report-closes')) {
  sim.events.on('closed', (event) => {
    if (!event.completed) process.send?.({ type: 'sim-closed', at: performance.timeOrigin + event.at });
  });
  setInterval(() => process.send?.({ type: 'sim-stats', activeStreams: sim.stats().activeStreams }), 5).unref();
}
