import type { IncomingMessage, ServerResponse } from 'node:http';
import { NO_LIMITS, remainingOf } from '../core/budget.js';
import { formatUsd, MoneyFormatError, parseUsd, type Money } from '../core/money.js';
import { GatewayError, invalidRequest, notFound } from '../protocols/errors.js';
import type { BudgetRecord, Role, RunState, SpendDimension } from '../stores/ledger.js';
import { emptyTotals } from '../stores/ledger.js';
import { handleApprovalsApi } from './approvals-api.js';
import { handleRoutingApi } from './routing/policies-api.js';
import { handleDashboardApi } from './api-dashboard.js';
import { handleForecastApi } from './forecast-api.js';
import { forecastVersusActual, forecastView, taskFromBody } from './forecasts.js';
import { handleContractsApi } from './contracts-api.js';
import { handlePrecedentsApi } from './precedents-api.js';
import type { Gateway } from './gateway.js';
import { parseJsonObject, readBody, sendJson, timeParameter } from './http.js';
import { handleRunControl } from './api-run-control.js';
import { authenticate, canSee, requireAct, requireAdmin, requireSee } from './authorize.js';
import { hashToken, newId, newToken } from './secrets.js';
import { callView, keyView, runView, spendRowView, totalsView } from './views.js';

const SPEND_DIMENSIONS: SpendDimension[] = ['model', 'key', 'day', 'run', 'project', 'step', 'provider'];
const RUN_STATES: RunState[] = ['running', 'paused', 'stopped', 'exhausted', 'completed'];

/**
 * The control API. Every route needs a principal's token (the admin token, or one made
 * with POST /api/principals); what it may see and do follows its role and projects. Run
 * tokens and virtual keys get 403.
 */
