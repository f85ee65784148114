import type { IncomingMessage } from 'node:http';
import { GatewayError, invalidRequest } from '../protocols/errors.js';
import type { Identity, LedgerStore } from '../stores/ledger.js';
import { headerValue } from './http.js';
import { hashToken } from './secrets.js';

/** The token an agent presents as its provider API key: OpenAI's Bearer or Anthropic's x-api-key. */
export function presentedToken(request: IncomingMessage): string | undefined {
  const authorization = headerValue(request, 'authorization');
  if (authorization?.startsWith('Bearer ')) return authorization.slice(7).trim();
  return headerValue(request, 'x-api-key')?.trim();
}

/**
 * Resolves run tokens and virtual keys to who is calling. Lookups are cached by digest
 * because every model call needs one; the cache is dropped for a run whose state changes.
 */
export class IdentityResolver {
  private readonly cache = new Map<string, Identity>();

  constructor(private readonly ledger: LedgerStore) {}

  async resolve(request: IncomingMessage): Promise<Identity> {
    const token = presentedToken(request);
    if (!token) {
      throw new GatewayError('invalid_api_key', 'authentication',
        'no API key: use the run token or virtual key InTime issued as your provider API key', { retryable: false });
    }
    const digest = hashToken(token);
    let identity = this.cache.get(digest);
    if (!identity) {
      identity = await this.ledger.findIdentity(digest);
      if (!identity) {
        throw new GatewayError('invalid_api_key', 'authentication', 'the API key is not a valid InTime run token or virtual key', { retryable: false });
      }
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(digest, identity);
    }
    if (identity.kind === 'key' && identity.key.revokedAt !== null) {
      throw new GatewayError('invalid_api_key', 'authentication', 'this virtual key has been revoked', { retryable: false });
    }
    return identity;
  }

  forget(predicate: (identity: Identity) => boolean): void {
    for (const [digest, identity] of this.cache) if (predicate(identity)) this.cache.delete(digest);
  }
}

const LABEL = /^[\p{L}\p{N} ._:\/@#=+-]{1,128}$/u;

/** Reads an optional attribution label header, refusing control characters and overlong values. */
export function readLabel(request: IncomingMessage, header: string): string | null {
  const value = headerValue(request, header);
  if (value === undefined || value === '') return null;
  if (!LABEL.test(value)) {
    throw invalidRequest(`header ${header} must be 1-128 letters, digits, spaces or ._:/@#=+-`, header);
  }
  return value;
}
