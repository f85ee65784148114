// @ts-check
import { api, state } from './app.js';
import { waterfall } from './charts.js';
import { count, duration, h, money, replace, time } from './dom.js';

/** Live runs with their clocks, and one run's calls, children and audit trail. */
/* ---------- runs ---------- */

/** @type {Map<string, { row: HTMLElement, cells: Record<string, HTMLElement>, actions: string }>} */
let rows = new Map();
/** @type {HTMLElement | null} */
let runsBody = null;

/** @param {HTMLElement} page */
export function renderRuns(page) {
  rows = new Map();
  runsBody = h('tbody');
  replace(page,
    h('h2', { text: 'Runs' }),
    h('table', { class: 'runs' },
      h('thead', null, h('tr', null, ...['Run', 'State', 'Clock', 'Spent', 'Wasted', 'Left', 'Burn', 'To zero', 'Forecast', 'Model', 'In flight', ''].map((title) => h('th', { text: title })))),
      runsBody),
    h('p', { class: 'empty', id: 'no-runs', text: 'No runs yet. Create one with `intime run` or POST /api/runs.' }));
  updateRuns();
}

export function updateRuns() {
  if (!runsBody || !runsBody.isConnected) return;
  const empty = document.getElementById('no-runs');
  if (empty) empty.hidden = state.runs.length > 0;
  const seen = new Set();
  state.runs.forEach((run, index) => {
    seen.add(run.id);
    let entry = rows.get(run.id);
    if (!entry) {
      const cells = {
        name: h('td', { class: 'name' }), state: h('td'), clock: h('td', { class: 'clock' }), spent: h('td', { class: 'num spent' }),
        wasted: h('td', { class: 'num wasted' }), left: h('td', { class: 'num left' }), burn: h('td', { class: 'num burn' }),
        zero: h('td', { class: 'num zero' }), forecast: h('td', { class: 'num forecast' }),
        model: h('td', { class: 'model' }), flight: h('td', { class: 'num flight' }), actions: h('td', { class: 'actions' }),
      };
      entry = { row: h('tr', { 'data-run': run.id }, ...Object.values(cells)), cells, actions: '\0' };
      rows.set(run.id, entry);
    }
    fillRunCells(entry, run);
    if (runsBody.children[index] !== entry.row) runsBody.insertBefore(entry.row, runsBody.children[index] ?? null);
  });
  for (const [id, entry] of rows) if (!seen.has(id)) { entry.row.remove(); rows.delete(id); }
}

function fillRunCells(entry, run) {
  const { cells } = entry;
  replace(cells.name,
    h('a', { href: `#/run/${encodeURIComponent(run.id)}`, text: run.name ?? run.id }),
    h('div', { class: 'sub', text: [run.project, run.parent ? `child of ${run.parent}` : null].filter(Boolean).join(' · ') || run.id }));
  replace(cells.state, stateBadge(run));
  replace(cells.clock, clockBar(run));
  cells.spent.textContent = money(run.spentUsd);
  cells.wasted.textContent = Number(run.wastedUsd) > 0 ? money(run.wastedUsd) : '—';
  cells.wasted.classList.toggle('burning', Number(run.wastedUsd) > 0);
  cells.wasted.title = 'spent on outputs that failed their contract';
  fillForecastCell(cells.forecast, run);
  cells.left.textContent = run.remainingUsd === null ? 'no budget' : money(run.remainingUsd);
  cells.burn.textContent = run.burnRatePerHourUsd > 0 ? `${money(run.burnRatePerHourUsd)}/h` : '—';
  cells.zero.textContent = duration(run.msToZero);
  cells.model.textContent = run.lastModel ?? '—';
  cells.flight.textContent = String(run.callsInFlight);
  const actions = run.actions.join(',');
  if (actions !== entry.actions) {
    entry.actions = actions;
    replace(cells.actions, ...runButtons(run));
  }
}

/** The forecast's P90 for the run's task, marked when the run's own spend has passed it. */
function fillForecastCell(cell, run) {
  const forecast = run.forecastCostUsd;
  if (!forecast) {
    cell.textContent = '—';
    cell.title = 'no task declared, or no history to forecast from';
    cell.classList.remove('over');
    return;
  }
  cell.textContent = `P90 ${money(forecast.p90)}`;
  cell.title = `forecast P50 ${money(forecast.p50)} · P90 ${money(forecast.p90)} · P99 ${money(forecast.p99)}; own spend ${money(run.ownSpentUsd)}`;
  cell.classList.toggle('over', Number(run.ownSpentUsd) > Number(forecast.p90));
}

function stateBadge(run) {
  return h('span', { class: `badge state-${run.state}`, title: run.endedReason ?? '', text: run.state });
}

