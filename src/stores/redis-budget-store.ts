import { Redis } from 'ioredis';
import {
  crossedSoftThreshold, NO_LIMITS, planReservation, remainingOf, rollWindow, windowStartFor,
  type Amounts, type Limits, type ReserveRequest, type ReserveResult, type ScopeDefinition, type ScopeId, type ScopeState, type ThresholdEvent, type WindowKind,
} from '../core/budget.js';
import { GatewayError } from '../protocols/errors.js';
import type { BudgetStore } from './budget-store.js';
import { DEFINE_LUA, EXPIRED_LUA, FINISH_LUA, RENEW_LUA, RESERVE_LUA, SCOPE_FIELDS } from './redis-budget-lua.js';

const MICRO = 1_000_000n;
/** A decision retried this often without fitting means heavy contention at the limit: refuse rather than spin. */
const MAX_ATTEMPTS = 64;

export interface RedisStoreOptions {
  /** Key prefix: replicas sharing budgets use the same one. */
  prefix: string;
  /** This replica's id: the owner written on its reservations. */
  owner: string;
  /** How long a reservation outlives its owner's last renewal. */
  leaseMs: number;
}

/** A scope the store does not hold (Redis was emptied): the caller declares it again and retries. */
export class ScopeMissingError extends Error {
  constructor(readonly scope: ScopeId) {
    super(`budget scope ${scope} is not in the store`);
  }
}

type Reply = (string | null)[];

/**
 * Budgets shared by replicas, in Redis. A reservation is decided from the scopes' last
 * known state with the same pure rule as the embedded store, then committed by a Lua
 * script that re-checks every scope and reserves in all of them at once, or returns the
 * fresh states to decide again. Reservations carry their owner and a lease this replica
 * renews while the call is live; the leases of a dead replica run out and are reclaimed.
 */
export class RedisBudgetStore implements BudgetStore {
  readonly kind = 'redis' as const;
  readonly redis: Redis;
  private readonly cache = new Map<ScopeId, ScopeState>();
  private readonly defined = new Set<ScopeId>();
  /** Reservations this replica holds: their leases are renewed until they settle or release. */
  private readonly live = new Set<string>();
  private readonly renewTimer: NodeJS.Timeout;
  private everReady = false;
  /** When the connection last came (back) up. */
  readySince = 0;
  private connecting: Promise<void> | undefined;

  constructor(readonly url: string, private readonly options: RedisStoreOptions) {
    this.redis = redisClient(url);
    this.redis.defineCommand('intimeReserve', { lua: RESERVE_LUA });
    this.redis.defineCommand('intimeFinish', { lua: FINISH_LUA });
    this.redis.defineCommand('intimeDefine', { lua: DEFINE_LUA, numberOfKeys: 1 });
    this.redis.defineCommand('intimeRenew', { lua: RENEW_LUA, numberOfKeys: 1 });
    this.redis.defineCommand('intimeExpired', { lua: EXPIRED_LUA, numberOfKeys: 1 });
    this.renewTimer = setInterval(() => void this.renew().catch(() => undefined), Math.max(25, Math.floor(options.leaseMs / 4)));
    this.renewTimer.unref();
    // Back after an outage: renew at once, before anyone else finds the leases run out.
    this.redis.on('ready', () => {
      this.everReady = true;
      this.readySince = Date.now();
      void this.renew().catch(() => undefined);
    });
    this.redis.on('error', () => undefined); // surfaced per call as budget_store_unavailable
  }

  get leaseMs(): number {
    return this.options.leaseMs;
  }

  /**
   * A reservation expires 3/4 of the lease after its last renewal (renewed every 1/4):
   * with sweeps every 1/8, a dead replica's reservations are reclaimed within the lease.
   */
  private get ttlMs(): number {
    return Math.floor(this.options.leaseMs * 0.75);
  }

  has(scope: ScopeId): boolean {
    return this.defined.has(scope);
  }

  async define(scope: ScopeId, definition: ScopeDefinition, spent: Amounts, now: number): Promise<void> {
    const limits = definition.limits;
    const reply = await this.call<Reply>(() => this.command('intimeDefine', this.scopeKey(scope),
      definition.window, windowStartFor(definition.window, now),
      ...(limits.money === null ? ['', ''] : splitMoney(limits.money)), limits.tokens ?? '', limits.calls ?? '',
      definition.softThreshold ?? '', ...splitMoney(spent.money), spent.tokens, spent.calls));
    this.cache.set(scope, stateFrom(reply));
    this.defined.add(scope);
  }

