import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError, invalidRequest } from '../protocols/errors.js';
import { requireAct, type Principal } from './authorize.js';
import type { Gateway } from './gateway.js';
import { parseJsonObject, readBody, sendJson } from './http.js';
import { runView } from './views.js';
import { precedentFromStop } from './precedent-recording.js';

const ACTIONS = new Set(['stop', 'pause', 'resume', 'complete']);

/**
 * POST /api/runs/:id/{stop,pause,resume,complete} {note?}. A stop is acknowledged once
 * the run's calls in flight (and its sub-runs') are cut and new ones refused: after the
 * answer, not one more content event reaches its agents. Each action is audited.
 */
export async function handleRunControl(gateway: Gateway, request: IncomingMessage, response: ServerResponse, runId: string, action: string, principal: Principal): Promise<boolean> {
  if (request.method !== 'POST' || !ACTIONS.has(action)) return false;
  const receivedAt = performance.now();
  const run = await gateway.budgets.run(runId);
  if (!run) throw new GatewayError('not_found', 'not_found', `run ${runId} not found`, { retryable: false });
  requireAct(principal, run.project, `${action} run ${runId}`);
  const raw = await readBody(request, gateway.config.maxBodyBytes);
  const body = raw.length === 0 ? {} : parseJsonObject(raw);
  const note = body.note === undefined || body.note === null ? null : String(body.note).slice(0, 1000);
  if (typeof body.note === 'object' && body.note !== null) throw invalidRequest('"note" must be a string', 'note');
  let changed = false;
  // What a stop did here: the calls it cut, and how soon after the request their agents all had the error.
  let stop: { callsCut: number; endedInMs: number; allEnded: boolean } | undefined;
  switch (action) {
    case 'stop':
      changed = run.state === 'running' || run.state === 'paused';
      if (changed) {
        const startedAt = performance.now();
        const ended = await gateway.budgets.endRun(run.id, 'stopped', note ?? `stopped by ${principal.name}`);
        if (ended) {
          stop = { callsCut: ended.callsCut, endedInMs: Math.round((startedAt - receivedAt + ended.endedInMs) * 1000) / 1000, allEnded: ended.allEnded };
          gateway.metrics.observeStop(stop.endedInMs / 1000);
        }
        // A stop with a reason is worth remembering; one without says nothing to learn from.
        if (note) await precedentFromStop(gateway, run, note, principal.name);
      }
      break;
    case 'pause':
      changed = await gateway.budgets.pauseRun(run.id);
      break;
    case 'resume':
      changed = (await gateway.budgets.resumeRun(run.id)) !== undefined;
      break;
    case 'complete':
      changed = run.state === 'running' || run.state === 'paused';
      if (changed) await gateway.budgets.endRun(run.id, 'completed', note ?? 'finished');
      break;
  }
  if (changed && action !== 'complete') {
    await gateway.audit.record({ actor: principal.name, role: principal.role, action: `run.${action}`, runId: run.id, target: run.id, note });
  }
  const current = (await gateway.budgets.run(run.id))!;
  const totals = await gateway.ledger.runTotals([run.id]);
  const view = runView(current, totals.get(run.id), await gateway.budgets.runClock(run.id));
  sendJson(response, 200, { ...view, changed, ...(stop ? { stop } : {}) });
  return true;
}
