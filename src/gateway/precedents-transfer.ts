import { z } from 'zod';
import { mergeKeyOf, PRECEDENT_KINDS, sanitizeObservation, type Precedent } from '../core/precedents.js';
import { GatewayError } from '../protocols/errors.js';
import { canSee, type Principal } from './authorize.js';
import type { Gateway } from './gateway.js';
import { newId } from './secrets.js';

/**
 * Precedents as JSONL, one a line, so a team can share what it learned. Each line names
 * its format and version; an import takes every line or none, and redacts again (the
 * file came from elsewhere).
 */
const FORMAT = 'intime-precedent';
const VERSION = 1;

const label = z.string().min(1).max(128).nullable();
const lineSchema = z.object({
  format: z.literal(FORMAT),
  version: z.literal(VERSION),
  id: z.string().regex(/^prec_[A-Za-z0-9]{1,64}$/).optional(),
  kind: z.enum(PRECEDENT_KINDS),
  where: z.object({ pipeline: label, stage: label, model: label, tool: label, contract: label }),
  what: z.string().min(1).max(4000),
  evidence: z.string().max(20_000).default(''),
  signature: z.string().max(20_000).default(''),
  features: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  fix: z.string().max(4000).nullable().default(null),
  fixSource: z.enum(['retry', 'escalation', 'operator']).nullable().default(null),
  project: z.string().min(1).max(200).nullable().default(null),
  count: z.number().int().min(1).default(1),
  firstSeen: z.iso.datetime(),
  lastSeen: z.iso.datetime(),
  retired: z.boolean().default(false),
  createdBy: z.string().max(200).default('import'),
});

export function exportLine(precedent: Precedent): string {
  return JSON.stringify({
    format: FORMAT, version: VERSION, id: precedent.id, kind: precedent.kind, where: precedent.where, what: precedent.what,
    evidence: precedent.evidence, signature: precedent.signature, features: precedent.features, fix: precedent.fix,
    fixSource: precedent.fixSource, project: precedent.project, count: precedent.count,
    firstSeen: new Date(precedent.firstSeen).toISOString(), lastSeen: new Date(precedent.lastSeen).toISOString(),
    retired: precedent.retired, createdBy: precedent.createdBy,
  });
}

export interface ImportResult {
  added: number;
  merged: number;
}

export async function importPrecedents(gateway: Gateway, text: string, principal: Principal): Promise<ImportResult> {
  const lines = text.split('\n');
  const parsed: z.infer<typeof lineSchema>[] = [];
  const problems: string[] = [];
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      problems.push(`line ${index + 1}: not valid JSON`);
      continue;
    }
    const result = lineSchema.safeParse(value);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      problems.push(`line ${index + 1}: ${issue.path.join('.') || 'line'}: ${issue.message}`);
      continue;
    }
    if (principal.role === 'viewer' || !canSee(principal, result.data.project)) problems.push(`line ${index + 1}: ${principal.name} may not write precedents of project ${result.data.project ?? '(none)'}`);
    parsed.push(result.data);
  }
  if (problems.length > 0) {
    throw new GatewayError('invalid_request', 'invalid_request', `nothing was imported: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? ` (and ${problems.length - 10} more)` : ''}`, { retryable: false });
  }
  let added = 0;
  let merged = 0;
  for (const line of parsed) {
    const clean = sanitizeObservation({
      kind: line.kind, where: line.where, what: line.what, evidence: line.evidence, taskText: line.signature, features: line.features,
      fix: line.fix, fixSource: line.fixSource, project: line.project, runId: null, callId: null, at: Date.parse(line.lastSeen), createdBy: line.createdBy,
    });
    const mergeKey = mergeKeyOf(clean.kind, clean.where, clean.what);
    const existing = await gateway.precedents.store.findByMergeKey(mergeKey);
    if (existing) {
      // Counts come from another ledger: the larger is kept, so importing a file twice changes nothing.
      const takeFix = existing.fix === null && clean.fix !== null;
      await gateway.precedents.put({
        ...existing,
        count: Math.max(existing.count, line.count),
        firstSeen: Math.min(existing.firstSeen, Date.parse(line.firstSeen)),
        lastSeen: Math.max(existing.lastSeen, Date.parse(line.lastSeen)),
        fix: takeFix ? clean.fix : existing.fix,
        fixSource: takeFix ? clean.fixSource : existing.fixSource,
      });
      merged++;
      continue;
    }
    const idTaken = line.id !== undefined && (await gateway.precedents.store.get(line.id)) !== undefined;
    await gateway.precedents.put({
      id: line.id && !idTaken ? line.id : newId('prec'), kind: clean.kind, where: clean.where, what: clean.what, evidence: clean.evidence,
      signature: clean.taskText, features: clean.features, fix: clean.fix, fixSource: clean.fix === null ? null : clean.fixSource, mergeKey,
      project: clean.project, count: line.count, firstSeen: Date.parse(line.firstSeen), lastSeen: Date.parse(line.lastSeen),
      retired: line.retired, lastRunId: null, lastCallId: null, createdBy: clean.createdBy,
    });
    added++;
  }
  await gateway.audit.record({ actor: principal.name, role: principal.role, action: 'precedent.import', runId: null, target: null, note: `${added} added, ${merged} merged` });
  return { added, merged };
}
