import type { IncomingMessage, ServerResponse } from 'node:http';
import { formatUsd } from '../core/money.js';
import { GatewayError, invalidRequest, notFound } from '../protocols/errors.js';
import type { ContractJudgement, ContractRecord, WasteDimension, WasteRow } from '../stores/ledger.js';
import { authenticate, requireAct, requireAdmin, requireSee, type Principal } from './authorize.js';
import type { Gateway } from './gateway.js';
import { parseJsonObject, readBody, sendJson, timeParameter } from './http.js';
import { presentedToken } from './identity.js';
import { verdictRecorded } from './signals.js';
import { callView } from './views.js';
import { reviseRouting } from './routing/learning.js';
import { precedentFromVerdict } from './precedent-recording.js';

const WASTE_DIMENSIONS: WasteDimension[] = ['stage', 'model', 'run', 'day'];
const NAME_PATTERN = /^[A-Za-z0-9._:\/-]{1,128}$/;
const VERDICTS = ['passed', 'failed'] as const;

/**
 * The contracts routes of the control API; false for any other route.
 *
 *   POST /api/contracts {name, schema, description?}   registers the next version of NAME
 *   GET  /api/contracts                                every version of every contract
 *   GET  /api/contracts/:name[?version=N]              the latest (or the given) version
 *   GET  /api/calls/:id                                one ledger entry, with its verdict
 *   POST /api/calls/:id/verdict {verdict, contract?, version?, violation?}
 *        by the run's own token (the library) or an operator: a failure is never undone
 *   GET  /api/waste?by=stage|model|run|day&run=&since=&until=
 */
export async function handleContractsApi(gateway: Gateway, request: IncomingMessage, response: ServerResponse, url: URL): Promise<boolean> {
  const method = request.method ?? 'GET';
  const parts = url.pathname.split('/').filter(Boolean).slice(1); // drop "api"
  // The library judges with checks the gateway cannot see, holding only its run token.
  if (method === 'POST' && parts[0] === 'calls' && parts.length === 3 && parts[2] === 'verdict') {
    await postVerdict(gateway, request, response, parts[1]!);
    return true;
  }
  if (parts[0] !== 'contracts' && parts[0] !== 'waste' && !(parts[0] === 'calls' && parts.length === 2)) return false;
  const principal = await authenticate(gateway, request);
  if (parts[0] === 'calls' && method === 'GET') {
    const call = await gateway.ledger.getCall(parts[1]!);
    if (!call) throw notFound(`call ${parts[1]}`);
    requireSee(principal, call.project, `call ${call.id}`);
    sendJson(response, 200, callView(call));
    return true;
  }
  if (parts[0] === 'waste' && method === 'GET' && parts.length === 1) {
    await sendWaste(gateway, url, response, principal);
    return true;
  }
  if (parts[0] === 'contracts' && parts.length === 1 && method === 'POST') {
    requireAdmin(principal, 'register contracts');
    const contract = await gateway.ledger.putContract(contractFrom(await readJson(gateway, request), principal));
    await gateway.audit.record({ actor: principal.name, role: principal.role, action: 'contract.register', runId: null, target: `${contract.name}@${contract.version}`, note: contract.description });
    sendJson(response, 201, contractView(contract));
    return true;
  }
  if (parts[0] === 'contracts' && parts.length === 1 && method === 'GET') {
    sendJson(response, 200, { contracts: (await gateway.ledger.listContracts()).map(contractView) });
    return true;
  }
  if (parts[0] === 'contracts' && parts.length === 2 && method === 'GET') {
    const versionText = url.searchParams.get('version');
    const version = versionText === null ? undefined : Number(versionText);
    if (version !== undefined && (!Number.isSafeInteger(version) || version < 1)) throw invalidRequest('version must be a positive integer', 'version');
    const contract = await gateway.ledger.getContract(decodeURIComponent(parts[1]!), version);
    if (!contract) throw notFound(`contract ${parts[1]}${version ? `@${version}` : ''}`);
    sendJson(response, 200, contractView(contract));
    return true;
  }
  throw notFound(`${method} ${url.pathname}`);
}

async function postVerdict(gateway: Gateway, request: IncomingMessage, response: ServerResponse, callId: string): Promise<void> {
  const call = await gateway.ledger.getCall(callId);
  const token = presentedToken(request);
  if (token?.startsWith('it_run_')) {
    const identity = await gateway.identities.resolve(request);
    // A run may judge only its own calls; an unknown id answers the same, leaking nothing.
    if (!call || identity.kind !== 'run' || identity.run.id !== call.runId) throw notFound(`call ${callId}`);
  } else {
    const principal = await authenticate(gateway, request);
    if (!call) throw notFound(`call ${callId}`);
    requireAct(principal, call.project, 'judge calls');
  }
  const judgement = judgementFrom(await readJson(gateway, request));
  const { before, after } = await oneAtATime(callId, async () => {
    // Read again under the lock: two verdicts racing on one call see each other, so the
    // first failure is the only one counted as waste.
    const current = await gateway.ledger.getCall(callId);
    return { before: current, after: current && await gateway.ledger.recordVerdict(callId, judgement) };
  });
  if (!before || !after) throw notFound(`call ${callId}`);
  verdictRecorded(gateway, before, after);
  // The router learned from the gateway's verdict; the library's checks may have overturned it.
  reviseRouting(gateway, before, after);
  // Recorded before answering: the library's next attempt may already be looking for it.
  await precedentFromVerdict(gateway, before, after).catch((error: Error) => gateway.log.error('precedent recording failed', { call: callId, error: error.message }));
  sendJson(response, 200, callView(after));
}

