import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { PriceTable } from '../../core/prices.js';
import { pricesFor } from '../../core/prices.js';
import { independentEstimator, chooseCascade } from '../../core/routing/cascade.js';
import { decideCascade, type Random, type RoutingDecision } from '../../core/routing/explore.js';
import { betaMean, inputSizeBucket, StatsBook, type Attempt, type CandidateEstimate } from '../../core/routing/stats.js';
import { toUsdNumber } from '../../core/routing/usd.js';
import { invalidRequest } from '../../protocols/errors.js';
import { ConfigError } from '../config.js';

/** Agents ask for `intime/auto:<policy>` as their model; the gateway picks the real one. */
export const AUTO_PREFIX = 'intime/auto:';

export interface RoutingPolicySpec {
  /** The models the router may use, in no particular order: it learns the order. */
  candidates: string[];
  /** The share of answers that must pass the stage's contract (0..1). */
  qualityTarget?: number;
  /** Share of a run's money budget that exploring untried orders may spend (0..1). */
  explorationShare?: number;
}

export interface RoutingPolicy extends Required<RoutingPolicySpec> {
  name: string;
  source: 'config' | 'api';
}

export const DEFAULT_QUALITY_TARGET = 0.9;
export const DEFAULT_EXPLORATION_SHARE = 0.05;
const MAX_CANDIDATES = 8;
/** Output tokens assumed for a model never tried, to estimate its cost before the first observation. */
const ASSUMED_OUTPUT_TOKENS = 512;

/**
 * Routing policies (from the config file, and from the API, kept in a JSON file in the
 * data directory), the statistics learned from each attempt, and each run's exploration
 * spend. One per gateway.
 */
export class RoutingRegistry {
  readonly stats = new StatsBook();
  private readonly policies = new Map<string, RoutingPolicy>();
  private readonly explored = new Map<string, number>();

  constructor(
    configured: Record<string, RoutingPolicySpec>,
    private readonly file: string,
    private readonly prices: PriceTable,
    private readonly random: Random = Math.random,
  ) {
    for (const [name, spec] of Object.entries(configured)) {
      try {
        this.policies.set(name, this.check(name, spec, 'config'));
      } catch (error) {
        throw new ConfigError(`config: ${(error as Error).message}`);
      }
    }
    if (existsSync(file)) {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, RoutingPolicySpec>;
      for (const [name, spec] of Object.entries(saved)) this.policies.set(name, this.check(name, spec, 'api'));
    }
  }

  list(): RoutingPolicy[] {
    return [...this.policies.values()];
  }

  get(name: string): RoutingPolicy | undefined {
    return this.policies.get(name);
  }

  /** Creates or replaces a policy; throws a clear invalid_request on a bad one. */
  put(name: string, spec: unknown): RoutingPolicy {
    const policy = this.check(name, spec as RoutingPolicySpec, 'api');
    this.policies.set(name, policy);
    this.save();
    return policy;
  }

  delete(name: string): boolean {
    const policy = this.policies.get(name);
    if (!policy || policy.source !== 'api') return false;
    this.policies.delete(name);
    this.save();
    return true;
  }

  /** What the router believes about each candidate for a stage and request size. */
  estimates(policy: RoutingPolicy, stage: string, promptTokens: number, maxOutputTokens: number | undefined): CandidateEstimate[] {
    const bucket = inputSizeBucket(promptTokens);
    return policy.candidates.map((model) => this.stats.estimate(stage, model, this.guessCost(model, promptTokens, maxOutputTokens), bucket));
  }

  /** The order for one request: exploit, or explore within the run's exploration allowance. */
  decide(policy: RoutingPolicy, stage: string, promptTokens: number, maxOutputTokens: number | undefined, run: { id: string; budgetUsd: number | null } | undefined): RoutingDecision {
    const estimates = this.estimates(policy, stage, promptTokens, maxOutputTokens);
    // Exploring spends a run's money: only a share of a run's budget, and nothing without one.
    const allowance = run && run.budgetUsd !== null ? run.budgetUsd * policy.explorationShare - (this.explored.get(run.id) ?? 0) : 0;
    const decision = decideCascade(estimates, policy.qualityTarget, { remainingUsd: Math.max(0, allowance) }, this.random);
    if (decision.exploring && run) this.explored.set(run.id, (this.explored.get(run.id) ?? 0) + decision.explorationCostUsd);
    return decision;
  }

