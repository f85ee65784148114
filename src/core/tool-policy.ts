/**
 * Approval policies: which tool calls a human (or a policy) must approve before the agent
 * receives them. Pure and synchronous: the gateway resolves a call's policy on every call,
 * so patterns are compiled once, when a policy is set, never per call.
 */

/** What a denied (or timed-out) tool call does: it is removed from the response, or the run is stopped. */
export type DenyAction = 'strip' | 'stop';

/** "global", "project:<name>", "key:<key id>" or "run:<run id>". */
export type PolicyScope = string;

export interface ApprovalPolicy {
  scope: PolicyScope;
  /** Tool names or globs (`*` any run of characters, `?` one character), matched case-insensitively. */
  tools: string[];
  /** How long a decision may take; unset means the next broader scope's, then the default. */
  timeoutMs: number | null;
  onDeny: DenyAction | null;
  /** Where approval requests are posted; unset means the next broader scope's. */
  webhook: string | null;
}

/** What applies to one call: the union of its scopes' tools; the narrowest scope's settings. */
export interface EffectivePolicy {
  /** The scopes whose tools are gated for this call, narrowest first. */
  scopes: PolicyScope[];
  timeoutMs: number;
  onDeny: DenyAction;
  webhook: string | null;
  isGated(toolName: string): boolean;
}

export const SCOPE_PATTERN = /^(global|(project|key|run):.+)$/;

/**
 * Compiles a list of globs into one anchored expression. Case-insensitive on purpose:
 * a gate that `Send_Email` slips past is worse than one that holds a harmless call.
 */
export function compileToolPatterns(patterns: string[]): RegExp | undefined {
  if (patterns.length === 0) return undefined;
  const alternatives = patterns.map((pattern) =>
    [...pattern].map((character) => (character === '*' ? '.*' : character === '?' ? '.' : escapeRegExp(character))).join(''));
  return new RegExp(`^(?:${alternatives.join('|')})$`, 'is');
}

function escapeRegExp(character: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(character) ? `\\${character}` : character;
}

/** A policy with its patterns compiled, as the resolver keeps it. */
export interface CompiledPolicy {
  policy: ApprovalPolicy;
  matcher: RegExp | undefined;
}

export function compilePolicy(policy: ApprovalPolicy): CompiledPolicy {
  return { policy, matcher: compileToolPatterns(policy.tools) };
}

/** Where a call sits: its runs (own first, then ancestors), its key and its project. */
export interface CallScopes {
  runIds: string[];
  keyId: string | null;
  project: string | null;
}

/** The scopes that may carry a policy for a call, narrowest first. */
export function scopesOf(call: CallScopes): PolicyScope[] {
  const scopes = call.runIds.map((id) => `run:${id}`);
  if (call.keyId !== null) scopes.push(`key:${call.keyId}`);
  if (call.project !== null) scopes.push(`project:${call.project}`);
  scopes.push('global');
  return scopes;
}

/**
 * Resolves the policy of one call: a tool is gated if any of its scopes gates it (a run
 * cannot opt out of what its project gates); timeout, deny action and webhook come from
 * the narrowest scope that sets them. Undefined when nothing is gated, so the gateway
 * skips every approval check for the call.
 */
export function resolvePolicy(
  policies: ReadonlyMap<PolicyScope, CompiledPolicy>,
  call: CallScopes,
  defaults: { timeoutMs: number; onDeny: DenyAction; webhook: string | null },
): EffectivePolicy | undefined {
  if (policies.size === 0) return undefined;
  const applicable: CompiledPolicy[] = [];
  for (const scope of scopesOf(call)) {
    const compiled = policies.get(scope);
    if (compiled) applicable.push(compiled);
  }
  const matchers = applicable.flatMap((compiled) => (compiled.matcher ? [compiled.matcher] : []));
  if (matchers.length === 0) return undefined;
  const first = <T>(pick: (policy: ApprovalPolicy) => T | null): T | null => {
    for (const { policy } of applicable) {
      const value = pick(policy);
      if (value !== null) return value;
    }
    return null;
  };
  return {
    scopes: applicable.filter((compiled) => compiled.matcher).map((compiled) => compiled.policy.scope),
    timeoutMs: first((policy) => policy.timeoutMs) ?? defaults.timeoutMs,
    onDeny: first((policy) => policy.onDeny) ?? defaults.onDeny,
    webhook: first((policy) => policy.webhook) ?? defaults.webhook,
    isGated: (toolName) => matchers.some((matcher) => matcher.test(toolName)),
  };
}
