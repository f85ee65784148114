// @ts-check
import { api, state } from './app.js';
import { flash } from './runs.js';
import { h, money, replace, time } from './dom.js';

/**
 * Precedents: failures written down where they happened (GET /api/precedents?report=1),
 * with what each one's injection did to its recurrence. Every text here came from a model's
 * output, a tool's arguments or an operator's note: it goes in as text only. The buttons
 * are those the server lists in each precedent's `actions` (admins, operators of its project).
 */
const KINDS = ['contract_violation', 'stage_halted', 'budget_exhausted', 'run_stopped', 'approval_denied', 'manual'];
const ACTION_LABELS = { edit: 'Edit', retire: 'Retire', restore: 'Restore' };
/** The filters survive a re-render (a save, a retire) within the tab. */
const filters = { stage: '', kind: '', retired: false };

/** @param {HTMLElement} page */
export async function renderPrecedents(page) {
  const stage = /** @type {HTMLSelectElement} */ (h('select', { name: 'stage' }, h('option', { value: '', text: 'any stage' })));
  const kind = /** @type {HTMLSelectElement} */ (h('select', { name: 'kind' }, h('option', { value: '', text: 'any kind' }), ...KINDS.map((k) => h('option', { value: k, text: k.replaceAll('_', ' ') }))));
  const retired = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', name: 'retired' }));
  kind.value = filters.kind;
  retired.checked = filters.retired;
  const list = h('div', { class: 'precedent-list' }, h('p', { class: 'empty', text: 'Loading…' }));
  const draw = async () => {
    Object.assign(filters, { stage: stage.value, kind: kind.value, retired: retired.checked });
    const query = new URLSearchParams({ report: '1' });
    if (filters.stage) query.set('stage', filters.stage);
    if (filters.kind) query.set('kind', filters.kind);
    if (filters.retired) query.set('retired', '1');
    try {
      const { precedents } = await api(`/api/precedents?${query}`);
      replace(list, precedents.length ? precedentTable(precedents, draw) : h('p', { class: 'empty', text: 'No precedents match. Failures InTime sees (contract violations, halted stages, exhausted budgets, stops with a note, denied tool calls) are written here.' }));
    } catch (error) {
      replace(list, h('p', { class: 'error', text: error.message }));
    }
  };
  for (const control of [stage, kind, retired]) control.addEventListener('change', draw);
  replace(page,
    h('h2', { text: 'Precedents' }),
    h('div', { class: 'controls' }, h('label', null, 'stage ', stage), h('label', null, 'kind ', kind), h('label', null, retired, ' show retired'),
      h('button', { type: 'button', class: 'export', text: 'Export JSONL', onclick: exportJsonl })),
    // A new one may bring a new stage to filter by: the whole page is drawn again.
    state.me?.role !== 'viewer' ? addForm(() => renderPrecedents(page)) : null,
    list);
  // The stage choices: every stage with a precedent, retired ones included.
  try {
    const { precedents } = await api('/api/precedents?retired=1&limit=10000');
    const stages = [...new Set(precedents.map((p) => p.where.stage).filter(Boolean))].sort();
    for (const name of stages) stage.append(h('option', { value: name, text: name }));
    if (stages.includes(filters.stage)) stage.value = filters.stage;
    else filters.stage = '';
  } catch { /* the list below says what went wrong */ }
  await draw();
}

function precedentTable(precedents, redraw) {
  return h('table', { class: 'precedents' },
    h('thead', null, h('tr', null, ...['Kind', 'Stage', 'What', 'Seen', 'Last seen', 'Fix', 'Injected', 'Tokens', 'Cost', 'Before', 'With', 'Without', ''].map((label) => h('th', { text: label })))),
    h('tbody', null, ...precedents.map((p) => h('tr', { 'data-precedent': p.id, class: p.retired ? 'retired' : null },
      h('td', null, h('span', { class: `badge kind-${p.kind}`, text: p.kind.replaceAll('_', ' ') }), p.retired ? h('span', { class: 'sub', text: ' retired' }) : null),
      h('td', { class: 'stage' }, h('span', { text: p.where.stage ?? 'any' }), p.where.tool ? h('div', { class: 'sub', text: `tool ${p.where.tool}` }) : null),
      h('td', { class: 'what' }, h('a', { href: `#/precedent/${encodeURIComponent(p.id)}`, title: p.what, text: shorten(p.what, 90) })),
      h('td', { class: 'num seen', text: String(p.count) }),
      h('td', { class: 'last', text: time(p.lastSeen) }),
      h('td', { class: 'fix' }, p.fix ? h('span', { title: p.fix, text: shorten(p.fix, 60) }) : h('span', { class: 'sub', text: '—' }), p.fixSource ? h('div', { class: 'sub fix-source', text: `by ${p.fixSource}` }) : null),
      h('td', { class: 'num injected', text: String(p.report?.injected ?? 0) }),
      h('td', { class: 'num tokens', text: String(p.report?.tokens ?? 0) }),
      h('td', { class: 'num cost', text: money(p.report?.costUsd) }),
      h('td', { class: 'num before', text: recurrence(p.report?.before) }),
      h('td', { class: 'num with', text: recurrence(p.report?.withPrecedent) }),
      h('td', { class: 'num without', text: recurrence(p.report?.withoutPrecedent) }),
      h('td', { class: 'actions' }, ...p.actions.filter((action) => action !== 'edit').map((action) => retireButton(p, action, redraw)))))));
}

