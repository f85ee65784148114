import { countTextTokens } from '../core/tokenizer.js';
import { SeededRandom } from './seeded-random.js';

/**
 * The simulator's output text is built from words that are each exactly one token, so
 * that re-tokenizing the whole output gives back exactly the number of tokens streamed.
 * That holds because the tokenizer (o200k_base) first splits text at word boundaries:
 * a word with its leading space, or a run of punctuation, never merges with its
 * neighbours. Words are lowercase letters only (no digits, no apostrophes), which keeps
 * every boundary clean. Candidates that are not single tokens are dropped at load.
 */
const WORDS = (
  'time clock budget agent model token stream cost price meter limit run step call tool ' +
  'task plan work value data result answer system process world people state group ' +
  'number point part place case week company program question government night word ' +
  'family fact month lot right study book eye job business issue side kind head house ' +
  'service friend power hour game line end member law car city community name team ' +
  'minute idea body information level office door health person art war history party ' +
  'the a an and of to in for on with at by from as into over under after before ' +
  'is are was be has have will can should would could may must does did ' +
  'quick slow bright careful simple clear small large early late long short new old ' +
  'good great high low open full real best free sure ready common public final ' +
  'also then now here there still just only very often always never again soon ' +
  'make take give keep show find tell ask use move send hold stop start wait check ' +
  'count measure spend save build test write read learn follow report'
).split(' ');

const SENTENCE_STARTERS = ['The', 'This', 'Each', 'Every', 'Our', 'A', 'One', 'Some', 'Most', 'When'];

function singleTokens(candidates: string[]): string[] {
  return [...new Set(candidates)].filter((candidate) => countTextTokens(candidate) === 1);
}

/** Mid-sentence words, each with its leading space. */
export const SPACED_WORDS: readonly string[] = singleTokens(WORDS.map((word) => ` ${word}`));
/** Capitalized words that open a sentence after a full stop. */
const SPACED_STARTERS: readonly string[] = singleTokens(SENTENCE_STARTERS.map((word) => ` ${word}`));
/** Capitalized words that open the whole text, without a leading space. */
const OPENING_STARTERS: readonly string[] = singleTokens(SENTENCE_STARTERS);
const FULL_STOP = '.';

/**
 * Deterministic prose of exactly `count` one-token pieces: sentences of 5 to 14 tokens,
 * each ending with a full stop.
 */
export function proseTokens(seed: number, count: number): string[] {
  const random = new SeededRandom(seed);
  const pieces: string[] = new Array<string>(count);
  let sentenceLeft = random.integer(5, 14);
  let sentenceOpen = true;
  for (let index = 0; index < count; index++) {
    if (sentenceLeft === 0) {
      pieces[index] = FULL_STOP;
      sentenceLeft = random.integer(5, 14);
      sentenceOpen = true;
      continue;
    }
    if (sentenceOpen) pieces[index] = random.pick(index === 0 ? OPENING_STARTERS : SPACED_STARTERS);
    else pieces[index] = random.pick(SPACED_WORDS);
    sentenceOpen = false;
    sentenceLeft--;
  }
  return pieces;
}

/** A few plain words, for strings inside generated JSON. */
export function plainWords(random: SeededRandom, count: number): string {
  const words: string[] = [];
  for (let index = 0; index < count; index++) words.push(random.pick(SPACED_WORDS).slice(1));
  return words.join(' ');
}
