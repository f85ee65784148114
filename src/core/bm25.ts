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
  /** Query terms the document contains. */
  matched: string[];
}

interface IndexedDocument {
  terms: Map<string, number>;
  length: number;
}

const K1 = 1.2;
const B = 0.75;
/** A prompt's distinct terms beyond this add little and cost time: the rest are ignored. */
const MAX_QUERY_TERMS = 2000;
/** Only this many of the best raw scores get their relevance computed. */
const RERANK_POOL = 64;

export class Bm25Index {
  private readonly documents = new Map<string, IndexedDocument>();
  private readonly postings = new Map<string, Map<string, number>>();
  private totalLength = 0;

  get size(): number {
    return this.documents.size;
  }

  add(id: string, text: string): void {
    if (this.documents.has(id)) this.remove(id);
    const terms = new Map<string, number>();
    let length = 0;
    for (const term of searchTerms(text)) {
      terms.set(term, (terms.get(term) ?? 0) + 1);
      length++;
    }
    this.documents.set(id, { terms, length });
    this.totalLength += length;
    for (const [term, frequency] of terms) {
      let posting = this.postings.get(term);
      if (!posting) this.postings.set(term, (posting = new Map()));
      posting.set(id, frequency);
    }
  }

  remove(id: string): void {
    const document = this.documents.get(id);
    if (!document) return;
    this.documents.delete(id);
    this.totalLength -= document.length;
    for (const term of document.terms.keys()) {
      const posting = this.postings.get(term)!;
      posting.delete(id);
      if (posting.size === 0) this.postings.delete(term);
    }
  }

  /** Documents sharing a term with the query, best first; those under minRelevance left out. */
  search(query: string, options: { minRelevance?: number; limit?: number } = {}): Bm25Match[] {
    const minRelevance = options.minRelevance ?? 0;
    const queryTerms = [...new Set(searchTerms(query))].slice(0, MAX_QUERY_TERMS);
    const scores = new Map<string, { score: number; matched: string[] }>();
    for (const term of queryTerms) {
      const posting = this.postings.get(term);
      if (!posting) continue;
      const idf = this.idf(posting.size);
      for (const [id, frequency] of posting) {
        const entry = scores.get(id) ?? { score: 0, matched: [] };
        entry.score += idf * this.saturation(frequency, this.documents.get(id)!.length);
        entry.matched.push(term);
        scores.set(id, entry);
      }
    }
    const pool = [...scores].sort((a, b) => b[1].score - a[1].score || (a[0] < b[0] ? -1 : 1)).slice(0, RERANK_POOL);
    const matches: Bm25Match[] = [];
    for (const [id, { score, matched }] of pool) {
      const self = this.selfScore(id);
      const relevance = self === 0 ? 0 : Math.min(1, score / self);
      if (relevance >= minRelevance) matches.push({ id, score, relevance, matched });
    }
    return matches.slice(0, options.limit ?? matches.length);
  }

  private idf(documentFrequency: number): number {
    const n = this.documents.size;
    return Math.log(1 + (n - documentFrequency + 0.5) / (documentFrequency + 0.5));
  }

  private saturation(frequency: number, length: number): number {
    const average = this.totalLength / Math.max(1, this.documents.size);
    return (frequency * (K1 + 1)) / (frequency + K1 * (1 - B + (B * length) / Math.max(1, average)));
  }

  private selfScore(id: string): number {
    const document = this.documents.get(id)!;
    let score = 0;
    for (const [term, frequency] of document.terms) {
      score += this.idf(this.postings.get(term)!.size) * this.saturation(frequency, document.length);
    }
    return score;
  }
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
