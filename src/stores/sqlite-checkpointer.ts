import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints off the event loop. A checkpoint copies the WAL's pages into the database
 * file and fsyncs it. SQLite's automatic checkpoint runs inside whichever commit crosses
 * 1000 pages: with a call writing about eight, every ~125th call's response waited for it
 * (several milliseconds on a 2-core VM: the gateway's p99 at concurrency 1, and about a fifth
 * of its throughput under load). Here a worker thread with its own connection runs PASSIVE
 * checkpoints, which never block the writer, shortly after commits; the main connection's
 * automatic checkpoint is off. If the worker cannot run, the automatic one comes back.
 */
export class WalCheckpointer {
  private worker: Worker | undefined;
  private failed = false;
  private running = false;
  private commitsSince = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Checkpoints done and pages copied, for tests and the curious. */
  readonly stats = { checkpoints: 0, pagesCopied: 0, restarts: 0 };

  constructor(
    private readonly path: string,
    private readonly connection: { fallBack: () => void; restart: () => void },
    private readonly onError: (message: string) => void,
    private readonly options = { afterCommits: 1000, afterMs: 1000, restartAboveFrames: 16_384 },
  ) {}

  /** Called after each commit on the main connection: asks for a checkpoint soon, or now if many piled up. */
  noteCommit(): void {
    if (this.failed) return;
    this.commitsSince++;
    if (this.commitsSince >= this.options.afterCommits) this.checkpoint();
    else this.timer ??= setTimeout(() => this.checkpoint(), this.options.afterMs).unref();
  }

  private checkpoint(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || this.failed || this.commitsSince === 0) return;
    this.commitsSince = 0;
    this.running = true;
    this.ensureWorker()?.postMessage('checkpoint');
  }

  private ensureWorker(): Worker | undefined {
    if (this.worker) return this.worker;
    try {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { driver: createRequire(import.meta.url).resolve('better-sqlite3'), path: this.path },
      });
      worker.unref();
      worker.on('message', (result: { log: number; checkpointed: number }) => {
        if (this.worker !== worker) return; // closed meanwhile
        this.running = false;
        this.stats.checkpoints++;
        this.stats.pagesCopied += result.checkpointed;
        // The WAL starts over only when a write finds all of it copied; under writes that never
        // pause, each pass ends a little behind and the WAL would grow for ever. Past 64 MiB the
        // main connection copies the little that is left, so its next write starts it over: a
        // short stall per 64 MiB written, where SQLite's own checkpoint stalled a commit per 4 MiB.
        if (result.log > this.options.restartAboveFrames && !this.failed) {
          try {
            this.connection.restart();
            this.stats.restarts++;
          } catch (error) {
            // The next pass tries again; a write is never failed for a checkpoint.
            this.onError(`WAL catch-up checkpoint failed: ${(error as Error).message}`);
          }
        }
        // Commits that came while it ran are in the WAL still.
        if (this.commitsSince > 0) this.timer ??= setTimeout(() => this.checkpoint(), this.options.afterMs).unref();
      });
      worker.on('error', (error) => this.fail(`WAL checkpoint worker failed: ${error.message}`));
      worker.on('exit', (code) => { if (this.worker === worker) this.fail(`WAL checkpoint worker exited (code ${code})`); });
      this.worker = worker;
      return worker;
    } catch (error) {
      this.fail(`WAL checkpoint worker could not start: ${(error as Error).message}`);
      return undefined;
    }
  }

  private fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.running = false;
    this.worker = undefined;
    clearTimeout(this.timer);
    this.onError(`${message}; SQLite checkpoints on the main thread again`);
    this.connection.fallBack();
  }

  /** Stops the worker; the main connection's close checkpoints what is left. */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    const worker = this.worker;
    this.worker = undefined;
    this.failed = true;
    if (worker) await worker.terminate();
  }
}

// Plain CommonJS, so the worker runs the same under tsx, vitest and the built package.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
parentPort.on('message', () => {
  const [result] = db.pragma('wal_checkpoint(PASSIVE)');
  parentPort.postMessage({ log: result.log, checkpointed: result.checkpointed });
});
`;
