import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { WalCheckpointer } from '../src/stores/sqlite-checkpointer.js';
import { SqliteLedger } from '../src/stores/sqlite-ledger.js';
import type { CallRecord } from '../src/stores/ledger.js';
import { sleep } from './harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'intime-checkpoint-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(20);
  }
}

function callRecord(i: number): CallRecord {
  return {
    id: `call_${i}`, runId: `run_${i % 7}`, keyId: null, project: null, step: null, agent: null, provider: 'openai', model: 'gpt-4o-mini',
    protocol: 'openai-chat', stream: false, inputTokens: 10, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 16, reasoningTokens: 0,
    cost: 11_100_000n, estimated: false, status: 'ok', httpStatus: 200, errorCode: null, upstreamRequestId: null, startedAt: 1_700_000_000_000 + i,
    latencyMs: 1, timeToFirstTokenMs: null,
  };
}

describe('WAL checkpoints off the event loop', () => {
  it('the ledger never checkpoints on its own connection; a worker copies the WAL into the database', async () => {
    const path = join(scratch, 'ledger.db');
    const ledger = new SqliteLedger(path);
    const db = (ledger as unknown as { database: Database.Database }).database;
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    // 1200 commits of one call each: past the worker's 1000-commit trigger.
    for (let i = 0; i < 1200; i++) await ledger.recordCall(callRecord(i));
    await until(() => (ledger.checkpointer?.stats.checkpoints ?? 0) > 0);
    expect(ledger.checkpointer!.stats.pagesCopied).toBeGreaterThan(0);
    // What the worker copied went into the database file itself (it held only the schema before).
    expect(statSync(path).size).toBeGreaterThan(200 * 1024);
    const totals = await ledger.spend({ by: 'model' });
    expect(totals[0]).toMatchObject({ calls: 1200, cost: 1200n * 11_100_000n });
    await ledger.close();
  });

  it('under writes that never pause, the WAL is started over instead of growing for ever', async () => {
    const path = join(scratch, 'busy.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.pragma(`journal_size_limit = ${1024 * 1024}`);
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT)');
    const checkpointer = new WalCheckpointer(path, {
      fallBack: () => db.pragma('wal_autocheckpoint = 1000'),
      restart: () => db.pragma('wal_checkpoint(PASSIVE)'),
    }, (message) => { throw new Error(message); }, { afterCommits: 20, afterMs: 50, restartAboveFrames: 200 });
    const insert = db.prepare('INSERT INTO t (payload) VALUES (?)');
    const payload = 'x'.repeat(3000); // about a page per row
    let largestWal = 0;
    for (let round = 0; round < 600; round++) {
      db.transaction(() => { for (let i = 0; i < 5; i++) insert.run(payload); })();
      checkpointer.noteCommit();
      largestWal = Math.max(largestWal, statSync(`${path}-wal`).size);
      await sleep(2);
    }
    expect(checkpointer.stats.restarts).toBeGreaterThan(0);
    // About 3600 pages (15 MB) went through the WAL; started over, it never held half of them.
    expect(largestWal).toBeLessThan(7 * 1024 * 1024);
    expect((db.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n).toBe(3000);
    await checkpointer.close();
    db.close();
  });

  it('if the worker cannot run, says so and gives checkpoints back to the main connection', async () => {
    let warned = '';
    let fellBack = false;
    const checkpointer = new WalCheckpointer(join(scratch, 'no-such-dir', 'x.db'), {
      fallBack: () => { fellBack = true; },
      restart: () => undefined,
    }, (message) => { warned = message; }, { afterCommits: 1, afterMs: 10, restartAboveFrames: 100 });
    checkpointer.noteCommit();
    await until(() => fellBack);
    expect(warned).toMatch(/WAL checkpoint worker .*main thread again/);
    checkpointer.noteCommit(); // and stays quiet afterwards
    await checkpointer.close();
  });
});
