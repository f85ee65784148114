import { randomBytes } from 'node:crypto';

/**
 * Unique ids in each provider's style (chatcmpl-…, resp_…, msg_…, toolu_…, req_…).
 * A random per-process tag keeps two simulators apart; a counter keeps ids within one
 * apart without drawing randomness per request.
 */
const PROCESS_TAG = randomBytes(6).toString('hex');
let counter = 0;

export function newId(prefix: string): string {
  counter++;
  return `${prefix}sim${PROCESS_TAG}${counter.toString(36).padStart(7, '0')}`;
}
