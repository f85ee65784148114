import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { PrecedentObservation } from '../src/core/precedents.js';
import { defaultConfig } from '../src/gateway/config.js';
import { createLogger } from '../src/gateway/log.js';
import { PrecedentService } from '../src/gateway/precedents.js';
import { PgLedger } from '../src/stores/pg-ledger.js';
import { PgPrecedentStore } from '../src/stores/pg-precedents.js';

const PG_URL = process.env.INTIME_TEST_PG_URL;
if (!PG_URL) console.warn('[precedents-shared] INTIME_TEST_PG_URL is not set: skipped');

const schema = `intime_test_${randomUUID().replaceAll('-', '')}`;
let ledger: PgLedger | undefined;
afterAll(async () => {
  await ledger?.close();
  if (!PG_URL) return;
  const client = new pg.Client(PG_URL);
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

const failure = (callId: string, at: number): PrecedentObservation => ({
  kind: 'contract_violation', where: { pipeline: 'invoices', stage: 'extract', model: 'gpt-4o-mini', tool: null, contract: 'invoice@1' },
  what: 'total must be integer', evidence: '{"total":"x"}', taskText: 'extract the invoice', features: {}, fix: null, fixSource: null,
  project: null, runId: 'r1', callId, at, createdBy: 'gateway',
});

describe.skipIf(!PG_URL)('precedents on a ledger shared by replicas', () => {
  it('two replicas recording the same failure at once end with one precedent that counts both', async () => {
    ledger = await PgLedger.open(`${PG_URL}?schema=${schema}`);
    const config = defaultConfig().precedents;
    const log = createLogger('silent');
    const onA = new PrecedentService(new PgPrecedentStore(ledger.pool), config, log);
    // B read the merge key just before A wrote it: its first lookup finds nothing.
    const storeB = new PgPrecedentStore(ledger.pool);
    let stale = true;
    const lookup = storeB.findByMergeKey.bind(storeB);
    storeB.findByMergeKey = async (key) => (stale ? ((stale = false), undefined) : lookup(key));
    const onB = new PrecedentService(storeB, config, log);

    const first = await onA.observe(failure('c1', 1000));
    const second = await onB.observe(failure('c2', 2000));
    expect(second!.id).toBe(first!.id);
    const all = await onA.store.list({ includeRetired: true });
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ count: 2, firstSeen: 1000, lastSeen: 2000, lastCallId: 'c2' });
    expect((await onA.store.occurrences(first!.id)).map((o) => o.callId)).toEqual(['c1', 'c2']);
  });
});
