import type { OutputFault } from './directives.js';
import type { JsonValue } from './json-schema-sample.js';
import { asciiJson } from './token-pieces.js';

/**
 * The structured document a simulated model writes, with x-sim-output's silent failure
 * applied. Each mimics what field reports describe: the provider answers 200 and bills
 * every token, and only a contract notices.
 * `truncated` is applied by the planner (it cuts tokens and reports finish "length").
 */
export function documentText(value: JsonValue, fault: OutputFault | undefined): string {
  switch (fault) {
    case 'empty-object':
      return '{}';
    case 'wrong-values':
      return asciiJson(wrongValues(value));
    case 'malformed': {
      // A stray comma before the closing bracket: looks like JSON, is not.
      const text = asciiJson(value);
      return text.length < 2 ? `${text},` : `${text.slice(0, -1)},${text.slice(-1)}`;
    }
    default:
      return asciiJson(value);
  }
}

/**
 * Same shape, wrong facts: every number moves by one and every boolean flips, so a
 * schema still passes. A document with neither gets its strings reversed.
 */
export function wrongValues(value: JsonValue): JsonValue {
  let changed = false;
  const shift = (node: JsonValue): JsonValue => {
    if (typeof node === 'number') {
      changed = true;
      return node + 1;
    }
    if (typeof node === 'boolean') {
      changed = true;
      return !node;
    }
    if (Array.isArray(node)) return node.map(shift);
    if (node !== null && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([key, item]) => [key, shift(item)]));
    return node;
  };
  const shifted = shift(value);
  if (changed) return shifted;
  const reverse = (node: JsonValue): JsonValue => {
    if (typeof node === 'string') return [...node].reverse().join('');
    if (Array.isArray(node)) return node.map(reverse);
    if (node !== null && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([key, item]) => [key, reverse(item)]));
    return node;
  };
  return reverse(value);
}