  async reserve(request: ReserveRequest, now: number): Promise<ReserveResult> {
    let fresh = false;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const plan = planReservation(request, request.scopes.map((scope) => this.leftOf(scope, now)));
      if (!plan.ok) {
        // A refusal must come from the current state, not from what this replica last saw.
        if (fresh) return plan;
        await Promise.all(request.scopes.map((scope) => this.state(scope, now)));
        fresh = true;
        continue;
      }
      const { amounts } = plan.reservation;
      const reply = await this.call<[string, ...Reply[]]>(() => this.command('intimeReserve', 2 + request.scopes.length,
        this.leasesKey(), this.reservationKey(request.id), ...request.scopes.map((scope) => this.scopeKey(scope)),
        this.options.owner, this.ttlMs, ...splitMoney(amounts.money), amounts.tokens, amounts.calls,
        request.scopes.join('\n'), ...request.scopes.map((scope) => windowStartFor(this.cache.get(scope)?.definition.window ?? 'total', now))));
      const [status, ...states] = reply;
      if (status.startsWith('missing:')) {
        const scope = request.scopes[Number(status.slice(8))]!;
        this.defined.delete(scope);
        this.cache.delete(scope);
        throw new ScopeMissingError(scope);
      }
      states.forEach((state, index) => this.cache.set(request.scopes[index]!, stateFrom(state)));
      if (status === 'ok') {
        this.live.add(request.id);
        return plan;
      }
      fresh = true;
    }
    const scope = request.scopes[0]!;
    return { ok: false, code: 'budget_exhausted', scope, message: `scope ${scope} is contended at its limit; try again`, final: false };
  }

  async settle(reservationId: string, actual: Amounts, now: number): Promise<ThresholdEvent[]> {
    const scopes = await this.finish('settle', reservationId, actual, now);
    const events: ThresholdEvent[] = [];
    for (const [scope, state] of scopes) {
      const dimension = crossedSoftThreshold(state);
      // Once per scope and window across every replica: the first to mark it fires it.
      if (dimension && (await this.call(() => this.redis.hsetnx(this.scopeKey(scope), `fired:${state.windowStart}`, '1'))) === 1) {
        events.push({ scope, dimension, spent: { ...state.spent }, limits: state.definition.limits, windowStart: state.windowStart });
      }
    }
    return events;
  }

  async release(reservationId: string): Promise<void> {
    await this.finish('release', reservationId, { money: 0n, tokens: 0, calls: 0 }, Date.now());
  }

  async state(scope: ScopeId, now: number): Promise<ScopeState | undefined> {
    const reply = await this.call(() => this.redis.hmget(this.scopeKey(scope), ...SCOPE_FIELDS));
    if (reply[0] === null) return undefined;
    const state = stateFrom(reply);
    this.cache.set(scope, state);
    return this.lastKnown(scope, now);
  }

  async remaining(scope: ScopeId, now: number): Promise<Limits> {
    const state = await this.state(scope, now);
    return state ? remainingOf(state) : { ...NO_LIMITS };
  }

  forget(scope: ScopeId): boolean {
    // The counters in Redis stay (they are the authority); the keeper asks only for scopes
    // with no call of this replica in flight.
    this.cache.delete(scope);
    this.defined.delete(scope);
    return true;
  }

  async retire(scope: ScopeId, afterMs: number): Promise<void> {
    // A reservation that still reaches it finds it missing and redefines it from the ledger.
    await this.call(() => this.redis.pexpire(this.scopeKey(scope), afterMs));
  }

  lastKnown(scope: ScopeId, now: number): ScopeState | undefined {
    const cached = this.cache.get(scope);
    if (!cached) return undefined;
    const state = { ...cached, spent: { ...cached.spent }, reserved: { ...cached.reserved } };
    rollWindow(state, now);
    return state;
  }

  /** Reservations (of any replica) whose lease ran out: their owner stopped renewing them. */
  async expiredReservations(limit = 100): Promise<string[]> {
    const keys = await this.call<string[]>(() => this.command('intimeExpired', this.leasesKey(), limit));
    const prefix = this.reservationKey('');
    return keys.map((key) => key.slice(prefix.length));
  }

  /** Extends the leases of this replica's live reservations. */
  async renew(): Promise<void> {
    const ids = [...this.live];
    for (let index = 0; index < ids.length; index += 500) {
      await this.command('intimeRenew', this.leasesKey(), this.ttlMs, ...ids.slice(index, index + 500).map((id) => this.reservationKey(id)));
    }
  }

  /** Resolves once Redis answers (or rejects with the unavailable error). */
  async ping(): Promise<void> {
    await this.call(() => this.redis.ping());
  }

  async close(): Promise<void> {
    clearInterval(this.renewTimer);
    this.redis.disconnect();
  }

  private async finish(mode: 'settle' | 'release', reservationId: string, actual: Amounts, now: number): Promise<[ScopeId, ScopeState][]> {
    const reply = await this.call<[string, ...(string | Reply)[]]>(() => this.command('intimeFinish', 2, this.leasesKey(), this.reservationKey(reservationId),
      mode, ...splitMoney(actual.money), actual.tokens, actual.calls, windowStartFor('day', now), windowStartFor('month', now), this.scopeKey('')));
    this.live.delete(reservationId);
    const scopes: [ScopeId, ScopeState][] = [];
    for (let index = 1; index < reply.length; index += 2) {
      const scope = reply[index] as string;
      const state = stateFrom(reply[index + 1] as Reply);
      this.cache.set(scope, state);
      scopes.push([scope, state]);
    }
    return scopes;
  }

  /** Before the first connection, waits for it (up to the connect timeout); after it, fails fast. */
  private firstConnection(): Promise<void> {
    if (this.redis.status === 'ready' || this.everReady) return Promise.resolve();
    this.connecting ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      this.redis.once('ready', () => { clearTimeout(timer); resolve(); });
    });
    return this.connecting;
  }

  private leftOf(scope: ScopeId, now: number): Limits {
    const state = this.lastKnown(scope, now);
    return state ? remainingOf(state) : { ...NO_LIMITS };
  }

  private command<T>(name: string, ...args: (string | number)[]): Promise<T> {
    return (this.redis as unknown as Record<string, (...args: (string | number)[]) => Promise<T>>)[name]!(...args);
  }

  /** Runs a Redis command; a connection failure becomes the documented, non-retryable refusal. */
  private async call<T>(run: () => Promise<T>): Promise<T> {
    try {
      await this.firstConnection();
      return await run();
    } catch (error) {
      throw budgetStoreUnavailable(this.url, error as Error);
    }
  }

  private scopeKey(scope: string): string {
    return `${this.options.prefix}scope:${scope}`;
  }

  private reservationKey(id: string): string {
    return `${this.options.prefix}resv:${id}`;
  }

  private leasesKey(): string {
    return `${this.options.prefix}leases`;
  }
}

