/**
 * Okapi BM25 over short documents (precedents), queried with long text (a stage's prompt).
 *
 * Written here rather than taken from a library because retrieval needs a relevance that
 * means the same thing in a corpus of ten precedents and of ten thousand: `relevance` is
 * the share of the document's own BM25 weight that the query covers (0 to 1), so "0.25"
 * reads as "a quarter of what this precedent is about appears in the task". Libraries
 * (minisearch, wink-bm25) return raw scores only, whose scale moves with corpus and query
 * length. Incremental add and remove, no rebuild.
 */
export interface Bm25Match {
  id: string;
  /** Plain BM25: for ranking. */
  score: number;
  /** score / the document's score against itself, in [0, 1]: for the threshold. */
  relevance: number;
}

/** A term's documents (slots) and its frequency in each: parallel arrays, scanned in one loop. */
interface Posting {
  slots: number[];
  frequencies: number[];
}

const K1 = 1.2;
const B = 0.75;
/** A prompt's distinct terms beyond this add little and cost time: the rest are ignored. */
const MAX_QUERY_TERMS = 2000;
/** Only this many of the best raw scores get their relevance computed. */
const RERANK_POOL = 64;

/**
 * Documents live in numbered slots so a search adds scores into one typed array instead of
 * a map per query; a removed document's slot is emptied and reused.
 */
export class Bm25Index {
  private readonly slotOf = new Map<string, number>();
  private ids: (string | undefined)[] = [];
  private lengths: number[] = [];
  private termsOf: (Map<string, number> | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  private readonly postings = new Map<string, Posting>();
  private totalLength = 0;
  private scores = new Float64Array(0);
  /** Per-slot length norms, recomputed after a change (documents come and go far less often than searches). */
  private norms: Float64Array | undefined;

  get size(): number {
    return this.slotOf.size;
  }

  add(id: string, text: string): void {
    if (this.slotOf.has(id)) this.remove(id);
    const terms = new Map<string, number>();
    let length = 0;
    for (const term of searchTerms(text)) {
      terms.set(term, (terms.get(term) ?? 0) + 1);
      length++;
    }
    const slot = this.freeSlots.pop() ?? this.ids.length;
    this.slotOf.set(id, slot);
    this.ids[slot] = id;
    this.lengths[slot] = length;
    this.termsOf[slot] = terms;
    this.totalLength += length;
    this.norms = undefined;
    for (const [term, frequency] of terms) {
      let posting = this.postings.get(term);
      if (!posting) this.postings.set(term, (posting = { slots: [], frequencies: [] }));
      posting.slots.push(slot);
      posting.frequencies.push(frequency);
    }
  }

  remove(id: string): void {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return;
    const terms = this.termsOf[slot]!;
    this.slotOf.delete(id);
    this.totalLength -= this.lengths[slot]!;
    this.norms = undefined;
    for (const term of terms.keys()) {
      const posting = this.postings.get(term)!;
      const at = posting.slots.indexOf(slot);
      posting.slots.splice(at, 1);
      posting.frequencies.splice(at, 1);
      if (posting.slots.length === 0) this.postings.delete(term);
    }
    this.ids[slot] = undefined;
    this.termsOf[slot] = undefined;
    this.lengths[slot] = 0;
    this.freeSlots.push(slot);
  }

  /** Documents sharing a term with the query, best first; those under minRelevance left out. */
  search(query: string, options: { minRelevance?: number; limit?: number } = {}): Bm25Match[] {
    const minRelevance = options.minRelevance ?? 0;
    const slots = this.ids.length;
    if (this.scores.length < slots) this.scores = new Float64Array(Math.max(slots, this.scores.length * 2));
    const scores = this.scores;
    const norms = this.lengthNorms();
    const touched: number[] = [];
    const queryTerms = new Set<string>();
    for (const term of searchTerms(query)) {
      if (queryTerms.size >= MAX_QUERY_TERMS) break;
      queryTerms.add(term);
    }
    for (const term of queryTerms) {
      const posting = this.postings.get(term);
      if (!posting) continue;
      const idf = this.idf(posting.slots.length);
      const { slots: postingSlots, frequencies } = posting;
      for (let index = 0; index < postingSlots.length; index++) {
        const slot = postingSlots[index]!;
        const frequency = frequencies[index]!;
        const score = scores[slot]!;
        if (score === 0) touched.push(slot);
        scores[slot] = score + (idf * frequency * (K1 + 1)) / (frequency + norms[slot]!);
      }
    }
    const pool = bestSlots(touched, scores, RERANK_POOL);
    for (const slot of touched) scores[slot] = 0;
    const matches: Bm25Match[] = [];
    for (const { slot, score } of pool) {
      const self = this.selfScore(slot, norms[slot]!);
      const relevance = self === 0 ? 0 : Math.min(1, score / self);
      if (relevance >= minRelevance) matches.push({ id: this.ids[slot]!, score, relevance });
    }
    return matches.slice(0, options.limit ?? matches.length);
  }

  /** K1 · (1 − B + B · length / average length), per slot: the length part of BM25's denominator. */
  private lengthNorms(): Float64Array {
    if (this.norms) return this.norms;
    const average = this.totalLength / Math.max(1, this.size);
    const norms = new Float64Array(this.ids.length);
    for (let slot = 0; slot < norms.length; slot++) norms[slot] = K1 * (1 - B + (B * this.lengths[slot]!) / Math.max(1, average));
    this.norms = norms;
    return norms;
  }

  private idf(documentFrequency: number): number {
    const n = this.size;
    return Math.log(1 + (n - documentFrequency + 0.5) / (documentFrequency + 0.5));
  }

  private selfScore(slot: number, norm: number): number {
    let score = 0;
    for (const [term, frequency] of this.termsOf[slot]!) {
      score += (this.idf(this.postings.get(term)!.slots.length) * frequency * (K1 + 1)) / (frequency + norm);
    }
    return score;
  }
}

/** The `count` highest-scoring slots, best first (ties by slot, so results are stable). */
function bestSlots(touched: number[], scores: Float64Array, count: number): { slot: number; score: number }[] {
  const best: { slot: number; score: number }[] = [];
  for (const slot of touched) {
    const score = scores[slot]!;
    if (best.length === count && score <= best[best.length - 1]!.score) continue;
    let at = best.length;
    while (at > 0 && best[at - 1]!.score < score) at--;
    best.splice(at, 0, { slot, score });
    if (best.length > count) best.pop();
  }
  return best;
}

/** Words that say nothing about a task or a failure. */
const STOPWORDS = new Set(('a an and are as at be but by can do does for from had has have he her his how i if in into is it its ' +
  'me my no not of on or our she so than that the their them then there these they this to too us was we were what when where ' +
  'which while who will with would you your all any each just only also more most other some such should must may might could').split(' '));

/**
 * Lower-case words of two letters or more, numbers dropped, with a light plural stem
 * ("invoices" and "invoice" are one term). Identifiers split at _ . - / so "line_items"
 * matches "line items".
 */
export function searchTerms(text: string): string[] {
  const terms: string[] = [];
  for (const raw of text.toLowerCase().split(/[^\p{L}\p{N}]+/u)) {
    if (raw.length < 2 || raw.length > 40 || /^\d+$/.test(raw) || STOPWORDS.has(raw)) continue;
    terms.push(stem(raw));
  }
  return terms;
}

function stem(word: string): string {
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.length > 4 && /(?:ss|us|is)$/.test(word)) return word;
  if (word.length > 3 && word.endsWith('s')) return word.slice(0, -1);
  return word;
}