export async function handleApi(gateway: Gateway, request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
  // Before authenticate: a run's own token may post verdicts on its calls.
  if (await handleContractsApi(gateway, request, response, url)) return;
  const principal = await authenticate(gateway, request);
  if (await handleApprovalsApi(gateway, request, response, url, principal)) return;
  if (await handleRoutingApi(gateway, request, response, url, principal)) return;
  if (await handleDashboardApi(gateway, request, response, url, principal)) return;
  if (await handleForecastApi(gateway, request, response, url, principal)) return;
  if (await handlePrecedentsApi(gateway, request, response, url, principal)) return;
  const method = request.method ?? 'GET';
  const parts = url.pathname.split('/').filter(Boolean).slice(1); // drop "api"
  const route = `${method} /${parts.map((part, index) => (index % 2 === 1 ? ':id' : part)).join('/')}`;
  const id = parts[1];
  if (parts[0] === 'runs' && parts.length === 3 && (await handleRunControl(gateway, request, response, id!, parts[2]!, principal))) return;

  switch (route) {
    case 'POST /runs': {
      const body = await readJson(gateway, request);
      requireAct(principal, typeof body.project === 'string' ? body.project : null, 'create runs');
      return sendJson(response, 201, await createRun(gateway, body));
    }
    case 'POST /principals': {
      requireAdmin(principal, 'create principals');
      return sendJson(response, 201, await createPrincipal(gateway, await readJson(gateway, request)));
    }
    case 'GET /principals':
      requireAdmin(principal, 'list principals');
      return sendJson(response, 200, { principals: await gateway.ledger.listPrincipals() });
    case 'GET /audit': {
      const runId = url.searchParams.get('run') ?? undefined;
      if (runId !== undefined) requireSee(principal, (await gateway.budgets.run(runId))?.project ?? null, `run ${runId}`);
      else requireSee(principal, null, 'the whole audit trail');
      const entries = await gateway.ledger.listAudit({ runId, limit: boundedInt(url.searchParams.get('limit'), 200, 5000) });
      return sendJson(response, 200, { audit: entries.map((entry) => ({ ...entry, at: new Date(entry.at).toISOString() })) });
    }
    case 'GET /runs': {
      const state = url.searchParams.get('state') ?? undefined;
      if (state !== undefined && !RUN_STATES.includes(state as RunState)) throw invalidRequest(`state must be one of ${RUN_STATES.join(', ')}`, 'state');
      const runs = (await gateway.ledger.listRuns({ limit: boundedInt(url.searchParams.get('limit'), 100, 1000), state: state as RunState | undefined }))
        .filter((run) => canSee(principal, run.project));
      const totals = await gateway.ledger.runTotals(runs.map((run) => run.id));
      const clocks = await Promise.all(runs.map((run) => gateway.budgets.runClock(run.id)));
      const tasks = await gateway.forecasts.store.listRunTasks(runs.map((run) => run.id));
      return sendJson(response, 200, {
        runs: runs.map((run, index) => {
          const forecast = tasks.get(run.id)?.forecast;
          // Forecast vs actual at a glance: the full forecast is on GET /api/runs/:id.
          return { ...runView(run, totals.get(run.id), clocks[index]), forecast: forecast ? { status: forecast.status, costUsd: forecastView(forecast).costUsd } : null };
        }),
      });
    }
    case 'GET /runs/:id': {
      const run = await gateway.ledger.getRun(id!);
      if (!run) throw notFound(`run ${id}`);
      requireSee(principal, run.project, `run ${id}`);
      const totals = await gateway.ledger.runTotals([run.id]);
      const runTotals = totals.get(run.id) ?? emptyTotals();
      const task = await gateway.forecasts.store.getRunTask(run.id);
      return sendJson(response, 200, {
        ...runView(run, runTotals, await gateway.budgets.runClock(run.id)),
        lastModel: await gateway.ledger.lastModel(run.id),
        callsInFlight: gateway.inflight.count(run.id),
        task: task?.task ?? null,
        forecast: task?.forecast ? forecastVersusActual(task.forecast, {
          cost: runTotals.cost,
          tokens: runTotals.inputTokens + runTotals.cacheReadTokens + runTotals.cacheWriteTokens + runTotals.outputTokens,
          calls: runTotals.calls,
        }) : null,
      });
    }
    case 'GET /runs/:id/calls': {
      const run = await gateway.ledger.getRun(id!);
      if (!run) throw notFound(`run ${id}`);
      requireSee(principal, run.project, `run ${id}`);
      const calls = await gateway.ledger.listCalls(id!);
      return sendJson(response, 200, { calls: calls.map(callView) });
    }
    case 'GET /spend': {
      requireSee(principal, null, 'spend across projects');
      const by = (url.searchParams.get('by') ?? 'model') as SpendDimension;
      if (!SPEND_DIMENSIONS.includes(by)) throw invalidRequest(`by must be one of ${SPEND_DIMENSIONS.join(', ')}`, 'by');
      const rows = await gateway.ledger.spend({
        by,
        since: timeParameter(url, 'since'),
        until: timeParameter(url, 'until'),
        runId: url.searchParams.get('run') ?? undefined,
      });
      const total = rows.reduce((sum, row) => ({
        cost: sum.cost + row.cost,
        inputTokens: sum.inputTokens + row.inputTokens,
        cacheReadTokens: sum.cacheReadTokens + row.cacheReadTokens,
        cacheWriteTokens: sum.cacheWriteTokens + row.cacheWriteTokens,
        outputTokens: sum.outputTokens + row.outputTokens,
        calls: sum.calls + row.calls,
        estimatedCalls: sum.estimatedCalls + row.estimatedCalls,
        wasted: (sum.wasted ?? 0n) + (row.wasted ?? 0n),
      }), emptyTotals());
      return sendJson(response, 200, { by, rows: rows.map(spendRowView), total: totalsView(total) });
    }
    case 'POST /keys': {
      requireAdmin(principal, 'create keys');
      const body = await readJson(gateway, request);
      const name = optionalString(body, 'name');
      if (!name) throw invalidRequest('"name" is required', 'name');
      const token = newToken('it_key');
      const key = await gateway.ledger.createKey({
        id: newId('key'), tokenHash: hashToken(token), name, project: optionalString(body, 'project'), createdAt: Date.now(),
      });
      return sendJson(response, 201, { ...keyView(key), key: token });
    }
    case 'GET /keys':
      requireSee(principal, null, 'keys');
      return sendJson(response, 200, { keys: (await gateway.ledger.listKeys()).map(keyView) });
    case 'PUT /budgets':
    case 'POST /budgets': {
      requireAdmin(principal, 'set budgets');
      const budget = budgetFrom(await readJson(gateway, request));
      if (budget.scope.startsWith('key:') && !(await gateway.ledger.listKeys()).some((key) => `key:${key.id}` === budget.scope)) {
        throw notFound(budget.scope);
      }
      await gateway.budgets.setBudget(budget);
      return sendJson(response, 200, await budgetView(budget, gateway));
    }
    case 'GET /budgets':
      requireSee(principal, null, 'budgets');
      return sendJson(response, 200, { budgets: await Promise.all(gateway.budgets.listBudgets().map((budget) => budgetView(budget, gateway))) });
    case 'GET /models':
      return sendJson(response, 200, {
        models: gateway.prices.models().map((model) => ({ id: model.id, provider: model.provider, source: model.source })),
      });
    default:
      throw notFound(`${method} ${url.pathname}`);
  }
}

