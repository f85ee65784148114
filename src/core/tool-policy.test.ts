import { describe, expect, it } from 'vitest';
import { compilePolicy, compileToolPatterns, resolvePolicy, type ApprovalPolicy, type CompiledPolicy } from './tool-policy.js';

const defaults = { timeoutMs: 300_000, onDeny: 'strip' as const, webhook: null };
const policy = (scope: string, tools: string[], rest: Partial<ApprovalPolicy> = {}): ApprovalPolicy =>
  ({ scope, tools, timeoutMs: null, onDeny: null, webhook: null, ...rest });
const book = (...policies: ApprovalPolicy[]) => new Map<string, CompiledPolicy>(policies.map((entry) => [entry.scope, compilePolicy(entry)]));

describe('tool globs', () => {
  it('matches names and globs whole, case-insensitively, with regex characters taken literally', () => {
    const matcher = compileToolPatterns(['send_*', 'deploy*', 'exec', 'transfer_?', 'db.drop'])!;
    for (const name of ['send_email', 'send_', 'SEND_SMS', 'deploy', 'deploy_prod', 'exec', 'transfer_x', 'db.drop']) expect(matcher.test(name), name).toBe(true);
    for (const name of ['resend_email', 'executor', 'my_exec', 'transfer_xy', 'dbxdrop', 'read_file', '']) expect(matcher.test(name), name).toBe(false);
  });

  it('compiles nothing from no patterns', () => {
    expect(compileToolPatterns([])).toBeUndefined();
  });
});

describe('resolvePolicy', () => {
  const call = { runIds: ['child', 'parent'], keyId: 'k1', project: 'billing' };

  it('gates the union of global, project, key, the run and its parent runs', () => {
    const resolved = resolvePolicy(book(
      policy('global', ['exec']), policy('project:billing', ['transfer_*']), policy('key:k1', ['send_*']),
      policy('run:parent', ['deploy*']), policy('run:child', ['delete_*']), policy('project:other', ['read_*']), policy('run:someone-else', ['write_*']),
    ), call, defaults)!;
    for (const name of ['exec', 'transfer_funds', 'send_email', 'deploy', 'delete_user']) expect(resolved.isGated(name), name).toBe(true);
    for (const name of ['read_file', 'write_file', 'search']) expect(resolved.isGated(name), name).toBe(false);
    expect(resolved.scopes).toEqual(['run:child', 'run:parent', 'key:k1', 'project:billing', 'global']);
  });

  it('takes timeout, deny action and webhook from the narrowest scope that sets them, then the defaults', () => {
    const resolved = resolvePolicy(book(
      policy('global', ['exec'], { timeoutMs: 60_000, onDeny: 'stop', webhook: 'https://hooks.example/global' }),
      policy('project:billing', [], { timeoutMs: 10_000 }),
      policy('run:parent', ['deploy'], { onDeny: 'strip' }),
    ), call, defaults)!;
    expect(resolved).toMatchObject({ timeoutMs: 10_000, onDeny: 'strip', webhook: 'https://hooks.example/global' });
    expect(resolvePolicy(book(policy('global', ['exec'])), call, defaults)).toMatchObject(defaults);
  });

  it('is undefined when nothing gates a tool for the call, so the gateway skips inspection', () => {
    expect(resolvePolicy(new Map(), call, defaults)).toBeUndefined();
    expect(resolvePolicy(book(policy('project:other', ['exec']), policy('global', [])), call, defaults)).toBeUndefined();
    expect(resolvePolicy(book(policy('key:k1', ['exec'])), { runIds: [], keyId: null, project: null }, defaults)).toBeUndefined();
  });
});
