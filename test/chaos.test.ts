import { describe, expect, it } from 'vitest';
import { runScript } from './processes.js';

/**
 * The chaos run, short and fixed (CI runs it on every change): mixed official-client load,
 * random stops, pauses, approvals, aborts, every sim fault, and the gateway SIGKILLed every
 * few seconds; then the ledger is checked against what the clients saw. Its tally is printed.
 */
describe('chaos', () => {
  it('loses nothing, charges nothing twice, leaves no reservation, overshoots no budget', async () => {
    const chaos = runScript('scripts/chaos.ts', ['--seconds', process.env.INTIME_CHAOS_SECONDS ?? '45', '--seed', '7']);
    const code = await chaos.exited;
    process.stdout.write(`\n${chaos.stdout()}`);
    expect(chaos.stderr()).not.toMatch(/Error/);
    expect(code).toBe(0);
    expect(chaos.stdout()).toMatch(/invariant violations: 0/);
    expect(Number(/gateway SIGKILLs (\d+)/.exec(chaos.stdout())?.[1])).toBeGreaterThanOrEqual(5);
    expect(Number(/(\d+) completed at the client/.exec(chaos.stdout())?.[1])).toBeGreaterThan(200);
  }, 180_000);
});
