import type { IncomingMessage, ServerResponse } from 'node:http';
import { formatUsd } from '../core/money.js';
import { GatewayError, invalidRequest } from '../protocols/errors.js';
import { spendSeries, type SeriesBucket, type SeriesDimension } from '../stores/sqlite-spend-series.js';
import { SqliteLedger } from '../stores/sqlite-ledger.js';
import { alertView, type Alert } from './alerts.js';
import { authenticate, canSee, requireSee, type Principal } from './authorize.js';
import type { Gateway } from './gateway.js';
import { sendJson } from './http.js';
import { liveRuns } from './live.js';
import { runView } from './views.js';

/** How often an open event stream gets fresh clocks even when nothing settled: burn rates and projections move with time. */
const TICK_MS = 2000;
/** Changes within this window are sent as one snapshot. */
const COALESCE_MS = 100;
const HEARTBEAT_MS = 15_000;
const DIMENSIONS: SeriesDimension[] = ['model', 'key', 'project', 'provider'];

/**
 * The routes the dashboard needs beyond the control API (returns false for others):
 *
 *   GET /api/me                     who the token is, and its role
 *   GET /api/events                 server-sent events: `runs` snapshots, `approvals`, `alert`
 *   GET /api/live-runs              the `runs` snapshot, once
 *   GET /api/alerts?limit=100       alerts the principal may see, newest first
 *   GET /api/runs/:id/children      a run's sub-runs
 *   GET /api/spend-series?by=model&bucket=hour&since=ISO
 *
 * Everything is scoped like the rest of the API: a principal sees its projects only.
 */
export async function handleDashboardApi(gateway: Gateway, request: IncomingMessage, response: ServerResponse, url: URL, principal: Principal): Promise<boolean> {
  if ((request.method ?? 'GET') !== 'GET') return false;
  const parts = url.pathname.split('/').filter(Boolean).slice(1);
  const path = parts.join('/');
  if (path === 'me') {
    sendJson(response, 200, { id: principal.id, name: principal.name, role: principal.role, projects: principal.projects });
    return true;
  }
  if (path === 'events') {
    await streamEvents(gateway, request, response, principal);
    return true;
  }
  if (path === 'live-runs') {
    sendJson(response, 200, { runs: await liveRuns(gateway, principal), at: new Date(gateway.budgets.now()).toISOString() });
    return true;
  }
  if (path === 'alerts') {
    const limit = Math.min(Math.max(Number(url.searchParams.get('limit')) || 100, 1), 1000);
    sendJson(response, 200, { alerts: gateway.alerts.list((alert) => canSee(principal, alert.project), limit).map(alertView) });
    return true;
  }
  if (parts[0] === 'runs' && parts.length === 3 && parts[2] === 'children') {
    const run = await gateway.ledger.getRun(parts[1]!);
    if (!run) throw new GatewayError('not_found', 'not_found', `run ${parts[1]} not found`, { retryable: false });
    requireSee(principal, run.project, `run ${run.id}`);
    const children = await gateway.ledger.listChildRuns(run.id);
    const totals = await gateway.ledger.runTotals(children.map((child) => child.id));
    sendJson(response, 200, { runs: await Promise.all(children.map(async (child) => runView(child, totals.get(child.id), await gateway.budgets.runClock(child.id)))) });
    return true;
  }
  if (path === 'spend-series') {
    const by = (url.searchParams.get('by') ?? 'model') as SeriesDimension;
    if (!DIMENSIONS.includes(by)) throw invalidRequest(`by must be one of ${DIMENSIONS.join(', ')}`, 'by');
    const bucket = (url.searchParams.get('bucket') ?? 'hour') as SeriesBucket;
    if (bucket !== 'hour' && bucket !== 'day') throw invalidRequest('bucket must be hour or day', 'bucket');
    const sinceText = url.searchParams.get('since');
    const since = sinceText === null ? gateway.budgets.now() - (bucket === 'hour' ? 86_400_000 : 30 * 86_400_000) : Date.parse(sinceText);
    if (Number.isNaN(since)) throw invalidRequest('since must be an ISO date or time', 'since');
    if (!(gateway.ledger instanceof SqliteLedger)) throw new GatewayError('invalid_request', 'invalid_request', 'spend series need the SQLite ledger', { status: 501, retryable: false });
    const points = spendSeries(gateway.ledger.database, { by, bucket, since, projects: principal.projects });
    sendJson(response, 200, {
      by, bucket, since: new Date(since).toISOString(),
      points: points.map((point) => ({ at: new Date(point.at).toISOString(), group: point.group, costUsd: formatUsd(point.cost), calls: point.calls })),
    });
    return true;
  }
  return false;
}

/**
 * A server-sent event stream for one dashboard. Sends a `runs` snapshot at once, then
 * whenever a run's clock or state changes (coalesced) and every couple of seconds;
 * `approvals` when the queue changed (the page refetches, with its own scope) and each
 * `alert` the principal may see.
 */
async function streamEvents(gateway: Gateway, request: IncomingMessage, response: ServerResponse, principal: Principal): Promise<void> {
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
  });
  const send = (event: string, data: unknown) => {
    if (response.writableEnded || response.destroyed) return;
    response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  let timer: NodeJS.Timeout | undefined;
  let sending = false;
  let again = false;
  const sendRuns = async () => {
    if (sending) {
      again = true;
      return;
    }
    sending = true;
    try {
      send('runs', { runs: await gateway.live.snapshot(gateway, principal, performance.now()), at: new Date(gateway.budgets.now()).toISOString() });
    } catch (error) {
      gateway.log.error('live snapshot failed', { error: (error as Error).message });
    } finally {
      sending = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      void sendRuns();
    }, COALESCE_MS);
  };
  const onApprovals = () => send('approvals', {});
  const onAlert = (alert: Alert) => {
    if (canSee(principal, alert.project)) send('alert', alertView(alert));
  };
  // Each tick also checks the token again: a revoked principal's stream ends within a tick.
  const tick = setInterval(() => {
    authenticate(gateway, request).then(schedule, close);
  }, TICK_MS);
  const heartbeat = setInterval(() => !response.destroyed && response.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const end = () => {
    clearInterval(tick);
    clearInterval(heartbeat);
    if (timer) clearTimeout(timer);
    gateway.live.off('runs', schedule);
    gateway.live.off('approvals', onApprovals);
    gateway.live.off('alert', onAlert);
    gateway.live.off('close', close);
  };
  const close = () => {
    end();
    response.end();
  };
  gateway.live.on('runs', schedule);
  gateway.live.on('approvals', onApprovals);
  gateway.live.on('alert', onAlert);
  gateway.live.on('close', close);
  request.on('close', end);
  response.write('retry: 2000\n\n');
  await sendRuns();
}