/**
 * "2 of 5 (40%)": recurrences among the calls counted; "1 seen" for occurrences with no
 * call at its stage to count against (one written by hand, one with no stage); — for neither.
 */
function recurrence(count) {
  if (!count || count.calls === 0) return count?.recurrences ? `${count.recurrences} seen` : '—';
  return `${count.recurrences} of ${count.calls} (${Math.round(count.rate * 100)}%)`;
}

function shorten(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function retireButton(precedent, action, after) {
  return h('button', {
    type: 'button', class: `act act-${action}`, 'data-action': action, text: ACTION_LABELS[action],
    onclick: async (event) => {
      const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
      button.disabled = true;
      try {
        await api(`/api/precedents/${encodeURIComponent(precedent.id)}`, { method: 'PATCH', body: JSON.stringify({ retired: action === 'retire' }) });
        await after();
      } catch (error) {
        button.disabled = false;
        flash(`Could not ${action} ${precedent.id}: ${error.message}`);
      }
    },
  });
}

/** Writing one by hand: what to watch for, where, and what to do (POST /api/precedents). */
function addForm(after) {
  const field = (name, placeholder, multiline = false) => /** @type {HTMLInputElement} */ (h(multiline ? 'textarea' : 'input', { name, placeholder, ...(multiline ? { rows: 2 } : { type: 'text' }), maxlength: 4000 }));
  const what = field('what', 'what goes wrong (required)', true);
  const fix = field('fix', 'what to do instead', true);
  const stage = field('stage', 'stage (empty: any)');
  const tool = field('tool', 'tool (optional)');
  const evidence = field('evidence', 'evidence (optional)', true);
  // A principal scoped to projects may write only within them: it picks one.
  const projects = state.me?.projects;
  const project = /** @type {HTMLSelectElement | null} */ (projects ? h('select', { name: 'project' }, ...projects.map((name) => h('option', { value: name, text: name }))) : null);
  const form = /** @type {HTMLFormElement} */ (h('form', { class: 'add-precedent' }, what, fix, h('div', { class: 'row' }, stage, tool, project), evidence,
    h('button', { type: 'submit', text: 'Add precedent' })));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const where = { ...(stage.value.trim() ? { stage: stage.value.trim() } : {}), ...(tool.value.trim() ? { tool: tool.value.trim() } : {}) };
    const body = { what: what.value, ...(fix.value.trim() ? { fix: fix.value } : {}), ...(evidence.value ? { evidence: evidence.value } : {}), where, ...(project ? { project: project.value } : {}) };
    try {
      await api('/api/precedents', { method: 'POST', body: JSON.stringify(body) });
      form.reset();
      await after();
    } catch (error) {
      flash(`Could not add the precedent: ${error.message}`);
    }
  });
  return h('details', { class: 'add' }, h('summary', { text: 'Write one by hand' }), form);
}