/** Spent and reserved against the budget, as a bar. */
export function clockBar(run) {
  const budget = run.budgetUsd === null ? null : Number(run.budgetUsd);
  const bar = h('div', { class: `bar${budget === null ? ' unbounded' : ''}`, title: budget === null ? 'no money budget' : `${money(run.spentUsd)} spent, ${money(run.reservedUsd)} reserved of ${money(run.budgetUsd)}` });
  if (budget !== null && budget > 0) {
    const spent = h('div', { class: 'fill spent' });
    const reserved = h('div', { class: 'fill reserved' });
    const spentShare = Math.min(Number(run.spentUsd) / budget, 1);
    spent.style.width = `${(spentShare * 100).toFixed(2)}%`;
    reserved.style.width = `${(Math.min(Number(run.reservedUsd) / budget, 1 - spentShare) * 100).toFixed(2)}%`;
    bar.append(spent, reserved);
    if (spentShare >= 0.8) bar.classList.add('hot');
  }
  return bar;
}

/** Stop, Pause, Resume: only those the server says this principal may press on this run. */
function runButtons(run) {
  const labels = { stop: 'Stop', pause: 'Pause', resume: 'Resume' };
  return run.actions.map((action) => h('button', {
    type: 'button', class: `act act-${action}`, 'data-action': action, text: labels[action],
    onclick: async (event) => {
      const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
      button.disabled = true;
      try {
        await api(`/api/runs/${encodeURIComponent(run.id)}/${action}`, { method: 'POST', body: JSON.stringify({ note: `${action} from the dashboard` }) });
      } catch (error) {
        button.disabled = false;
        flash(`Could not ${action} ${run.id}: ${error.message}`);
      }
    },
  }));
}

export function flash(message) {
  const note = h('div', { class: 'flash', role: 'alert', text: message });
  document.body.append(note);
  setTimeout(() => note.remove(), 6000);
}

/* ---------- run detail ---------- */

let detail = { id: '', changes: '', header: /** @type {HTMLElement | null} */ (null), body: /** @type {HTMLElement | null} */ (null) };

/** @param {HTMLElement} page @param {string} id */
export async function renderRunDetail(page, id) {
  const header = h('div', { class: 'run-header' });
  const body = h('div', { class: 'run-body' });
  detail = { id, changes: '', header, body };
  replace(page, h('p', null, h('a', { href: '#/runs', text: '← all runs' })), header, body);
  let run = state.runs.find((candidate) => candidate.id === id);
  if (!run) {
    try {
      run = { ...(await api(`/api/runs/${encodeURIComponent(id)}`)), actions: [], burnRatePerHourUsd: 0, msToZero: null };
    } catch (error) {
      replace(header, h('p', { class: 'error', text: error.message }));
      return;
    }
  }
  await showRun(run);
}

export function updateRunDetail() {
  if (!detail.header?.isConnected) return;
  const run = state.runs.find((candidate) => candidate.id === detail.id);
  if (run) void showRun(run);
}

async function showRun(run) {
  const actions = h('div', { class: 'actions' }, ...runButtons(run));
  replace(/** @type {HTMLElement} */ (detail.header),
    h('h2', null, h('span', { text: run.name ?? run.id }), ' ', stateBadge(run)),
    h('div', { class: 'sub', text: [run.id, run.project && `project ${run.project}`, run.key && `key ${run.key}`, run.endedReason].filter(Boolean).join(' · ') }),
    h('div', { class: 'clock-card', 'data-run': run.id },
      clockBar(run),
      stat('Spent', money(run.spentUsd), 'spent'),
      stat('Wasted', money(run.wastedUsd), 'wasted', 'spent on this run\'s own calls whose output failed its contract, first tries and retries alike'),
      stat('Reserved', money(run.reservedUsd)), stat('Budget', money(run.budgetUsd)),
      stat('Left', run.remainingUsd === null ? 'no budget' : money(run.remainingUsd), 'left'),
      stat('Burn', run.burnRatePerHourUsd > 0 ? `${money(run.burnRatePerHourUsd)}/h` : '—', 'burn'),
      stat('To zero', duration(run.msToZero), 'zero'), stat('Model', run.lastModel ?? '—', 'model'),
      stat('Calls', `${run.calls}${run.callsInFlight ? ` (+${run.callsInFlight} in flight)` : ''}`)),
    actions);
  // Calls, verdicts (a late one moves the waste) and state: what the lists below show.
  const changes = `${run.calls}|${run.state}|${run.wastedUsd}|${run.lateVerdicts ?? 0}`;
  if (changes === detail.changes) return;
  detail.changes = changes;
  const id = run.id;
  const [{ calls }, full, children, audit] = await Promise.all([
    api(`/api/runs/${encodeURIComponent(id)}/calls`),
    api(`/api/runs/${encodeURIComponent(id)}`).catch(() => ({ forecast: null })),
    api(`/api/runs/${encodeURIComponent(id)}/children`).catch(() => ({ runs: [] })),
    api(`/api/audit?run=${encodeURIComponent(id)}`).catch(() => ({ audit: [] })),
  ]);
  if (detail.id !== id || !detail.body?.isConnected) return;
  replace(detail.body,
    full.forecast ? forecastSection(full.forecast) : null,
    h('h3', { text: 'Calls' }),
    calls.length ? waterfall(calls) : h('p', { class: 'empty', text: 'No calls yet.' }),
    calls.length ? callsTable(calls) : null,
    h('h3', { text: 'Child runs' }),
    children.runs.length
      ? h('ul', { class: 'children' }, ...children.runs.map((child) => h('li', null,
        h('a', { href: `#/run/${encodeURIComponent(child.id)}`, text: child.name ?? child.id }), ' ', h('span', { class: `badge state-${child.state}`, text: child.state }), ` ${money(child.spentUsd)}`)))
      : h('p', { class: 'empty', text: 'None.' }),
    h('h3', { text: 'Audit trail' }),
    audit.audit.length
      ? h('table', { class: 'audit' }, h('tbody', null, ...audit.audit.map((entry) => h('tr', null,
        h('td', { text: time(entry.at) }), h('td', { text: `${entry.actor} (${entry.role})` }), h('td', { text: entry.action }), h('td', { text: entry.note ?? '' })))))
      : h('p', { class: 'empty', text: 'Nothing yet.' }));
}