const verdictsInFlight = new Map<string, Promise<unknown>>();

/** Runs `work` after any other verdict work on the same call has finished. */
async function oneAtATime<T>(callId: string, work: () => Promise<T>): Promise<T> {
  const previous = verdictsInFlight.get(callId) ?? Promise.resolve();
  const current = previous.catch(() => undefined).then(work);
  verdictsInFlight.set(callId, current);
  try {
    return await current;
  } finally {
    if (verdictsInFlight.get(callId) === current) verdictsInFlight.delete(callId);
  }
}

async function sendWaste(gateway: Gateway, url: URL, response: ServerResponse, principal: Principal): Promise<void> {
  const by = (url.searchParams.get('by') ?? 'stage') as WasteDimension;
  if (!WASTE_DIMENSIONS.includes(by)) throw invalidRequest(`by must be one of ${WASTE_DIMENSIONS.join(', ')}`, 'by');
  const runId = url.searchParams.get('run') ?? undefined;
  if (runId !== undefined) requireSee(principal, (await gateway.ledger.getRun(runId))?.project ?? null, `run ${runId}`);
  else requireSee(principal, null, 'waste across projects');
  const rows = await gateway.ledger.waste({ by, runId, since: timeParameter(url, 'since'), until: timeParameter(url, 'until') });
  const total = rows.reduce((sum, row) => ({
    group: null, cost: sum.cost + row.cost, wasted: sum.wasted + row.wasted, calls: sum.calls + row.calls,
    failedCalls: sum.failedCalls + row.failedCalls, retries: sum.retries + row.retries,
  }), { group: null, cost: 0n, wasted: 0n, calls: 0, failedCalls: 0, retries: 0 } as WasteRow);
  sendJson(response, 200, { by, rows: rows.map(wasteRowView), total: wasteRowView(total) });
}

export function wasteRowView(row: WasteRow) {
  return {
    group: row.group,
    costUsd: formatUsd(row.cost),
    wastedUsd: formatUsd(row.wasted),
    // Of every dollar in this group, how much bought output that failed its contract.
    wastedShare: row.cost === 0n ? 0 : Number((row.wasted * 10_000n) / row.cost) / 10_000,
    calls: row.calls,
    failedCalls: row.failedCalls,
    retries: row.retries,
  };
}

function contractView(contract: ContractRecord) {
  return { ...contract, createdAt: new Date(contract.createdAt).toISOString() };
}

function contractFrom(body: Record<string, unknown>, principal: Principal): Omit<ContractRecord, 'version'> {
  const name = body.name;
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) throw invalidRequest('"name" must be 1-128 letters, digits or ._:/-', 'name');
  const schema = body.schema;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) throw invalidRequest('"schema" must be a JSON Schema object', 'schema');
  const description = body.description;
  if (description !== undefined && description !== null && typeof description !== 'string') throw invalidRequest('"description" must be a string', 'description');
  return { name, schema: schema as Record<string, unknown>, description: description ?? null, createdAt: Date.now(), createdBy: principal.name };
}

function judgementFrom(body: Record<string, unknown>): ContractJudgement {
  const verdict = body.verdict;
  if (!VERDICTS.includes(verdict as (typeof VERDICTS)[number])) throw invalidRequest('"verdict" must be "passed" or "failed"', 'verdict');
  const name = body.contract ?? null;
  if (name !== null && (typeof name !== 'string' || !NAME_PATTERN.test(name))) throw invalidRequest('"contract" must be 1-128 letters, digits or ._:/-', 'contract');
  const version = body.version ?? null;
  if (version !== null && (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1)) throw invalidRequest('"version" must be a positive integer', 'version');
  const violation = body.violation ?? null;
  if (violation !== null && typeof violation !== 'string') throw invalidRequest('"violation" must be a string', 'violation');
  if (verdict === 'failed' && violation === null) throw invalidRequest('a failed verdict needs a "violation" saying what failed', 'violation');
  return { verdict: verdict as ContractJudgement['verdict'], name: name as string | null, version: version as number | null, violation: violation === null ? null : violation.slice(0, 1000) };
}

async function readJson(gateway: Gateway, request: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(request, gateway.config.maxBodyBytes);
  return body.length === 0 ? {} : parseJsonObject(body);
}
