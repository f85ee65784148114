import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalidRequest } from '../protocols/errors.js';
import { requireAdmin, requireSee, type Principal } from './authorize.js';
import { forecastView, taskFromBody } from './forecasts.js';
import type { Gateway } from './gateway.js';
import { parseJsonObject, readBody, sendJson } from './http.js';

/** Imports arrive in batches; the CLI sends a file in chunks of this many lines. */
export const MAX_IMPORT_BATCH = 5000;

/**
 * The forecast routes of the control API; false for any other route. The caller has
 * already authenticated the token. Forecasts draw on every project's history, so they
 * need a principal who may see all projects; importing history is for admins.
 *
 *   POST /api/forecast {group|pipeline, model, inputTokens, stages?, tools?, tags?, difficulty?, features?}
 *   POST /api/history/import {runs: [ {id, group, model, features, inputTokens, outputTokens, calls, costUsd?, outcome?, finishedAt?} ]}
 *   GET  /api/history  (how many runs the forecaster learns from, by source and group)
 */
export async function handleForecastApi(gateway: Gateway, request: IncomingMessage, response: ServerResponse, url: URL, principal: Principal): Promise<boolean> {
  const route = `${request.method ?? 'GET'} ${url.pathname}`;
  if (route === 'POST /api/forecast') {
    requireSee(principal, null, 'forecasts drawn on every project\'s history');
    const body = parseJsonObject(await readBody(request, gateway.config.maxBodyBytes));
    sendJson(response, 200, forecastView(await gateway.forecasts.forecast(taskFromBody(body, 'body'))));
    return true;
  }
  if (route === 'POST /api/history/import') {
    requireAdmin(principal, 'import run history');
    const body = parseJsonObject(await readBody(request, gateway.config.maxBodyBytes));
    if (!Array.isArray(body.runs)) throw invalidRequest('"runs" must be a list of finished runs', 'runs');
    if (body.runs.length > MAX_IMPORT_BATCH) throw invalidRequest(`at most ${MAX_IMPORT_BATCH} runs per request`, 'runs');
    const result = await gateway.forecasts.importLines(body.runs, Date.now());
    sendJson(response, 200, result);
    return true;
  }
  if (route === 'GET /api/history') {
    requireSee(principal, null, 'the history of every project');
    const history = await gateway.forecasts.store.history();
    const groups = new Map<string, number>();
    for (const run of history) groups.set(run.task.group ?? '(none)', (groups.get(run.task.group ?? '(none)') ?? 0) + 1);
    sendJson(response, 200, {
      runs: history.length,
      imported: history.filter((run) => run.source === 'import').length,
      ledger: history.filter((run) => run.source === 'ledger').length,
      groups: [...groups].map(([group, runs]) => ({ group, runs })).sort((a, b) => b.runs - a.runs),
    });
    return true;
  }
  return false;
}