function stat(label, value, name, title) {
  return h('div', { class: `stat${name ? ` stat-${name}` : ''}`, title }, h('span', { class: 'label', text: label }), h('span', { class: 'value', text: value }));
}

/**
 * Forecast vs actual (GET /api/runs/:id): the task's P50, P90 and P99 for cost, tokens and
 * calls beside what the run's own calls used, and the band the actual fell in.
 */
function forecastSection(forecast) {
  const rows = [
    ['Cost', forecast.costUsd, forecast.actual.costUsd, forecast.actualBand.cost, money],
    ['Tokens', forecast.tokens, forecast.actual.tokens, forecast.actualBand.tokens, count],
    ['Calls', forecast.calls, forecast.actual.calls, forecast.actualBand.calls, String],
  ];
  return h('section', { class: 'forecast' },
    h('h3', { text: 'Forecast vs actual' }),
    h('p', { class: 'sub', text: forecast.summary }),
    forecast.costUsd ? h('table', { class: 'forecast' },
      h('thead', null, h('tr', null, ...['', 'P50', 'P90', 'P99', 'Actual', ''].map((title) => h('th', { text: title })))),
      h('tbody', null, ...rows.filter(([, quantiles]) => quantiles).map(([label, quantiles, actual, band, format]) => h('tr', { class: `forecast-${String(label).toLowerCase()}` },
        h('th', { text: label }), h('td', { class: 'num p50', text: format(quantiles.p50) }), h('td', { class: 'num p90', text: format(quantiles.p90) }),
        h('td', { class: 'num p99', text: format(quantiles.p99) }), h('td', { class: 'num actual', text: format(actual) }),
        h('td', null, band ? h('span', { class: `badge band${band === '>P99' || band === 'P90–P99' ? ' band-high' : ''}`, text: band }) : null)))))
      : null);
}

/** The contract's verdict on a call's output; why it failed on hover. */
function verdictCell(call) {
  const contract = call.contract;
  const name = contract.name ? `${contract.name}${contract.version ? `@${contract.version}` : ''}` : '';
  return h('td', { class: 'verdict' },
    contract.verdict === 'none' ? '—' : h('span', { class: `badge verdict-${contract.verdict}`, title: contract.violation ?? name, text: contract.verdict }),
    name ? h('div', { class: 'sub', text: name }) : null,
    contract.violation ? h('div', { class: 'sub violation', title: contract.violation, text: contract.violation }) : null);
}

function callsTable(calls) {
  const withVerdict = calls.some((call) => call.contract.verdict !== 'none' || call.attempt > 1);
  const titles = ['Time', 'Step', 'Model', 'Status', 'In', 'Out', 'Cost', ...(withVerdict ? ['Verdict', 'Attempt'] : []), 'Latency', ''];
  return h('table', { class: 'calls' },
    h('thead', null, h('tr', null, ...titles.map((title) => h('th', { text: title })))),
    h('tbody', null, ...calls.map((call) => h('tr', { class: `status-${call.status} verdict-${call.contract.verdict}`, 'data-call': call.id },
      h('td', { text: time(call.startedAt) }), h('td', { text: call.step ?? '' }), h('td', { text: call.model }),
      h('td', { text: call.status + (call.errorCode ? ` (${call.errorCode})` : '') }),
      h('td', { class: 'num', text: count(call.inputTokens + call.cacheReadTokens + call.cacheWriteTokens) }), h('td', { class: 'num', text: count(call.outputTokens) }),
      h('td', { class: 'num', text: money(call.costUsd) }),
      withVerdict ? verdictCell(call) : null,
      withVerdict ? h('td', { class: 'num attempt', title: call.retryOf ? `retries ${call.retryOf}` : '', text: call.attempt > 1 ? `#${call.attempt}` : '1' }) : null,
      h('td', { class: 'num', text: duration(call.latencyMs) }),
      h('td', null, call.estimated ? h('span', { class: 'badge estimated', title: 'token counts estimated by InTime (usage missing or stream cut)', text: 'estimated' }) : null)))));
}

