/** Child process: the simulated provider alone, on loopback (the parent learns the port over IPC). */
import { loadConfig } from '../../src/gateway/config.js';
import { loadPriceTable } from '../../src/gateway/price-loader.js';
import { startSim } from '../../src/sim/index.js';

await startSim({ host: '127.0.0.1', port: 0, priceTable: loadPriceTable(loadConfig(undefined)) });
