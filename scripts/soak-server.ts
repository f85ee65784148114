/**
 * Child process of the soak: the gateway alone (the sim and the load live in the parent),
 * reporting its own health over IPC every interval: RSS, heap, event-loop delay, open fds,
 * the runs it holds in memory and the size of the ledger's WAL.
 * Started with --expose-gc so that the heap it reports is the heap retained after a full GC.
 * argv: <simUrl> <dataDir> <intervalMs>; INTIME_ADMIN_TOKEN carries the admin token.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startGateway } from '../src/gateway/gateway.js';
import { createLogger } from '../src/gateway/log.js';

const [simUrl, dataDir, intervalText] = process.argv.slice(2);
if (!simUrl || !dataDir || !intervalText) throw new Error('usage: soak-server.ts <simUrl> <dataDir> <intervalMs>');
const gateway = await startGateway({ host: '127.0.0.1', port: 0, dataDir, simUrl, adminToken: process.env.INTIME_ADMIN_TOKEN, log: createLogger('error') });
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
process.send?.({ type: 'listening', url: gateway.url });
setInterval(() => {
  // Heap after a full collection: what is retained, not where the sawtooth happens to be.
  // (Started with --expose-gc; one full GC per interval is part of the soak's own cost.)
  (globalThis as { gc?: () => void }).gc?.();
  const memory = process.memoryUsage();
  process.send?.({
    type: 'health',
    rssMiB: memory.rss / 2 ** 20,
    heapMiB: memory.heapUsed / 2 ** 20,
    loopDelayP99Ms: delay.percentile(99) / 1e6,
    loopDelayMaxMs: delay.max / 1e6,
    fds: readdirSync('/proc/self/fd').length,
    // Runs held in memory (forgotten once idle) and the WAL's size (checkpointed off the loop).
    trackedRuns: gateway.gateway.budgets.trackedRuns(),
    walMiB: walSize() / 2 ** 20,
  });
  delay.reset();
}, Number(intervalText));
process.on('disconnect', () => process.exit(0));

function walSize(): number {
  try {
    return statSync(join(dataDir!, 'ledger.db-wal')).size;
  } catch {
    return 0;
  }
}
