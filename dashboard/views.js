// @ts-check
import { api, refreshApprovalCount, state } from './app.js';
import { hbars, lineChart, stackedBars, waterfall } from './charts.js';
import { count, duration, h, money, replace, time } from './dom.js';

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
      h('thead', null, h('tr', null, ...['Run', 'State', 'Clock', 'Spent', 'Left', 'Burn', 'To zero', 'Model', 'In flight', ''].map((title) => h('th', { text: title })))),
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
        left: h('td', { class: 'num left' }), burn: h('td', { class: 'num burn' }), zero: h('td', { class: 'num zero' }),
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

let detail = { id: '', calls: -1, state: '', header: /** @type {HTMLElement | null} */ (null), body: /** @type {HTMLElement | null} */ (null) };

/** @param {HTMLElement} page @param {string} id */
export async function renderRunDetail(page, id) {
  const header = h('div', { class: 'run-header' });
  const body = h('div', { class: 'run-body' });
  detail = { id, calls: -1, state: '', header, body };
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
      stat('Spent', money(run.spentUsd), 'spent'), stat('Reserved', money(run.reservedUsd)), stat('Budget', money(run.budgetUsd)),
      stat('Left', run.remainingUsd === null ? 'no budget' : money(run.remainingUsd), 'left'),
      stat('Burn', run.burnRatePerHourUsd > 0 ? `${money(run.burnRatePerHourUsd)}/h` : '—', 'burn'),
      stat('To zero', duration(run.msToZero), 'zero'), stat('Model', run.lastModel ?? '—', 'model'),
      stat('Calls', `${run.calls}${run.callsInFlight ? ` (+${run.callsInFlight} in flight)` : ''}`)),
    actions);
  if (run.calls === detail.calls && run.state === detail.state) return;
  detail.calls = run.calls;
  detail.state = run.state;
  const id = run.id;
  const [{ calls }, children, audit] = await Promise.all([
    api(`/api/runs/${encodeURIComponent(id)}/calls`),
    api(`/api/runs/${encodeURIComponent(id)}/children`).catch(() => ({ runs: [] })),
    api(`/api/audit?run=${encodeURIComponent(id)}`).catch(() => ({ audit: [] })),
  ]);
  if (detail.id !== id || !detail.body?.isConnected) return;
  replace(detail.body,
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

function stat(label, value, name) {
  return h('div', { class: `stat${name ? ` stat-${name}` : ''}` }, h('span', { class: 'label', text: label }), h('span', { class: 'value', text: value }));
}

function verdictText(verdict) {
  if (verdict === undefined || verdict === null) return '';
  if (typeof verdict === 'string') return verdict;
  return String(verdict.verdict ?? verdict.status ?? verdict.outcome ?? JSON.stringify(verdict));
}

function callsTable(calls) {
  const withVerdict = calls.some((call) => call.verdict !== undefined && call.verdict !== null);
  const titles = ['Time', 'Step', 'Model', 'Status', 'In', 'Out', 'Cost', ...(withVerdict ? ['Verdict'] : []), 'Latency', ''];
  return h('table', { class: 'calls' },
    h('thead', null, h('tr', null, ...titles.map((title) => h('th', { text: title })))),
    h('tbody', null, ...calls.map((call) => h('tr', { class: `status-${call.status}` },
      h('td', { text: time(call.startedAt) }), h('td', { text: call.step ?? '' }), h('td', { text: call.model }),
      h('td', { text: call.status + (call.errorCode ? ` (${call.errorCode})` : '') }),
      h('td', { class: 'num', text: count(call.inputTokens + call.cacheReadTokens + call.cacheWriteTokens) }), h('td', { class: 'num', text: count(call.outputTokens) }),
      h('td', { class: 'num', text: money(call.costUsd) }),
      withVerdict ? h('td', { class: 'verdict', text: verdictText(call.verdict) }) : null,
      h('td', { class: 'num', text: duration(call.latencyMs) }),
      h('td', null, call.estimated ? h('span', { class: 'badge estimated', title: 'token counts estimated by InTime (usage missing or stream cut)', text: 'estimated' }) : null)))));
}

/* ---------- spend ---------- */

/** @param {HTMLElement} page */
export async function renderSpend(page) {
  const chart = h('div', { class: 'chart' });
  const by = select('by', ['model', 'key', 'project', 'provider']);
  const bucket = select('bucket', ['hour', 'day']);
  const top = h('div', { class: 'top-burners' });
  const waste = h('section', { class: 'waste', hidden: true });
  const draw = async () => {
    try {
      const series = await api(`/api/spend-series?by=${by.value}&bucket=${bucket.value}`);
      replace(chart, series.points.length ? stackedBars(series.points, bucket.value) : h('p', { class: 'empty', text: 'No spend in this period.' }));
    } catch (error) {
      replace(chart, h('p', { class: 'error', text: error.message }));
    }
  };
  by.addEventListener('change', draw);
  bucket.addEventListener('change', draw);
  replace(page, h('h2', { text: 'Spend over time' }), h('div', { class: 'controls' }, h('label', null, 'by ', by), h('label', null, 'per ', bucket)), chart,
    h('h2', { text: 'Top burners (24 h)' }), top, waste);
  await draw();
  const since = new Date(Date.now() - 86_400_000).toISOString();
  const groups = await Promise.all(['run', 'key', 'project', 'model'].map((dimension) => api(`/api/spend?by=${dimension}&since=${since}`).then(
    (result) => h('div', { class: 'burners' }, h('h3', { text: `by ${dimension}` }), hbars(result.rows.slice(0, 8).map((row) => ({ label: row.group ?? '(none)', value: Number(row.costUsd) })))),
    (error) => (error.status === 403 ? null : h('p', { class: 'error', text: error.message })))));
  replace(top, ...(groups.some(Boolean) ? groups : [h('p', { class: 'empty', text: 'Top burners need a token that sees every project.' })]));
  // Waste (silent burns) comes from output contracts; shown when this gateway answers for it.
  try {
    const result = await api('/api/waste?bucket=day');
    const points = wastePoints(result);
    if (points) {
      waste.hidden = false;
      replace(waste, h('h2', { text: 'Waste over time' }), points.length ? lineChart(points) : h('p', { class: 'empty', text: 'No waste recorded.' }));
    }
  } catch {
    waste.hidden = true;
  }
}

/** Accepts the waste endpoint's rows in a few plausible shapes; null when unrecognisable. */
function wastePoints(result) {
  const rows = result?.points ?? result?.series ?? result?.rows ?? result?.days ?? (Array.isArray(result) ? result : null);
  if (!Array.isArray(rows)) return null;
  return rows.map((row) => ({
    label: String(row.at ?? row.day ?? row.bucket ?? row.group ?? row.date ?? ''),
    value: Number(row.wasteUsd ?? row.wastedUsd ?? row.costUsd ?? row.usd ?? 0),
  }));
}

function select(name, options) {
  return /** @type {HTMLSelectElement} */ (h('select', { name }, ...options.map((option) => h('option', { value: option, text: option }))));
}

/* ---------- approvals ---------- */

/** @param {HTMLElement} page */
export async function renderApprovals(page) {
  const [{ approvals: pending }, { approvals: recent }] = await Promise.all([api('/api/approvals?state=pending'), api('/api/approvals?limit=20')]);
  const decided = recent.filter((approval) => approval.state !== 'pending');
  const mayDecide = state.me?.role !== 'viewer';
  replace(page,
    h('h2', { text: `Waiting for a decision (${pending.length})` }),
    pending.length ? h('div', { class: 'approvals' }, ...pending.map((approval) => approvalCard(approval, mayDecide))) : h('p', { class: 'empty', text: 'Nothing is waiting.' }),
    h('h2', { text: 'Recently decided' }),
    h('table', { class: 'decided' }, h('tbody', null, ...decided.map((approval) => h('tr', null,
      h('td', { text: time(approval.decidedAt) }), h('td', { text: approval.tool }), h('td', { class: `badge state-${approval.state}`, text: approval.state }),
      h('td', { text: approval.decidedBy ?? '' }), h('td', { text: approval.note ?? '' }))))));
}

function approvalCard(approval, mayDecide) {
  const note = /** @type {HTMLInputElement} */ (h('input', { type: 'text', class: 'note', placeholder: 'note (optional)', maxlength: 1000 }));
  const decide = (verdict) => async (event) => {
    const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
    button.disabled = true;
    try {
      await api(`/api/approvals/${encodeURIComponent(approval.id)}/${verdict}`, { method: 'POST', body: JSON.stringify(note.value ? { note: note.value } : {}) });
      await refreshApprovalCount();
    } catch (error) {
      flash(`Could not ${verdict}: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  };
  return h('article', { class: 'approval', 'data-approval': approval.id },
    h('header', null, h('b', { text: approval.tool }), ' ', h('span', { class: 'sub', text: `run ${approval.run ?? '—'} · ${approval.model} · expires ${time(approval.expiresAt)}` })),
    h('pre', { class: 'args', text: typeof approval.arguments === 'string' ? approval.arguments : JSON.stringify(approval.arguments, null, 2) }),
    mayDecide ? h('div', { class: 'decide' }, note,
      h('button', { type: 'button', class: 'act act-approve', text: 'Approve', onclick: decide('approve') }),
      h('button', { type: 'button', class: 'act act-deny', text: 'Deny', onclick: decide('deny') })) : null);
}

/* ---------- alerts ---------- */

/** @param {HTMLElement} page */
export async function renderAlerts(page) {
  const { alerts } = await api('/api/alerts');
  state.alerts = alerts;
  replace(page, h('h2', { text: 'Alerts' }),
    alerts.length
      ? h('table', { class: 'alerts' }, h('tbody', null, ...alerts.map((alert) => h('tr', { class: `alert-${alert.type}` },
        h('td', { text: time(alert.at) }), h('td', null, h('span', { class: `badge type-${alert.type}`, text: alert.type.replace('_', ' ') })),
        h('td', { text: alert.message })))))
      : h('p', { class: 'empty', text: 'No alerts. Burn-rate anomalies, budget thresholds and waiting approvals show here.' }));
}
