import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashToken, newId, newToken, tokensMatch } from './secrets.js';

describe('token comparison', () => {
  it('matches only the same token, whatever the lengths and wherever they differ', () => {
    const token = newToken('it_admin');
    expect(tokensMatch(token, token)).toBe(true);
    expect(tokensMatch(`${token}x`, token)).toBe(false);
    expect(tokensMatch(token.slice(0, -1), token)).toBe(false);
    expect(tokensMatch('', token)).toBe(false);
    expect(tokensMatch(`X${token.slice(1)}`, token)).toBe(false);
    expect(tokensMatch(`${token.slice(0, -1)}X`, token)).toBe(false);
  });

  it('compares fixed-length digests, so its time cannot depend on the position of the first difference', () => {
    // Both sides are hashed to 32 bytes before timingSafeEqual: equal lengths always, no early exit.
    expect(hashToken('a')).toHaveLength(64);
    expect(hashToken('a'.repeat(10_000))).toHaveLength(64);
    expect(hashToken('a')).not.toBe(hashToken('b'));
    // The same digest whichever way Node computes it.
    expect(hashToken('it_run_abc')).toBe(createHash('sha256').update('it_run_abc').digest('hex'));
  });
});

describe('ids', () => {
  it('are unique across many refills of their random pool, and safe in URLs', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 20_000; i++) ids.add(newId('call'));
    expect(ids.size).toBe(20_000);
    for (const id of [...ids].slice(0, 500)) expect(id).toMatch(/^call_[A-Za-z0-9]{12}$/);
  });
});
