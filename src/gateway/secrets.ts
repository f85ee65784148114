import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Secrets are stored and compared only as SHA-256 digests; the plain token is shown once. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function newToken(prefix: 'it_run' | 'it_key' | 'it_admin'): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
}

/** Compares a presented token with a known one in time that does not depend on where they differ. */
export function tokensMatch(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Shows which token was meant without revealing it: the prefix and the last four characters. */
export function maskToken(token: string): string {
  return token.length <= 12 ? '****' : `${token.slice(0, token.indexOf('_', 3) + 1)}…${token.slice(-4)}`;
}