  /** The order the router would use now (no exploration), for the API. */
  currentOrder(policy: RoutingPolicy, stage: string) {
    return chooseCascade(policy.candidates, independentEstimator(this.estimates(policy, stage, 1000, undefined)), policy.qualityTarget);
  }

  observe(stage: string, model: string, attempt: Attempt, promptTokens: number): void {
    this.stats.observe(stage, model, attempt, inputSizeBucket(promptTokens));
  }

  revise(stage: string, model: string, from: Attempt['verdict'], to: Attempt['verdict'], promptTokens: number): void {
    this.stats.revise(stage, model, from, to, inputSizeBucket(promptTokens));
  }

  statsView(policy: RoutingPolicy, stage: string) {
    return policy.candidates.map((model) => {
      const stats = this.stats.get(stage, model);
      return {
        model,
        attempts: stats?.attempts ?? 0,
        passed: stats?.passed ?? 0,
        failed: stats?.failed ?? 0,
        passRate: betaMean(stats?.posterior() ?? { alpha: 1, beta: 1 }),
        meanCostUsd: stats?.meanCostUsd ?? null,
        tailCostUsd: stats?.tailCostUsd ?? null,
        meanLatencyMs: stats?.meanLatencyMs ?? null,
      };
    });
  }

  private guessCost(model: string, promptTokens: number, maxOutputTokens: number | undefined): number {
    const price = this.prices.lookup(model);
    if (!price) return Number.MAX_SAFE_INTEGER;
    const per = pricesFor(price, promptTokens);
    const output = Math.min(maxOutputTokens ?? ASSUMED_OUTPUT_TOKENS, ASSUMED_OUTPUT_TOKENS);
    return toUsdNumber(BigInt(promptTokens) * per.input + BigInt(output) * per.output);
  }

  private check(name: string, spec: RoutingPolicySpec, source: RoutingPolicy['source']): RoutingPolicy {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw invalidRequest(`routing policy name "${name}" must be 1-64 letters, digits, dots, dashes or underscores`, 'name');
    if (!spec || typeof spec !== 'object') throw invalidRequest(`routing policy ${name}: expected {"candidates": [...]}`);
    const { candidates, qualityTarget = DEFAULT_QUALITY_TARGET, explorationShare = DEFAULT_EXPLORATION_SHARE } = spec;
    if (!Array.isArray(candidates) || candidates.length === 0 || candidates.length > MAX_CANDIDATES || !candidates.every((model) => typeof model === 'string' && model !== '')) {
      throw invalidRequest(`routing policy ${name}: "candidates" must list 1 to ${MAX_CANDIDATES} model names`, 'candidates');
    }
    if (new Set(candidates).size !== candidates.length) throw invalidRequest(`routing policy ${name}: a candidate is listed twice`, 'candidates');
    for (const model of candidates) {
      if (model.startsWith(AUTO_PREFIX)) throw invalidRequest(`routing policy ${name}: candidate ${model} is itself a routed model`, 'candidates');
      if (!this.prices.lookup(model)) throw invalidRequest(`routing policy ${name}: candidate ${model} has no price; refusing a route that could bill $0`, 'candidates');
    }
    for (const [field, value] of [['qualityTarget', qualityTarget], ['explorationShare', explorationShare]] as const) {
      if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw invalidRequest(`routing policy ${name}: "${field}" must be a number between 0 and 1`, field);
    }
    return { name, candidates: [...candidates], qualityTarget, explorationShare, source };
  }

  private save(): void {
    const saved = Object.fromEntries(this.list().filter((policy) => policy.source === 'api')
      .map(({ name, candidates, qualityTarget, explorationShare }) => [name, { candidates, qualityTarget, explorationShare }]));
    mkdirSync(dirname(this.file), { recursive: true });
    // Write then rename: a crash never leaves half a file.
    writeFileSync(`${this.file}.tmp`, JSON.stringify(saved, null, 2));
    renameSync(`${this.file}.tmp`, this.file);
  }
}
