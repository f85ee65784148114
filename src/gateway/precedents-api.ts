import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { mergeKeyOf, PRECEDENT_KINDS, sanitizeObservation, type Precedent, type PrecedentKind } from '../core/precedents.js';
import { GatewayError, invalidRequest } from '../protocols/errors.js';
import { canSee, requireAct, type Principal } from './authorize.js';
import type { Gateway } from './gateway.js';
import { readBody, sendJson } from './http.js';
import { precedentReport, precedentView } from './precedent-report.js';
import { exportLine, importPrecedents } from './precedents-transfer.js';

const label = z.string().min(1).max(128).nullable().optional();
const whereSchema = z.object({ pipeline: label, stage: label, model: label, tool: label, contract: label }).strict();

/** A precedent written by hand: what to watch for, where, and what to do. */
const newPrecedentSchema = z.object({
  kind: z.enum(PRECEDENT_KINDS).optional(),
  where: whereSchema.optional(),
  what: z.string().min(1).max(4000),
  evidence: z.string().max(20_000).optional(),
  signature: z.string().max(20_000).optional(),
  fix: z.string().max(4000).nullable().optional(),
  project: z.string().min(1).max(200).nullable().optional(),
}).strict();

const patchSchema = z.object({
  where: whereSchema.optional(),
  what: z.string().min(1).max(4000).optional(),
  evidence: z.string().max(20_000).optional(),
  signature: z.string().max(20_000).optional(),
  fix: z.string().max(4000).nullable().optional(),
  retired: z.boolean().optional(),
}).strict();

const retrieveSchema = z.object({
  stage: z.string().min(1).max(128),
  text: z.string().max(200_000),
  pipeline: z.string().max(200).nullable().optional(),
  project: z.string().max(200).nullable().optional(),
  maxTokens: z.number().int().min(20).max(20_000).optional(),
  minRelevance: z.number().min(0).max(1).optional(),
  limit: z.number().int().min(1).max(50).optional(),
  minScoreShare: z.number().min(0).max(1).optional(),
}).strict();

/**
 * The precedents routes of the control API; false for any other route. Reading needs a
 * principal that sees the precedent's project; writing needs an operator or admin of it.
 *
 *   GET   /api/precedents?stage=&kind=&retired=1&report=1&limit=
 *   POST  /api/precedents {what, where?, fix?, evidence?, signature?, kind?, project?}   one written by hand
 *   GET   /api/precedents/export                  JSONL, one precedent a line (retired ones too)
 *   POST  /api/precedents/import                  JSONL; all lines valid or nothing is written
 *   POST  /api/precedents/retrieve {stage, text, …} what a call at that stage would be given
 *   GET   /api/precedents/:id                     the precedent and its report
 *   PATCH /api/precedents/:id {what?, fix?, where?, evidence?, signature?, retired?}
 *
 * Listed and shown precedents carry `actions`: what this principal may do to each (the dashboard's buttons).
 */
export async function handlePrecedentsApi(gateway: Gateway, request: IncomingMessage, response: ServerResponse, url: URL, principal: Principal): Promise<boolean> {
  const parts = url.pathname.split('/').filter(Boolean).slice(1); // drop "api"
  if (parts[0] !== 'precedents' || parts.length > 2) return false;
  const method = request.method ?? 'GET';
  const service = gateway.precedents;
  await service.settled();
  const visible = (precedent: Precedent) => canSee(principal, precedent.project);

  if (parts.length === 1 && method === 'GET') {
    const kind = url.searchParams.get('kind') ?? undefined;
    if (kind !== undefined && !(PRECEDENT_KINDS as readonly string[]).includes(kind)) throw invalidRequest(`kind must be one of ${PRECEDENT_KINDS.join(', ')}`, 'kind');
    const precedents = (await service.store.list({
      stage: url.searchParams.get('stage') ?? undefined, kind: kind as PrecedentKind | undefined,
      includeRetired: url.searchParams.get('retired') === '1', limit: boundedLimit(url.searchParams.get('limit')),
    })).filter(visible);
    const withReport = url.searchParams.get('report') === '1';
    const views = await Promise.all(precedents.map(async (precedent) => ({
      ...precedentView(precedent), actions: actionsFor(principal, precedent), ...(withReport ? { report: await precedentReport(gateway, precedent) } : {}),
    })));
    sendJson(response, 200, { precedents: views });
    return true;
  }
  if (parts.length === 1 && method === 'POST') {
    const body = parse(newPrecedentSchema, await readJson(gateway, request));
    requireAct(principal, body.project ?? null, 'write precedents');
    const precedent = await writeByHand(gateway, body, principal);
    sendJson(response, 201, precedentView(precedent));
    return true;
  }
  if (parts[1] === 'export' && method === 'GET') {
    const precedents = (await service.store.list({ includeRetired: true, limit: 1_000_000 })).filter(visible);
    response.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store' });
    response.end(precedents.map((precedent) => `${exportLine(precedent)}\n`).join(''));
    return true;
  }
  if (parts[1] === 'import' && method === 'POST') {
    const text = (await readBody(request, gateway.config.maxBodyBytes)).toString('utf8');
    const result = await importPrecedents(gateway, text, principal);
    sendJson(response, 200, result);
    return true;
  }
  if (parts[1] === 'retrieve' && method === 'POST') {
    const body = parse(retrieveSchema, await readJson(gateway, request));
    if (body.project !== undefined && body.project !== null && !canSee(principal, body.project)) throw invalidRequest(`${principal.name} may not see project ${body.project}`, 'project');
    const defaults = service.retrievalOptions();
    const injection = await service.retrieve(
      { stage: body.stage, pipeline: body.pipeline ?? null, project: body.project ?? null, taskText: body.text },
      {
        maxTokens: body.maxTokens ?? defaults.maxTokens, minRelevance: body.minRelevance ?? defaults.minRelevance,
        limit: body.limit ?? defaults.limit, minScoreShare: body.minScoreShare ?? defaults.minScoreShare,
      },
    );
    sendJson(response, 200, injection);
    return true;
  }
  const precedent = await service.store.get(parts[1]!);
  if (!precedent || !visible(precedent)) throw new GatewayError('not_found', 'not_found', `precedent ${parts[1]} not found`, { retryable: false });
  if (method === 'GET') {
    sendJson(response, 200, { ...precedentView(precedent), actions: actionsFor(principal, precedent), report: await precedentReport(gateway, precedent) });
    return true;
  }
  if (method === 'PATCH') {
    requireAct(principal, precedent.project, 'edit precedents');
    const changes = parse(patchSchema, await readJson(gateway, request));
    const updated = applyPatch(precedent, changes);
    const twin = await service.store.findByMergeKey(updated.mergeKey);
    if (twin && twin.id !== precedent.id) {
      throw new GatewayError('invalid_request', 'invalid_request', `precedent ${twin.id} already says this at that place: edit or retire that one instead`, { status: 409, retryable: false });
    }
    await service.put(updated);
    await gateway.audit.record({ actor: principal.name, role: principal.role, action: changes.retired ? 'precedent.retire' : 'precedent.edit', runId: null, target: precedent.id, note: null });
    sendJson(response, 200, { ...precedentView(updated), actions: actionsFor(principal, updated) });
    return true;
  }
  throw new GatewayError('not_found', 'not_found', `${method} ${url.pathname} not found`, { retryable: false });
}

