import { createHash } from 'node:crypto';

/**
 * Precedents: failures written down where they happened, so the next call at the same
 * place can be told about them. Pure: what a precedent is, how its text is made safe to
 * keep and to show a model, and when two failures are the same one.
 */
export const PRECEDENT_KINDS = ['contract_violation', 'stage_halted', 'budget_exhausted', 'run_stopped', 'approval_denied', 'manual'] as const;
export type PrecedentKind = (typeof PRECEDENT_KINDS)[number];

/** Where a failure happened. Null parts are unknown (or, for a hand-written one, "anywhere"). */
export interface PrecedentWhere {
  /** The pipeline: the run's name. */
  pipeline: string | null;
  /** The stage: the call's step label (x-intime-step). */
  stage: string | null;
  model: string | null;
  tool: string | null;
  contract: string | null;
}

export type FixSource = 'retry' | 'escalation' | 'operator';

export type FeatureValue = string | number | boolean;

export interface Precedent {
  id: string;
  kind: PrecedentKind;
  where: PrecedentWhere;
  /** The violation or the reason, redacted and short. */
  what: string;
  /** A bounded excerpt of what was seen (the output, the arguments, the note), redacted. */
  evidence: string;
  /** The task's text signature: its prompt, normalized, redacted and cut. */
  signature: string;
  /** The task's features (prompt size, protocol, attempt …) at the latest occurrence. */
  features: Record<string, FeatureValue>;
  fix: string | null;
  fixSource: FixSource | null;
  /** Same where and same normalized what: the merge identity. */
  mergeKey: string;
  project: string | null;
  count: number;
  firstSeen: number;
  lastSeen: number;
  retired: boolean;
  /** The run and call of the latest occurrence, when a call was involved. */
  lastRunId: string | null;
  lastCallId: string | null;
  createdBy: string;
}

/** A failure as it is observed, before it is merged into a precedent. */
export interface PrecedentObservation {
  kind: PrecedentKind;
  where: PrecedentWhere;
  what: string;
  evidence: string;
  /** Raw task text (the prompt); it is normalized and redacted here. */
  taskText: string;
  features: Record<string, FeatureValue>;
  fix: string | null;
  fixSource: FixSource | null;
  project: string | null;
  runId: string | null;
  callId: string | null;
  at: number;
  createdBy: string;
}

export const LIMITS = { what: 400, evidence: 800, signature: 600, fix: 600, label: 128 } as const;

/**
 * Secrets that must never be kept or shown to a model: provider keys, InTime tokens,
 * bearer credentials, AWS / GitHub / Slack tokens, JWTs, assignments of *key, *token,
 * *secret or password. Each is replaced by a marker that says what was there.
 */
const SECRET_PATTERNS: [RegExp, string][] = [
  [/\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/gi, 'Bearer [redacted]'],
  [/\bsk-[A-Za-z0-9_-]{12,}/g, '[redacted key]'],
  [/\bit_(?:run|key|admin)_[A-Za-z0-9_-]{8,}/g, '[redacted token]'],
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, '[redacted key]'],
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/g, '[redacted token]'],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, '[redacted token]'],
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, '[redacted jwt]'],
  [/((?:api[_-]?key|secret|token|password|passwd|authorization)["']?\s*[:=]\s*["']?)[^\s"',;}]{6,}/gi, '$1[redacted]'],
];
const EMAIL = /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b/g;
/** A run of 80+ characters with no space: base64, hex, minified payloads. Nothing a reader learns from. */
const LONG_RUN = /[^\s]{80,}/g;

export interface RedactOptions {
  maxLength: number;
  /** Email addresses too (default true). */
  emails?: boolean;
}

/** Secrets out, long unbroken payloads shortened, whitespace collapsed, length capped. */
export function redact(text: string, options: RedactOptions): string {
  let result = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) result = result.replace(pattern, replacement);
  if (options.emails !== false) result = result.replace(EMAIL, '[redacted email]');
  result = result.replace(LONG_RUN, (run) => `${run.slice(0, 24)}…[${run.length} chars]`);
  result = result.replace(/\s+/g, ' ').trim();
  return cap(result, options.maxLength);
}

export function cap(text: string, maxLength: number): string {
  if (text.length <= maxLength) return text;
  const more = `…(+${text.length - maxLength + 1} chars)`;
  return `${text.slice(0, Math.max(0, maxLength - more.length))}${more}`;
}

