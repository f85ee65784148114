/**
 * The benchmark's server processes: spawn (each under the loopback guard), wait for the port,
 * sample RSS from /proc, prove the listening socket is loopback-only, and stop them all,
 * bounded in time, on success, error or signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const GUARD = fileURLToPath(new URL('./servers/loopback-guard.mjs', import.meta.url));

/**
 * The benches run the sim and InTime as the package ships them, from dist/ (`npm run bench`
 * builds it first), not under tsx: tsx adds a loader thread, and turns on source maps, which
 * made every formatted error stack parse a map. BENCH_FROM_SOURCE=1 runs src/ under tsx.
 */
export const FROM_SOURCE = process.env.BENCH_FROM_SOURCE === '1';

/** Node arguments that start bench/servers/<name>.mjs, from dist/ or (BENCH_FROM_SOURCE=1) src/. */
export function serverArgs(name: 'sim' | 'intime', extraNodeArgs: string[] = []): string[] {
  if (!FROM_SOURCE && !existsSync(join(REPO_ROOT, 'dist/gateway/gateway.js'))) {
    throw new Error('dist/ is missing: run `npm run build` (npm run bench does), or set BENCH_FROM_SOURCE=1');
  }
  return [...(FROM_SOURCE ? ['--import', 'tsx'] : []), ...extraNodeArgs, `bench/servers/${name}.mjs`];
}

export interface ServerProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  port: number;
  url: string;
  /** Outbound connections the guard refused (anything not loopback). */
  blockedConnections: number;
  output(): string;
  exited: Promise<void>;
}

const running = new Set<ServerProcess>();

export async function startServer(
  name: string,
  nodeArgs: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', GUARD, ...nodeArgs], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 20_000) output = output.slice(-10_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const server: ServerProcess = {
    name, child, pid: child.pid ?? -1, port: 0, url: '', blockedConnections: 0, output: () => output, exited,
  };
  running.add(server);
  void exited.then(() => running.delete(server));
  child.on('message', (message: { type?: string; count?: number }) => {
    if (message.type === 'blocked') server.blockedConnections = message.count ?? server.blockedConnections + 1;
  });
  const timeoutMs = options.timeoutMs ?? 30_000;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    child.on('message', (message: { type?: string; port?: number; address?: string }) => {
      if (message.type !== 'listening' || typeof message.port !== 'number') return;
      if (message.address !== '127.0.0.1') {
        reject(new Error(`${name} bound ${message.address}:${message.port}, not loopback`));
        return;
      }
      clearTimeout(timer);
      resolve(message.port);
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before listening (code ${child.exitCode}, signal ${child.signalCode}):\n${output}`));
    });
  });
  server.port = port;
  server.url = `http://127.0.0.1:${port}`;
  return server;
}

export function runningServers(): ServerProcess[] {
  return [...running];
}

/** SIGTERM everything still running; SIGKILL what has not exited within the grace period. */
export function stopAll(graceMs = 3000): Promise<void> {
  return stopServers([...running], graceMs);
}

export async function stopServers(servers: ServerProcess[], graceMs = 3000): Promise<void> {
  for (const server of servers) signal(server, 'SIGTERM');
  await Promise.race([
    Promise.all(servers.map((server) => server.exited)),
    new Promise((resolve) => setTimeout(resolve, graceMs).unref()),
  ]);
  for (const server of servers) {
    if (server.child.exitCode === null && server.child.signalCode === null) signal(server, 'SIGKILL');
  }
  await Promise.race([
    Promise.all(servers.map((server) => server.exited)),
    new Promise((resolve) => setTimeout(resolve, 1000).unref()),
  ]);
}

/** Last resort from a synchronous 'exit' handler. */
export function killAllNow(): void {
  for (const server of running) signal(server, 'SIGKILL');
}

function signal(server: ServerProcess, name: NodeJS.Signals): void {
  try {
    server.child.kill(name);
  } catch {
    // already gone
  }
}

/** VmRSS and VmHWM (kernel-recorded peak) of a process, in MiB; undefined once it is gone. */
export function memoryOf(pid: number): { rssMiB: number; hwmMiB: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
    return { rssMiB: field('VmRSS'), hwmMiB: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Samples VmRSS of some processes at an interval, keeping the peak per process for the current phase. */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private peaks = new Map<string, number>();

  constructor(private readonly servers: ServerProcess[], private readonly intervalMs = 100) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): Map<string, number> {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    return new Map(this.peaks);
  }

  private sample(): void {
    for (const server of this.servers) {
      const memory = memoryOf(server.pid);
      if (memory && !(memory.rssMiB <= (this.peaks.get(server.name) ?? 0))) this.peaks.set(server.name, memory.rssMiB);
    }
  }
}

/** CPU time (user + system) a process has used so far, in ms; undefined once it is gone. */
export function cpuTimeMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state is field 3, utime 14, stime 15 (1-based) -> indexes 11 and 12 here.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** USER_HZ; 100 on every Linux this runs on (getconf CLK_TCK). */
const CLOCK_TICKS = 100;

/**
 * The local addresses of every TCP socket listening on a port, from /proc/net/tcp{,6}
 * (e.g. ["127.0.0.1"]); proof that a server is not reachable from other interfaces.
 */
export function listeningAddresses(port: number): string[] {
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (!local || fields[3] !== '0A') continue; // 0A = LISTEN
      const [hexAddress, hexPort] = local.split(':');
      if (!hexAddress || !hexPort || parseInt(hexPort, 16) !== port) continue;
      found.push(decodeAddress(hexAddress));
    }
  }
  return found;
}

function decodeAddress(hex: string): string {
  if (hex.length === 8) {
    // IPv4, little-endian
    return [3, 2, 1, 0].map((index) => parseInt(hex.slice(index * 2, index * 2 + 2), 16)).join('.');
  }
  // IPv6: four little-endian 32-bit words
  const bytes: number[] = [];
  for (let word = 0; word < 4; word++) {
    const chunk = hex.slice(word * 8, word * 8 + 8);
    for (let index = 3; index >= 0; index--) bytes.push(parseInt(chunk.slice(index * 2, index * 2 + 2), 16));
  }
  const groups: string[] = [];
  for (let index = 0; index < 16; index += 2) groups.push(((bytes[index]! << 8) | bytes[index + 1]!).toString(16));
  const text = groups.join(':');
  if (text === '0:0:0:0:0:0:0:0') return '::';
  if (text === '0:0:0:0:0:0:0:1') return '::1';
  return text;
}