async function createRun(gateway: Gateway, body: Record<string, unknown>) {
  const parentId = optionalString(body, 'parent');
  let keyId = optionalString(body, 'key');
  let project = optionalString(body, 'project');
  if (parentId) {
    const parent = await gateway.ledger.getRun(parentId);
    if (!parent) throw notFound(`parent run ${parentId}`);
    project ??= parent.project;
    keyId ??= parent.keyId;
  }
  if (keyId) {
    const key = (await gateway.ledger.listKeys()).find((candidate) => candidate.id === keyId);
    if (!key) throw notFound(`key ${keyId}`);
    project ??= key.project;
  }
  const deadlineMs = optionalPositiveInt(body, 'deadlineMs');
  // A declared task is forecast (and kept, for forecast vs actual); budget "auto" reserves its P90.
  const task = body.task === undefined || body.task === null ? null : taskFromBody(body.task);
  if (task && task.group === null) task.group = optionalString(body, 'name');
  let budget: Money | null;
  let forecast = null;
  if (body.budgetUsd === 'auto') {
    if (!task) throw invalidRequest('"budgetUsd": "auto" needs a "task" to forecast: its pipeline (or group), model, input size, features', 'task');
    ({ budget, forecast } = await gateway.forecasts.autoBudget(task));
  } else {
    budget = optionalMoney(body, 'budgetUsd');
    if (task) forecast = await gateway.forecasts.forecast(task);
  }
  const token = newToken('it_run');
  const run = await gateway.ledger.createRun({
    id: newId('run'),
    tokenHash: hashToken(token),
    name: optionalString(body, 'name'),
    parentId,
    keyId,
    project,
    budget,
    budgetTokens: optionalPositiveInt(body, 'budgetTokens'),
    maxCalls: optionalPositiveInt(body, 'maxCalls'),
    deadlineAt: deadlineMs === null ? null : Date.now() + deadlineMs,
    overflowPolicy: optionalPolicy(body) ?? gateway.config.budgets.overflowPolicy,
    createdAt: Date.now(),
  });
  gateway.budgets.track(run);
  if (task) await gateway.forecasts.store.saveRunTask({ runId: run.id, task, forecast, createdAt: run.createdAt });
  // The token is the run's API key for its agent: returned here once, stored only as a digest.
  return {
    ...runView(run),
    token,
    ...(task ? { task, forecast: forecast && forecastView(forecast), budgetSource: body.budgetUsd === 'auto' ? 'forecast P90' : null } : {}),
  };
}

