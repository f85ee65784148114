// @ts-check
import { api, refreshApprovalCount, state } from './app.js';
import { hbars, lineChart, stackedBars } from './charts.js';
import { flash } from './runs.js';
import { h, money, replace, time } from './dom.js';

/** Spend charts, the approvals queue and the alerts list. */
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
  await drawWaste(waste);
}

/**
 * Waste (silent burns): spend on outputs that failed their contract, per day over the
 * last 30 days (GET /api/waste?by=day), and where it burned, by stage and by model.
 */
async function drawWaste(section) {
  const since = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
  const heading = h('h2', { text: 'Waste over time (30 days)' });
  section.hidden = false;
  try {
    const [days, stages, models] = await Promise.all(['day', 'stage', 'model'].map((by) => api(`/api/waste?by=${by}&since=${since}`)));
    const total = days.total;
    replace(section, heading,
      h('p', { class: 'sub waste-total', text: `${money(total.wastedUsd)} of ${money(total.costUsd)} spent bought outputs that failed their contract (${(total.wastedShare * 100).toFixed(1)}%, ${total.failedCalls} of ${total.calls} calls; ${total.retries} retries)` }),
      Number(total.wastedUsd) > 0 ? lineChart(wastePoints(days.rows)) : h('p', { class: 'empty', text: 'No waste recorded.' }),
      Number(total.wastedUsd) > 0 ? h('div', { class: 'waste-by' },
        ...[['stage', stages], ['model', models]].map(([by, result]) => h('div', { class: 'burners' }, h('h3', { text: `wasted by ${by}` }),
          hbars(result.rows.filter((row) => Number(row.wastedUsd) > 0).slice(0, 8).map((row) => ({ label: row.group ?? '(none)', value: Number(row.wastedUsd) })))))) : null);
  } catch (error) {
    replace(section, heading, h('p', { class: 'empty', text: error.status === 403 ? 'Waste needs a token that sees every project.' : error.message }));
  }
}

/**
 * The rows of /api/waste?by=day (one per day with any spend, biggest waste first) as one
 * point per day in date order, the days without spend between them at zero.
 * @param {{ group: string | null, wastedUsd: string }[]} rows
 */
function wastePoints(rows) {
  const byDay = new Map(rows.filter((row) => row.group).map((row) => [row.group, Number(row.wastedUsd)]));
  const days = [...byDay.keys()].sort();
  if (days.length === 0) return [];
  const points = [];
  for (let at = Date.parse(`${days[0]}T00:00:00Z`), last = Date.parse(`${days.at(-1)}T00:00:00Z`); at <= last; at += 86_400_000) {
    const day = new Date(at).toISOString().slice(0, 10);
    points.push({ label: day, value: byDay.get(day) ?? 0 });
  }
  return points;
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