export function redisClient(url: string): Redis {
  return new Redis(url, {
    // Fail fast while Redis is away (fail closed) instead of queueing calls behind it;
    // the client keeps reconnecting in the background and service resumes by itself.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 2000,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(50 * attempt, 500),
  });
}

export function budgetStoreUnavailable(url: string, cause: Error): GatewayError {
  return new GatewayError('budget_store_unavailable', 'internal',
    `the shared budget store (Redis at ${redactUrl(url)}) is unreachable (${cause.message}); calls are refused until it is back`,
    { status: 503, retryable: false });
}

export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return 'an invalid URL';
  }
}

function splitMoney(money: bigint): [string, string] {
  let high = money / MICRO;
  if (money < 0n && high * MICRO !== money) high -= 1n;
  return [high.toString(), (money - high * MICRO).toString()];
}

function joinMoney(high: string | null | undefined, low: string | null | undefined): bigint {
  return BigInt(high ?? '0') * MICRO + BigInt(low ?? '0');
}

function stateFrom(reply: Reply): ScopeState {
  const [win, ws, lmh, lml, lt, lc, soft, smh, sml, st, sc, rmh, rml, rt, rc] = reply;
  const integer = (value: string | null | undefined) => Number(value ?? '0');
  return {
    definition: {
      limits: { money: lmh === null || lmh === undefined ? null : joinMoney(lmh, lml), tokens: lt === null || lt === undefined ? null : Number(lt), calls: lc === null || lc === undefined ? null : Number(lc) },
      window: (win ?? 'total') as WindowKind,
      softThreshold: soft === null || soft === undefined || soft === '' ? null : Number(soft),
    },
    windowStart: integer(ws),
    spent: { money: joinMoney(smh, sml), tokens: integer(st), calls: integer(sc) },
    reserved: { money: joinMoney(rmh, rml), tokens: integer(rt), calls: integer(rc) },
    softThresholdFired: false,
  };
}
