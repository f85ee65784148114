import type { IncomingMessage, ServerResponse } from 'node:http';
import { SCOPE_PATTERN, type ApprovalPolicy, type DenyAction } from '../core/tool-policy.js';
import { GatewayError, invalidRequest, notFound } from '../protocols/errors.js';
import type { ApprovalState } from '../stores/approvals.js';
import { approvalView } from './approvals.js';
import { canSee, requireAct, requireAdmin, requireSee, type Principal } from './authorize.js';
import type { Gateway } from './gateway.js';
import { parseJsonObject, readBody, sendJson } from './http.js';

const STATES: ApprovalState[] = ['pending', 'approved', 'denied', 'timed_out', 'abandoned'];
/** A day: a held answer keeps its connection and its reservation open for as long as this. */
const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;
const TOOL_PATTERN = /^[\p{L}\p{N}_.:\/*?-]{1,128}$/u;

/**
 * The approvals routes of the control API. Returns false for any other route. It does
 * no authorization of its own: the caller (handleApi) has already checked the token.
 *
 *   GET  /api/approvals?state=pending&run=<id>&limit=100
 *   GET  /api/approvals/:id
 *   POST /api/approvals/:id/approve {note?, by?}
 *   POST /api/approvals/:id/deny    {note?, by?}
 *   GET  /api/approval-policies
 *   PUT  /api/approval-policies {scope, tools, timeoutMs?, onDeny?, webhook?}
 *   DELETE /api/approval-policies?scope=<scope>
 */
export async function handleApprovalsApi(gateway: Gateway, request: IncomingMessage, response: ServerResponse, url: URL, principal: Principal): Promise<boolean> {
  const method = request.method ?? 'GET';
  const parts = url.pathname.split('/').filter(Boolean).slice(1); // drop "api"
  const approvals = gateway.approvals;

  if (parts[0] === 'approvals') {
    const id = parts[1];
    if (method === 'GET' && parts.length === 1) {
      const state = url.searchParams.get('state') ?? undefined;
      if (state !== undefined && !STATES.includes(state as ApprovalState)) throw invalidRequest(`state must be one of ${STATES.join(', ')}`, 'state');
      const list = await approvals.list({
        state: state as ApprovalState | undefined,
        runId: url.searchParams.get('run') ?? undefined,
        limit: boundedLimit(url.searchParams.get('limit')),
      });
      const visible = [];
      for (const record of list) if (canSee(principal, await projectOfRun(gateway, record.runId))) visible.push(record);
      sendJson(response, 200, { approvals: visible.map(approvalView) });
      return true;
    }
    if (method === 'GET' && parts.length === 2) {
      const record = await approvals.get(id!);
      if (!record) throw notFound(`approval ${id}`);
      requireSee(principal, await projectOfRun(gateway, record.runId), `approval ${id}`);
      sendJson(response, 200, approvalView(record));
      return true;
    }
    if (method === 'POST' && parts.length === 3 && (parts[2] === 'approve' || parts[2] === 'deny')) {
      const existing = await approvals.get(id!);
      if (!existing) throw notFound(`approval ${id}`);
      requireAct(principal, await projectOfRun(gateway, existing.runId), `${parts[2]} approval ${id}`);
      const body = await readJson(gateway, request);
      const note = optionalText(body, 'note', 1000);
      const record = await approvals.decide(id!, parts[2] === 'approve' ? 'approved' : 'denied', actorOf(body, principal), note);
      sendJson(response, 200, approvalView(record));
      return true;
    }
    return false;
  }

  if (parts[0] === 'approval-policies' && parts.length === 1) {
    requireSee(principal, null, 'approval policies');
    if (method === 'GET') {
      sendJson(response, 200, {
        policies: approvals.listPolicies().map(({ policy, source }) => policyView(policy, source)),
        defaults: { timeoutMs: gateway.config.approvals.timeoutMs, onDeny: gateway.config.approvals.onDeny },
      });
      return true;
    }
    if (method === 'PUT' || method === 'POST' || method === 'DELETE') requireAdmin(principal, 'change approval policies');
    if (method === 'PUT' || method === 'POST') {
      const policy = policyFrom(await readJson(gateway, request));
      await checkScopeExists(gateway, policy.scope);
      await approvals.setPolicy(policy);
      sendJson(response, 200, policyView(policy, 'api'));
      return true;
    }
    if (method === 'DELETE') {
      const scope = url.searchParams.get('scope');
      if (!scope) throw invalidRequest('scope is required', 'scope');
      if (!(await approvals.deletePolicy(scope))) throw notFound(`approval policy for ${scope}`);
      sendJson(response, 200, { scope, deleted: true });
      return true;
    }
  }
  return false;
}

/** The principal decides; a shared admin token may say who is behind it (the CLI sends the OS user). */
function actorOf(body: Record<string, unknown>, principal: Principal): string {
  const by = optionalText(body, 'by', 200);
  return principal.id === 'root' && by ? by : principal.name;
}

async function projectOfRun(gateway: Gateway, runId: string | null): Promise<string | null> {
  return runId === null ? null : (await gateway.budgets.run(runId))?.project ?? null;
}

function policyFrom(body: Record<string, unknown>): ApprovalPolicy {
  const scope = body.scope;
  if (typeof scope !== 'string' || !SCOPE_PATTERN.test(scope)) {
    throw invalidRequest('"scope" must be "global", "project:<name>", "key:<key id>" or "run:<run id>"', 'scope');
  }
  const tools = body.tools;
  if (!Array.isArray(tools) || tools.length > 200 || !tools.every((tool) => typeof tool === 'string' && TOOL_PATTERN.test(tool))) {
    throw invalidRequest('"tools" must be a list of up to 200 tool names or globs (letters, digits, _ . : / - and the wildcards * ?)', 'tools');
  }
  const timeoutMs = body.timeoutMs ?? null;
  if (timeoutMs !== null && (typeof timeoutMs !== 'number' || !Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS)) {
    throw invalidRequest(`"timeoutMs" must be a positive integer up to ${MAX_TIMEOUT_MS}`, 'timeoutMs');
  }
  const onDeny = body.onDeny ?? null;
  if (onDeny !== null && onDeny !== 'strip' && onDeny !== 'stop') throw invalidRequest('"onDeny" must be "strip" or "stop"', 'onDeny');
  const webhook = optionalText(body, 'webhook', 2000);
  if (webhook !== null && !/^https?:\/\//.test(webhook)) throw invalidRequest('"webhook" must be an http(s) URL', 'webhook');
  return { scope, tools: tools as string[], timeoutMs: timeoutMs as number | null, onDeny: onDeny as DenyAction | null, webhook };
}

async function checkScopeExists(gateway: Gateway, scope: string): Promise<void> {
  if (scope.startsWith('run:') && !(await gateway.ledger.getRun(scope.slice(4)))) throw notFound(scope);
  if (scope.startsWith('key:') && !(await gateway.ledger.listKeys()).some((key) => key.id === scope.slice(4))) throw notFound(scope);
}

function policyView(policy: ApprovalPolicy, source: 'config' | 'api') {
  // A webhook URL may embed a secret (Slack's do): shown as set, never echoed.
  return { ...policy, webhook: policy.webhook === null ? null : '(set)', source };
}

async function readJson(gateway: Gateway, request: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(request, gateway.config.maxBodyBytes);
  return body.length === 0 ? {} : parseJsonObject(body);
}

function optionalText(body: Record<string, unknown>, field: string, max: number): string | null {
  const value = body[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > max) throw invalidRequest(`"${field}" must be a string of 1-${max} characters`, field);
  return value;
}

function boundedLimit(text: string | null): number {
  const value = text === null ? 100 : Number(text);
  return Number.isSafeInteger(value) && value > 0 ? Math.min(value, 1000) : 100;
}
