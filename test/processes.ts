import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = ['--import', 'tsx', 'src/cli/main.ts'];

export interface CliProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Runs the CLI from source as a child process, capturing its output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, cwd = REPO_ROOT): CliProcess {
  return runNode([...CLI, ...args], { INTIME_LOG: 'warn', ...env }, cwd);
}

/** Runs a TypeScript script of the repository (scripts/...) as a child process. */
export function runScript(path: string, args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  return runNode(['--import', 'tsx', path, ...args], env, REPO_ROOT);
}

function runNode(nodeArgs: string[], env: NodeJS.ProcessEnv, cwd: string): CliProcess {
  const child = spawn(process.execPath, nodeArgs, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Starts `intime serve` and resolves once it prints where it listens. */
export async function startGatewayProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliProcess & { url: string }> {
  const process = runCli(['serve', ...args], env);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const match = /listening on (http:\/\/[\d.:]+)/.exec(process.stderr());
    if (match) return { ...process, url: match[1]! };
    if (process.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  process.child.kill('SIGKILL');
  throw new Error(`gateway did not start:\n${process.stderr()}`);
}

export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
