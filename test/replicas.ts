import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import pg from 'pg';
import { Redis } from 'ioredis';
import { startGatewayProcess, type CliProcess } from './processes.js';

export const PG_URL = process.env.INTIME_TEST_PG_URL;
export const REDIS_URL = process.env.INTIME_TEST_REDIS_URL;
export const ADMIN = 'it_admin_replicas-test';

export type Replica = CliProcess & { url: string; name: string };

/**
 * Replicas sharing one PostgreSQL schema and one Redis key prefix, both unique to this
 * cluster so parallel test runs never meet. Each replica is its own `intime serve`.
 */
export class Cluster {
  readonly schema = `intime_test_${randomUUID().replaceAll('-', '')}`;
  readonly prefix = `intime-test:${randomUUID()}:`;
  readonly replicas: Replica[] = [];
  private readonly dirs: string[] = [];

  constructor(private readonly simUrl: string, readonly leaseMs: number) {}

  get db(): string {
    return `${PG_URL}?schema=${this.schema}`;
  }

  async start(name: string, redisUrl = REDIS_URL!, db = this.db, extraArgs: string[] = []): Promise<Replica> {
    const dataDir = mkdtempSync(join(tmpdir(), `intime-replica-${name}-`));
    this.dirs.push(dataDir);
    const config = join(dataDir, 'config.json');
    writeFileSync(config, JSON.stringify({
      providers: { openai: { baseUrl: `${this.simUrl}/v1`, apiKey: 'sk-sim', protocols: ['openai-chat', 'openai-responses'] } },
    }));
    const replica = await startGatewayProcess([
      '--port', '0', '--data-dir', dataDir, '--config', config, '--db', db, '--budget-store', redisUrl,
      '--store-prefix', this.prefix, '--lease-ms', String(this.leaseMs), '--replica-id', name, ...extraArgs,
    ], { INTIME_ADMIN_TOKEN: ADMIN, INTIME_LOG: 'info' });
    const named = { ...replica, name };
    this.replicas.push(named);
    return named;
  }

  async close(): Promise<void> {
    for (const replica of this.replicas) {
      if (replica.child.exitCode === null && replica.child.signalCode === null) {
        replica.child.kill('SIGTERM');
        await replica.exited;
      }
    }
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    const client = new pg.Client(PG_URL);
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`);
    await client.end();
    const redis = new Redis(REDIS_URL!);
    const keys = await redis.keys(`${this.prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
}

export async function admin<T>(replica: Replica, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${replica.url}${path}`, {
    method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

export function client(replica: Replica, token: string): OpenAI {
  return new OpenAI({ baseURL: `${replica.url}/v1`, apiKey: token, maxRetries: 0 });
}

export interface RunView { state: string; spentUsd: string; reservedUsd: string; remainingUsd: string | null; budgetUsd: string | null }
export interface CallView { id: string; costUsd: string; status: string }

export function errorCode(error: unknown): string {
  const typed = error as { code?: string; status?: number; message?: string };
  return typed.code ?? `${typed.status ?? ''} ${typed.message ?? String(error)}`;
}

/** A TCP proxy this test can cut: the replica's road to Redis. */
export class CuttableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async open(): Promise<void> {
    this.server = createServer((socket) => {
      const upstream = createConnectionTo(this.target);
      this.sockets.add(socket).add(upstream);
      socket.pipe(upstream).pipe(socket);
      const drop = () => { socket.destroy(); upstream.destroy(); this.sockets.delete(socket); this.sockets.delete(upstream); };
      socket.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Closes every connection and refuses new ones, as a dead Redis host would. */
  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server?.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }
}

function createConnectionTo(target: { host: string; port: number }): Socket {
  return connect(target.port, target.host);
}
