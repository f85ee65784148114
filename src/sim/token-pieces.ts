import { decode, encode } from 'gpt-tokenizer';
import { countTextTokens } from '../core/tokenizer.js';

/**
 * Splits text into pieces of one token each, as a model streams it. The text must be
 * ASCII (see asciiJson): a single token of non-ASCII text can be half a character, and
 * a delta has to be valid UTF-8 on the wire.
 */
export function onePiecePerToken(text: string): string[] {
  return encode(text).map((token) => decode([token]));
}

/**
 * The longest prefix of `pieces`, at most `limit` pieces long, whose concatenation
 * re-tokenizes to exactly its number of pieces. A cut inside a word can in rare cases
 * tokenize differently from the whole, so a cut is moved back until the count agrees:
 * usage must always equal the tokens of what was delivered.
 */
export function truncateToTokens(pieces: string[], limit: number): string[] {
  if (pieces.length <= limit) return pieces;
  for (let length = limit; length > 0; length--) {
    const prefix = pieces.slice(0, length);
    if (countTextTokens(prefix.join('')) === length) return prefix;
  }
  return [];
}

/** JSON text with every non-ASCII character escaped: the same value, ASCII on the wire. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
