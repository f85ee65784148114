import type { Redis } from 'ioredis';
import type { RunState } from './ledger.js';
import { redisClient } from './redis-budget-store.js';

/** What one replica tells the others about a run, so every replica acts on it. */
export type RunSignal =
  | { kind: 'ended'; runId: string; state: RunState; reason: string; at: number }
  | { kind: 'paused'; runId: string }
  | { kind: 'resumed'; runId: string };

/** Approvals decided, or policies changed, on one replica: the replica holding the call wakes it. */
export type ApprovalSignal = { kind: 'approval-decided'; approvalId: string } | { kind: 'policies-changed' };

export type ReplicaSignal = RunSignal | ApprovalSignal;

export interface RunSignals {
  /** False while the channel is down: a replica may then miss a stop, so it refuses calls. */
  readonly healthy: boolean;
  publish(signal: ReplicaSignal): Promise<void>;
  close(): Promise<void>;
}

export interface SignalHandlers {
  onSignal(signal: ReplicaSignal): void;
  /** The channel is (back) up: signals sent while it was down are lost, so read the current state again. */
  onConnected(): Promise<void>;
}

/**
 * Stop, pause and resume across replicas over Redis pub/sub: a published signal reaches
 * every subscribed replica in about a millisecond on one machine. Pub/sub keeps nothing
 * for a replica that was away, which is why a (re)connected replica re-reads run states
 * from the shared ledger before it is healthy again.
 */
export class RedisRunSignals implements RunSignals {
  private readonly subscriber: Redis;
  private readonly channel: string;
  private synced = false;

  constructor(private readonly publisher: Redis, url: string, prefix: string, private readonly origin: string, handlers: SignalHandlers, log: { warn(message: string, fields?: object): void }) {
    this.channel = `${prefix}signals`;
    this.subscriber = redisClient(url);
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, message: string) => {
      const parsed = parseSignal(message);
      if (parsed && parsed.origin !== this.origin) handlers.onSignal(parsed.signal);
    });
    this.subscriber.on('close', () => {
      if (this.synced) log.warn('signal channel lost: refusing calls until it is back', { channel: this.channel });
      this.synced = false;
    });
    // Subscribed again (ioredis resubscribes on reconnect): catch up, then serve.
    this.subscriber.on('ready', () => {
      void this.subscriber.subscribe(this.channel)
        .then(() => handlers.onConnected())
        .then(() => { this.synced = true; })
        .catch((error: Error) => log.warn('signal channel resync failed', { error: error.message }));
    });
  }

  get healthy(): boolean {
    return this.synced && this.subscriber.status === 'ready';
  }

  /** Resolves once subscribed and caught up, or after `timeoutMs` (then calls are refused until it is). */
  async connected(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.healthy && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    return this.healthy;
  }

  async publish(signal: ReplicaSignal): Promise<void> {
    await this.publisher.publish(this.channel, JSON.stringify({ origin: this.origin, signal }));
  }

  async close(): Promise<void> {
    this.synced = false; // closing on purpose: no warning
    this.subscriber.disconnect();
  }
}

function parseSignal(message: string): { origin: string; signal: ReplicaSignal } | undefined {
  try {
    const parsed = JSON.parse(message) as { origin?: unknown; signal?: { kind?: unknown; runId?: unknown; approvalId?: unknown } };
    const signal = parsed.signal;
    if (typeof parsed.origin !== 'string' || !signal) return undefined;
    const valid = ['ended', 'paused', 'resumed'].includes(String(signal.kind)) ? typeof signal.runId === 'string'
      : signal.kind === 'approval-decided' ? typeof signal.approvalId === 'string'
        : signal.kind === 'policies-changed';
    return valid ? (parsed as { origin: string; signal: ReplicaSignal }) : undefined;
  } catch {
    return undefined;
  }
}