/** The export is fetched with the token in its header (never in a URL) and saved from a blob. */
async function exportJsonl() {
  try {
    const response = await fetch('/api/precedents/export', { headers: { authorization: `Bearer ${state.token}` }, cache: 'no-store' });
    if (!response.ok) throw new Error((await response.json().catch(() => ({})))?.error?.message ?? `HTTP ${response.status}`);
    const url = URL.createObjectURL(await response.blob());
    const link = h('a', { href: url, download: `precedents-${new Date().toISOString().slice(0, 10)}.jsonl`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (error) {
    flash(`Could not export: ${error.message}`);
  }
}

/* ---------- one precedent ---------- */

/** @param {HTMLElement} page @param {string} id */
export async function renderPrecedentDetail(page, id) {
  const back = h('p', null, h('a', { href: '#/precedents', text: '← all precedents' }));
  let p;
  try {
    p = await api(`/api/precedents/${encodeURIComponent(id)}`);
  } catch (error) {
    replace(page, back, h('p', { class: 'error', text: error.message }));
    return;
  }
  const again = () => renderPrecedentDetail(page, id);
  const report = p.report;
  const where = Object.entries(p.where).filter(([, value]) => value !== null);
  replace(page, back,
    h('h2', null, h('span', { class: `badge kind-${p.kind}`, text: p.kind.replaceAll('_', ' ') }), ' ', h('span', { class: 'what', text: p.what }), p.retired ? h('span', { class: 'badge retired', text: 'retired' }) : null),
    h('div', { class: 'sub', text: [p.id, p.project && `project ${p.project}`, `seen ${p.count}×`, `first ${time(p.firstSeen)}`, `last ${time(p.lastSeen)}`, `by ${p.createdBy}`].filter(Boolean).join(' · ') }),
    h('div', { class: 'actions' }, ...p.actions.filter((action) => action !== 'edit').map((action) => retireButton(p, action, again))),
    h('h3', { text: 'Where' }),
    h('dl', { class: 'where' }, ...(where.length ? where.flatMap(([name, value]) => [h('dt', { text: name }), h('dd', { text: value })]) : [h('dt', { text: 'anywhere' })])),
    h('h3', { text: 'Fix' }),
    h('p', { class: 'fix' }, h('span', { text: p.fix ?? 'none known' }), p.fixSource ? h('span', { class: 'sub fix-source', text: ` (from the ${p.fixSource})` }) : null),
    p.actions.includes('edit') ? editForm(p, again) : null,
    h('h3', { text: 'Evidence' }), h('pre', { class: 'args evidence', text: p.evidence || '—' }),
    h('h3', { text: 'Signature' }), h('pre', { class: 'args signature', text: p.signature || '—' }),
    p.lastRunId ? h('p', null, 'Latest occurrence in ', h('a', { href: `#/run/${encodeURIComponent(p.lastRunId)}`, text: p.lastRunId }), p.lastCallId ? h('span', { class: 'sub', text: ` call ${p.lastCallId}` }) : null) : null,
    h('h3', { text: 'Report' }),
    h('table', { class: 'report' }, h('tbody', null,
      row('Times injected', String(report.injected), 'injected'), row('Tokens it cost', String(report.tokens), 'tokens'), row('Their cost', money(report.costUsd), 'cost'),
      row('First injected', time(report.firstInjectedAt)), row('Occurrences', String(report.occurrences)),
      row('Recurrence before injection', recurrence(report.before), 'before'),
      row('Recurrence with it', recurrence(report.withPrecedent), 'with'),
      row('Recurrence without it (since)', recurrence(report.withoutPrecedent), 'without'))),
    h('p', { class: 'sub', text: 'InTime injects, meters and counts; whether a real model heeds the text is what the recurrence rates show.' }));
}

function row(label, value, name) {
  return h('tr', { class: name ?? null }, h('th', { text: label }), h('td', { class: 'num', text: value }));
}

/** PATCH what and fix; an empty fix clears it. */
function editForm(p, after) {
  const what = /** @type {HTMLTextAreaElement} */ (h('textarea', { name: 'what', rows: 2, maxlength: 4000 }));
  const fix = /** @type {HTMLTextAreaElement} */ (h('textarea', { name: 'fix', rows: 2, maxlength: 4000, placeholder: 'what to do instead (empty: none)' }));
  what.value = p.what;
  fix.value = p.fix ?? '';
  const form = /** @type {HTMLFormElement} */ (h('form', { class: 'edit-precedent' }, h('label', null, 'What', what), h('label', null, 'Fix', fix), h('button', { type: 'submit', text: 'Save' })));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api(`/api/precedents/${encodeURIComponent(p.id)}`, { method: 'PATCH', body: JSON.stringify({ what: what.value, fix: fix.value.trim() ? fix.value : null }) });
      await after();
    } catch (error) {
      flash(`Could not save: ${error.message}`);
    }
  });
  return h('details', { class: 'edit' }, h('summary', { text: 'Edit what and fix' }), form);
}