function budgetFrom(body: Record<string, unknown>): BudgetRecord {
  const scope = optionalString(body, 'scope');
  if (!scope || !/^(key|project):.+$/.test(scope)) throw invalidRequest('"scope" must be "key:<key id>" or "project:<name>"', 'scope');
  const window = body.window ?? 'total';
  if (window !== 'total' && window !== 'day' && window !== 'month') throw invalidRequest('"window" must be total, day or month', 'window');
  const softThreshold = body.softThreshold;
  if (softThreshold !== undefined && softThreshold !== null && (typeof softThreshold !== 'number' || softThreshold <= 0 || softThreshold > 1)) {
    throw invalidRequest('"softThreshold" must be a number in (0, 1]', 'softThreshold');
  }
  const webhook = optionalString(body, 'webhook');
  if (webhook !== null && !/^https?:\/\//.test(webhook)) throw invalidRequest('"webhook" must be an http(s) URL', 'webhook');
  return {
    scope,
    money: optionalMoney(body, 'budgetUsd'),
    tokens: optionalPositiveInt(body, 'budgetTokens'),
    calls: optionalPositiveInt(body, 'maxCalls'),
    window,
    softThreshold: typeof softThreshold === 'number' ? softThreshold : null,
    webhook,
    updatedAt: Date.now(),
  };
}

async function budgetView(budget: BudgetRecord, gateway: Gateway) {
  const state = await gateway.budgets.scopeState(budget.scope);
  const remaining = state ? remainingOf(state) : NO_LIMITS;
  return {
    scope: budget.scope,
    window: budget.window,
    windowStart: state ? new Date(state.windowStart).toISOString() : null,
    budgetUsd: budget.money === null ? null : formatUsd(budget.money),
    budgetTokens: budget.tokens,
    maxCalls: budget.calls,
    softThreshold: budget.softThreshold ?? gateway.config.budgets.softThreshold,
    webhook: budget.webhook === null ? null : '(set)',
    spentUsd: formatUsd(state?.spent.money ?? 0n),
    reservedUsd: formatUsd(state?.reserved.money ?? 0n),
    remainingUsd: remaining.money === null ? null : formatUsd(remaining.money),
    spentTokens: state?.spent.tokens ?? 0,
    calls: state?.spent.calls ?? 0,
  };
}

const ROLES: Role[] = ['admin', 'operator', 'viewer'];

async function createPrincipal(gateway: Gateway, body: Record<string, unknown>) {
  const name = optionalString(body, 'name');
  if (!name) throw invalidRequest('"name" is required', 'name');
  const role = body.role as Role;
  if (!ROLES.includes(role)) throw invalidRequest(`"role" must be one of ${ROLES.join(', ')}`, 'role');
  let projects: string[] | null = null;
  if (body.projects !== undefined && body.projects !== null) {
    if (!Array.isArray(body.projects) || body.projects.some((project) => typeof project !== 'string' || project.length === 0)) {
      throw invalidRequest('"projects" must be a list of project names', 'projects');
    }
    projects = body.projects as string[];
  }
  const token = newToken('it_admin');
  const principal = { id: newId('principal'), name, role, projects, createdAt: Date.now(), revokedAt: null };
  await gateway.ledger.createPrincipal({ ...principal, tokenHash: hashToken(token) });
  // Shown once; stored only as a digest.
  return { ...principal, token };
}

async function readJson(gateway: Gateway, request: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(request, gateway.config.maxBodyBytes);
  return body.length === 0 ? {} : parseJsonObject(body);
}

function optionalString(body: Record<string, unknown>, field: string): string | null {
  const value = body[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > 200) throw invalidRequest(`"${field}" must be a string of 1-200 characters`, field);
  return value;
}

function optionalPositiveInt(body: Record<string, unknown>, field: string): number | null {
  const value = body[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw invalidRequest(`"${field}" must be a positive integer`, field);
  return value;
}

function optionalMoney(body: Record<string, unknown>, field: string): Money | null {
  const value = body[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' && typeof value !== 'string') throw invalidRequest(`"${field}" must be a decimal USD amount`, field);
  try {
    const amount = parseUsd(value);
    if (amount < 0n) throw invalidRequest(`"${field}" must not be negative`, field);
    return amount;
  } catch (error) {
    if (error instanceof MoneyFormatError) throw invalidRequest(`"${field}": ${error.message}`, field);
    throw error;
  }
}

function optionalPolicy(body: Record<string, unknown>): 'clamp' | 'refuse' | null {
  const value = body.overflowPolicy;
  if (value === undefined || value === null) return null;
  if (value !== 'clamp' && value !== 'refuse') throw invalidRequest('"overflowPolicy" must be "clamp" or "refuse"', 'overflowPolicy');
  return value;
}

function boundedInt(text: string | null, fallback: number, max: number): number {
  const value = text === null ? fallback : Number(text);
  return Number.isSafeInteger(value) && value > 0 ? Math.min(value, max) : fallback;
}