/** What this principal may press on this precedent (the dashboard shows only these): as requireAct decides. */
function actionsFor(principal: Principal, precedent: Precedent): ('edit' | 'retire' | 'restore')[] {
  const mayAct = principal.role !== 'viewer' && canSee(principal, precedent.project);
  return mayAct ? ['edit', precedent.retired ? 'restore' : 'retire'] : [];
}

async function writeByHand(gateway: Gateway, body: z.infer<typeof newPrecedentSchema>, principal: Principal): Promise<Precedent> {
  const where = { pipeline: null, stage: null, model: null, tool: null, contract: null, ...withoutUndefined(body.where ?? {}) };
  const observation = {
    kind: body.kind ?? 'manual', where, what: body.what, evidence: body.evidence ?? '', taskText: body.signature ?? '', features: {},
    fix: body.fix ?? null, fixSource: body.fix ? ('operator' as const) : null, project: body.project ?? null,
    runId: null, callId: null, at: Date.now(), createdBy: principal.name,
  };
  const precedent = await gateway.precedents.observe(observation);
  if (!precedent) throw new GatewayError('invalid_request', 'invalid_request', 'precedent recording is turned off (precedents.record: false)', { status: 409, retryable: false });
  await gateway.audit.record({ actor: principal.name, role: principal.role, action: 'precedent.write', runId: null, target: precedent.id, note: null });
  return precedent;
}

/** An edit is the operator's word: redacted like any text, and a fix written here is never replaced by an inferred one. */
function applyPatch(precedent: Precedent, changes: z.infer<typeof patchSchema>): Precedent {
  const where = changes.where ? { ...precedent.where, ...withoutUndefined(changes.where) } : precedent.where;
  const clean = sanitizeObservation({
    kind: precedent.kind, where,
    what: changes.what ?? precedent.what, evidence: changes.evidence ?? precedent.evidence, taskText: changes.signature ?? precedent.signature,
    features: precedent.features, fix: changes.fix === undefined ? precedent.fix : changes.fix, fixSource: null,
    project: precedent.project, runId: null, callId: null, at: precedent.lastSeen, createdBy: precedent.createdBy,
  });
  const fixChanged = changes.fix !== undefined;
  return {
    ...precedent,
    where: clean.where,
    what: clean.what,
    evidence: clean.evidence,
    signature: clean.taskText,
    fix: clean.fix,
    fixSource: fixChanged ? (clean.fix === null ? null : 'operator') : precedent.fixSource,
    mergeKey: mergeKeyOf(precedent.kind, clean.where, clean.what),
    retired: changes.retired ?? precedent.retired,
  };
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.join('.');
  throw invalidRequest(`${path ? `"${path}": ` : ''}${issue.message}`, path || undefined);
}

async function readJson(gateway: Gateway, request: IncomingMessage): Promise<unknown> {
  const body = await readBody(request, gateway.config.maxBodyBytes);
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw invalidRequest('the body is not valid JSON');
  }
}

function boundedLimit(text: string | null): number {
  const value = text === null ? 200 : Number(text);
  return Number.isSafeInteger(value) && value > 0 ? Math.min(value, 10_000) : 200;
}

function withoutUndefined<T extends Record<string, unknown>>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}
