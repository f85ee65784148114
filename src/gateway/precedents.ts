import { Bm25Index } from '../core/bm25.js';
import { selectWithinCap, type Injection, type RankedPrecedent, type RetrievalOptions } from '../core/precedent-retrieval.js';
import { mergeKeyOf, mergeObservation, normalizeWhat, sanitizeObservation, type FixSource, type Precedent, type PrecedentObservation } from '../core/precedents.js';
import { countTextTokens } from '../core/tokenizer.js';
import type { PrecedentStore } from '../stores/precedents.js';
import type { PrecedentsConfig } from './config.js';
import type { Logger } from './log.js';
import { newId } from './secrets.js';

/** Where a call stands, for retrieval: its step, its pipeline (run name), its project, its task. */
export interface RetrievalQuery {
  stage: string;
  pipeline: string | null;
  project: string | null;
  taskText: string;
}

/** What a settled call leaves for a verdict that may come later (the library's checks). */
interface RecentCall {
  taskText: string;
  output: string;
  step: string | null;
}

const RECENT_CALLS = 2000;
/** How often a replica on a shared ledger picks up the precedents other replicas wrote. */
const SHARED_REFRESH_MS = 2000;
/** Looked back past the last refresh, for writes that committed late or on a clock a bit behind. */
const SHARED_REFRESH_OVERLAP_MS = 5000;

/**
 * Precedents in the gateway: the store, an in-memory BM25 index per stage (loaded once,
 * kept in step with every write), recording from failures, and retrieval for injection.
 */
export class PrecedentService {
  private readonly byId = new Map<string, Precedent>();
  /** One index per stage; stage-less precedents (budget, stop, approval) under "". */
  private readonly indexes = new Map<string, Bm25Index>();
  private readonly recent = new Map<string, RecentCall>();
  private loading: Promise<void> | undefined;
  /** Writes are serialized: two failures of the same kind at once must merge, not both insert. */
  private writes: Promise<unknown> = Promise.resolve();
  private refreshedAt = Date.now();
  private refreshing: Promise<void> | undefined;

  constructor(readonly store: PrecedentStore, readonly config: PrecedentsConfig, private readonly log: Logger) {}

  /** Whether a call at this step gets precedents: its header first, then the configuration. */
  injectionWanted(step: string | null, header: string | undefined): boolean {
    if (step === null) return false;
    if (header === 'off') return false;
    if (header === 'on') return true;
    const inject = this.config.inject;
    return inject === true || (Array.isArray(inject) && inject.includes(step));
  }

  retrievalOptions(): RetrievalOptions {
    return { maxTokens: this.config.maxTokens, minRelevance: this.config.minRelevance, limit: this.config.limit, minScoreShare: this.config.minScoreShare };
  }

  /** The precedents for a call, best first, within the token cap. */
  async retrieve(query: RetrievalQuery, options: RetrievalOptions = this.retrievalOptions()): Promise<Injection> {
    await this.ensureLoaded();
    this.refreshShared();
    await this.writes;
    return selectWithinCap(this.rank(query), options, countTextTokens);
  }

  /** Every candidate with its BM25 score and relevance, best score first (no threshold, no cap). */
  rank(query: RetrievalQuery): RankedPrecedent[] {
    const ranked: RankedPrecedent[] = [];
    const text = `${query.stage} ${query.pipeline ?? ''} ${query.taskText}`;
    for (const key of new Set([query.stage, ''])) {
      const index = this.indexes.get(key);
      if (!index) continue;
      for (const match of index.search(text)) {
        const precedent = this.byId.get(match.id)!;
        if (precedent.project !== null && precedent.project !== query.project) continue;
        ranked.push({ precedent, score: match.score, relevance: match.relevance });
      }
    }
    ranked.sort((a, b) => b.score - a.score || b.relevance - a.relevance || b.precedent.count - a.precedent.count);
    // The same failure seen on two models (or as a violation and as the halt it caused) is said once.
    const said = new Set<string>();
    return ranked.filter(({ precedent }) => {
      const what = normalizeWhat(precedent.what.replace(/^the stage was halted: /, ''));
      if (said.has(what)) return false;
      said.add(what);
      return true;
    });
  }

  /** A settled call's task and output, kept a while for a verdict that arrives after it. */
  remember(callId: string, call: RecentCall): void {
    // Bounded: a signature keeps far less than this, and 2,000 of them stay a few megabytes.
    this.recent.set(callId, { ...call, taskText: call.taskText.slice(0, 4000) });
    if (this.recent.size > RECENT_CALLS) this.recent.delete(this.recent.keys().next().value!);
  }

  /** What the model wrote, for the evidence of a failure (ignored for calls not remembered). */
  noteOutput(callId: string, output: string): void {
    const recent = this.recent.get(callId);
    if (recent && output !== '') recent.output = output.slice(0, 4000);
  }