/**
 * The failure's identity for merging: lower case, ids and numbers replaced by placeholders,
 * quoted values dropped, so "call_ab12 failed at /items/3" and "call_zz98 failed at /items/7"
 * are one precedent seen twice.
 */
export function normalizeWhat(what: string): string {
  return what
    .toLowerCase()
    .replace(/\b(?:call|run|apr|key|prec|req|resp|msg|chatcmpl|toolu|fc)[_-][a-z0-9_-]+/g, '<id>')
    .replace(/"[^"]{0,200}"|'[^']{0,200}'/g, '<value>')
    .replace(/\d+(?:\.\d+)?/g, '#')
    .replace(/\s+/g, ' ')
    .trim();
}

export function mergeKeyOf(kind: PrecedentKind, where: PrecedentWhere, what: string): string {
  const parts = [kind, where.pipeline, where.stage, where.model, where.tool, where.contract, normalizeWhat(what)];
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

/** The task's text signature: the prompt redacted, its numbers and ids kept out, cut to size. */
export function signatureOf(taskText: string): string {
  const cleaned = redact(taskText, { maxLength: 20_000 })
    .replace(/\b(?:call|run|apr|key|prec)_[A-Za-z0-9_-]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return cap(cleaned, LIMITS.signature);
}

/** Makes an observation safe to keep: every free text redacted and capped. */
export function sanitizeObservation(observation: PrecedentObservation): PrecedentObservation {
  return {
    ...observation,
    where: {
      pipeline: label(observation.where.pipeline),
      stage: label(observation.where.stage),
      model: label(observation.where.model),
      tool: label(observation.where.tool),
      contract: label(observation.where.contract),
    },
    what: redact(observation.what, { maxLength: LIMITS.what }) || '(no reason given)',
    evidence: redact(observation.evidence, { maxLength: LIMITS.evidence }),
    taskText: signatureOf(observation.taskText),
    fix: observation.fix === null ? null : redact(observation.fix, { maxLength: LIMITS.fix }) || null,
  };
}

function label(value: string | null): string | null {
  return value === null || value === '' ? null : value.slice(0, LIMITS.label);
}

/**
 * Folds an observation into the precedent it repeats (or starts a new one). A fix an
 * operator wrote is never replaced by one the gateway inferred.
 */
export function mergeObservation(existing: Precedent | undefined, observation: PrecedentObservation, newId: () => string): Precedent {
  const clean = sanitizeObservation(observation);
  if (!existing) {
    return {
      id: newId(), kind: clean.kind, where: clean.where, what: clean.what, evidence: clean.evidence, signature: clean.taskText,
      features: clean.features, fix: clean.fix, fixSource: clean.fix === null ? null : clean.fixSource, mergeKey: mergeKeyOf(clean.kind, clean.where, clean.what),
      project: clean.project, count: 1, firstSeen: clean.at, lastSeen: clean.at, retired: false,
      lastRunId: clean.runId, lastCallId: clean.callId, createdBy: clean.createdBy,
    };
  }
  const keepFix = existing.fixSource === 'operator' || clean.fix === null;
  return {
    ...existing,
    // The latest wording and evidence: the one a reader (or a model) can still relate to.
    what: clean.what,
    evidence: clean.evidence || existing.evidence,
    signature: clean.taskText || existing.signature,
    features: { ...existing.features, ...clean.features },
    fix: keepFix ? existing.fix : clean.fix,
    fixSource: keepFix ? existing.fixSource : clean.fixSource,
    count: existing.count + 1,
    lastSeen: Math.max(existing.lastSeen, clean.at),
    // A failure that happens again is live again, even if someone had retired it.
    retired: false,
    lastRunId: clean.runId ?? existing.lastRunId,
    lastCallId: clean.callId ?? existing.lastCallId,
  };
}

/** The text a retrieved precedent adds to a stage's instructions. */
export function pitfallText(precedent: Pick<Precedent, 'what' | 'fix' | 'count' | 'where'>): string {
  const place = precedent.where.tool ? ` (tool ${precedent.where.tool})` : '';
  const fix = precedent.fix ? ` Fix: ${precedent.fix}` : '';
  return `- Seen ${precedent.count}x${place}: ${precedent.what.replace(/[.\s]+$/, '')}.${fix}`;
}

export const PITFALLS_HEADER = 'Known pitfalls at this step (from earlier failures; avoid them):';

/** The whole block: header and one line per precedent. */
export function pitfallsBlock(lines: string[]): string {
  return `${PITFALLS_HEADER}\n${lines.join('\n')}`;
}
