import { pitfallsBlock, pitfallText, type Precedent } from './precedents.js';

export interface RetrievalOptions {
  /** Most tokens the injected block may add to the prompt (header included). */
  maxTokens: number;
  /** Least share of a precedent's own BM25 weight the task must cover (0 to 1). */
  minRelevance: number;
  /** Most precedents injected into one call. */
  limit: number;
  /**
   * Least share of the best match's BM25 score a further precedent needs: the runners-up
   * that merely share the task's common words stay out. 0 turns it off.
   */
  minScoreShare: number;
}

export const DEFAULT_RETRIEVAL: RetrievalOptions = { maxTokens: 300, minRelevance: 0.2, limit: 3, minScoreShare: 0.5 };

export interface RankedPrecedent {
  precedent: Precedent;
  score: number;
  relevance: number;
}

export interface InjectedPrecedent {
  id: string;
  /** This precedent's share of the block's tokens (its line, and part of the header). */
  tokens: number;
  relevance: number;
}

export interface Injection {
  /** The block added to the instructions; empty when nothing qualified. */
  text: string;
  /** Tokens of the whole block, as the tokenizer counts them: the sum of the parts' tokens. */
  tokens: number;
  precedents: InjectedPrecedent[];
}

/**
 * The ranked precedents (best BM25 score first) that qualify and fit: relevant enough, close
 * enough to the best match, and each added only if the block stays within
 * the token cap (one too long is skipped, a shorter one after it may still fit).
 */
export function selectWithinCap(ranked: RankedPrecedent[], options: RetrievalOptions, countTokens: (text: string) => number): Injection {
  const chosen: { entry: RankedPrecedent; line: string; tokens: number }[] = [];
  const headerTokens = countTokens(pitfallsBlock([]));
  let total = headerTokens;
  const best = ranked[0]?.score ?? 0;
  for (const entry of ranked) {
    if (chosen.length >= options.limit) break;
    if (entry.relevance < options.minRelevance || entry.score < options.minScoreShare * best) continue;
    const line = pitfallText(entry.precedent);
    const tokens = countTokens(`\n${line}`);
    if (total + tokens > options.maxTokens) continue;
    chosen.push({ entry, line, tokens });
    total += tokens;
  }
  if (chosen.length === 0) return { text: '', tokens: 0, precedents: [] };
  const text = pitfallsBlock(chosen.map((item) => item.line));
  const tokens = countTokens(text);
  // The header is paid for by the precedents that needed it: shared out, and the first takes
  // the remainder (and the odd token the whole text counts differently from its parts).
  const share = Math.floor(headerTokens / chosen.length);
  const remainder = tokens - share * chosen.length - chosen.reduce((sum, item) => sum + item.tokens, 0);
  return {
    text,
    tokens,
    precedents: chosen.map((item, index) => ({
      id: item.entry.precedent.id,
      tokens: item.tokens + share + (index === 0 ? remainder : 0),
      relevance: Math.round(item.entry.relevance * 1000) / 1000,
    })),
  };
}