  /** Resolves once every write queued so far is done: what a retrieval or a listing must see. */
  async settled(): Promise<void> {
    await this.writes;
  }

  recentCall(callId: string): RecentCall | undefined {
    return this.recent.get(callId);
  }

  /** Records a failure: merged into the precedent it repeats, or a new one. */
  async observe(observation: PrecedentObservation, injectedIds: readonly string[] = []): Promise<Precedent | undefined> {
    if (!this.config.record) return undefined;
    return this.serialized(async () => {
      await this.ensureLoaded();
      const clean = sanitizeObservation(observation);
      const key = mergeKeyOf(clean.kind, clean.where, clean.what);
      const mergeAndSave = async () => {
        const merged = mergeObservation(await this.store.findByMergeKey(key), observation, () => newId('prec'));
        await this.store.save(merged);
        return merged;
      };
      // Another replica may have recorded the same failure between our read and our write
      // (its precedent then holds the merge key): read again and merge into it.
      const merged = await mergeAndSave().catch(mergeAndSave);
      await this.store.addOccurrence({
        precedentId: merged.id, callId: observation.callId, runId: observation.runId, at: observation.at, injected: injectedIds.includes(merged.id),
      });
      this.index(merged);
      return merged;
    });
  }

  /** A call that passed after failing: what made it pass becomes the fix of the failure's precedent. */
  async creditFix(failedCallIds: string[], passingCallId: string, source: Exclude<FixSource, 'operator'>, fix: string, stillPassing: () => Promise<boolean>): Promise<void> {
    await this.serialized(async () => {
      // The library's checks may have overturned the pass since it was seen: then it fixed nothing.
      if (!(await stillPassing())) return;
      for (const callId of failedCallIds) {
        for (const id of await this.store.precedentsOfCall(callId)) {
          const precedent = await this.store.get(id);
          if (!precedent || precedent.fixSource === 'operator') continue;
          const updated = { ...precedent, fix, fixSource: source };
          await this.store.save(updated, passingCallId);
          this.index(updated);
        }
      }
    });
  }

  /** A pass that was overturned (the library's checks failed it): the fix it gave is withdrawn. */
  async withdrawFix(callId: string): Promise<void> {
    await this.serialized(async () => {
      for (const id of await this.store.clearFixFromCall(callId)) {
        const precedent = await this.store.get(id);
        if (precedent) this.index(precedent);
      }
    });
  }

  /** Writes a whole precedent (an edit, a retirement, an import) and re-indexes it. */
  async put(precedent: Precedent): Promise<void> {
    await this.serialized(async () => {
      await this.ensureLoaded();
      await this.store.save(precedent);
      this.index(precedent);
    });
  }

  private index(precedent: Precedent): void {
    const previous = this.byId.get(precedent.id);
    if (previous) this.indexes.get(previous.where.stage ?? '')?.remove(previous.id);
    if (precedent.retired) {
      this.byId.delete(precedent.id);
      return;
    }
    this.byId.set(precedent.id, precedent);
    const key = precedent.where.stage ?? '';
    let index = this.indexes.get(key);
    if (!index) this.indexes.set(key, (index = new Bm25Index()));
    index.add(precedent.id, searchableText(precedent));
  }

  /**
   * Replicas on one ledger: what the others recorded, edited or retired joins this index
   * within a couple of seconds. Never on the call's path: the retrieval that triggers it
   * does not wait for it.
   */
  private refreshShared(): void {
    const changedSince = this.store.changedSince?.bind(this.store);
    if (!changedSince || this.refreshing || Date.now() - this.refreshedAt < SHARED_REFRESH_MS) return;
    const startedAt = Date.now();
    this.refreshing = changedSince(this.refreshedAt - SHARED_REFRESH_OVERLAP_MS)
      .then((changed) => this.serialized(async () => {
        for (const precedent of changed) this.index(precedent);
        this.refreshedAt = startedAt;
      }))
      .catch((error: Error) => this.log.warn('precedent refresh failed', { error: error.message }))
      .finally(() => { this.refreshing = undefined; });
  }

  private ensureLoaded(): Promise<void> {
    this.loading ??= this.store.active().then((precedents) => {
      for (const precedent of precedents) if (!this.byId.has(precedent.id)) this.index(precedent);
    });
    return this.loading;
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.writes.then(work, work);
    this.writes = next.catch((error: Error) => this.log.error('precedent write failed', { error: error.message }));
    return next;
  }
}

/** What retrieval matches a task against: the failure, its evidence, the task it happened on, its fix. */
export function searchableText(precedent: Precedent): string {
  const { pipeline, contract, tool } = precedent.where;
  return [precedent.what, precedent.evidence, precedent.signature, precedent.fix ?? '', pipeline ?? '', contract ?? '', tool ?? ''].join('\n');
}
