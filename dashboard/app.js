// @ts-check
import { h, replace } from './dom.js';
import { renderRunDetail, renderRuns, updateRunDetail, updateRuns } from './runs.js';
import { renderPrecedentDetail, renderPrecedents } from './precedents.js';
import { renderAlerts, renderApprovals, renderSpend } from './views.js';

/**
 * The dashboard: a token login, then live runs over server-sent events (read with
 * fetch so the token travels in a header, never in a URL), and views that refetch the
 * control API when the stream says something changed. No framework, no build step.
 */
const TOKEN_KEY = 'intime.token';

/** @typedef {{ id: string, name: string, role: 'admin' | 'operator' | 'viewer', projects: string[] | null }} Me */
export const state = {
  /** @type {string | null} */ token: sessionStorage.getItem(TOKEN_KEY),
  /** @type {Me | null} */ me: null,
  /** @type {any[]} */ runs: [],
  /** @type {any[]} */ alerts: [],
  pendingApprovals: 0,
  route: { view: 'runs', id: /** @type {string | null} */ (null) },
  /** @type {AbortController | null} */ stream: null,
};

/** A control-API call with the token; throws with the API's message on failure. */
export async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    cache: 'no-store',
    headers: { authorization: `Bearer ${state.token}`, ...(options.body ? { 'content-type': 'application/json' } : {}) },
  });
  if (response.status === 401) {
    logout('Your token is no longer accepted.');
    throw new Error('signed out');
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(body?.error?.message ?? `HTTP ${response.status}`), { status: response.status });
  return body;
}

const main = /** @type {HTMLElement} */ (document.getElementById('main'));

function parseRoute() {
  const [view = 'runs', id = null] = location.hash.replace(/^#\/?/, '').split('/');
  return { view: ['runs', 'run', 'spend', 'approvals', 'alerts', 'precedents', 'precedent'].includes(view) ? view : 'runs', id: id ? decodeURIComponent(id) : null };
}

export function render() {
  state.route = parseRoute();
  for (const link of document.querySelectorAll('#nav a')) {
    link.classList.toggle('active', link.getAttribute('data-view') === ({ run: 'runs', precedent: 'precedents' }[state.route.view] ?? state.route.view));
  }
  const view = state.route.view;
  const page = h('section', { class: `page page-${view}` });
  replace(main, page);
  if (view === 'runs') renderRuns(page);
  else if (view === 'run' && state.route.id) void renderRunDetail(page, state.route.id);
  else if (view === 'spend') void renderSpend(page);
  else if (view === 'approvals') void renderApprovals(page);
  else if (view === 'alerts') void renderAlerts(page);
  else if (view === 'precedents') void renderPrecedents(page);
  else if (view === 'precedent' && state.route.id) void renderPrecedentDetail(page, state.route.id);
}

/** Reads the event stream; reconnects after a drop, with a growing pause. */
async function follow() {
  let pause = 500;
  const live = /** @type {HTMLElement} */ (document.getElementById('live'));
  while (state.token) {
    const controller = new AbortController();
    state.stream = controller;
    try {
      const response = await fetch('/api/events', { headers: { authorization: `Bearer ${state.token}` }, cache: 'no-store', signal: controller.signal });
      if (response.status === 401) return logout('Your token is no longer accepted.');
      if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`);
      live.className = 'live on';
      live.textContent = 'live';
      pause = 500;
      await readEvents(response.body, onEvent);
    } catch (error) {
      if (controller.signal.aborted) return;
    }
    live.className = 'live off';
    live.textContent = 'reconnecting';
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 10_000);
  }
}

/** A minimal text/event-stream reader: `event:` and `data:` lines, blank line ends an event. */
async function readEvents(body, handle) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let event = 'message';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      buffer = buffer.slice(newline + 1);
      if (line === '') {
        if (data.length > 0) handle(event, JSON.parse(data.join('\n')));
        event = 'message';
        data = [];
      } else if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
  }
}

function onEvent(event, data) {
  if (event === 'runs') {
    state.runs = data.runs;
    if (state.route.view === 'runs') updateRuns();
    if (state.route.view === 'run') updateRunDetail();
  } else if (event === 'approvals') {
    void refreshApprovalCount();
    if (state.route.view === 'approvals') render();
  } else if (event === 'alert') {
    state.alerts.unshift(data);
    setCount('alerts-count', state.alerts.length);
    if (state.route.view === 'alerts') render();
  }
}

export async function refreshApprovalCount() {
  const { approvals } = await api('/api/approvals?state=pending');
  state.pendingApprovals = approvals.length;
  setCount('approvals-count', approvals.length);
}

function setCount(id, n) {
  const badge = /** @type {HTMLElement} */ (document.getElementById(id));
  badge.textContent = n > 0 ? String(n) : '';
}

async function start() {
  const me = await api('/api/me');
  state.me = me;
  document.body.dataset.role = me.role;
  /** @type {HTMLElement} */ (document.getElementById('nav')).hidden = false;
  /** @type {HTMLElement} */ (document.getElementById('logout')).hidden = false;
  /** @type {HTMLElement} */ (document.getElementById('who')).textContent = `${me.name} · ${me.role}${me.projects ? ` · ${me.projects.join(', ')}` : ''}`;
  render();
  void follow();
  void refreshApprovalCount().catch(() => undefined);
  void api('/api/alerts').then(({ alerts }) => {
    state.alerts = alerts;
    setCount('alerts-count', alerts.length);
  }).catch(() => undefined);
}

function logout(message = '') {
  state.token = null;
  state.stream?.abort();
  sessionStorage.removeItem(TOKEN_KEY);
  if (message) sessionStorage.setItem('intime.message', message);
  location.hash = '';
  location.reload();
}

function showLogin() {
  const form = /** @type {HTMLFormElement} */ (document.getElementById('login'));
  const error = /** @type {HTMLElement} */ (document.getElementById('login-error'));
  error.textContent = sessionStorage.getItem('intime.message') ?? '';
  sessionStorage.removeItem('intime.message');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = /** @type {HTMLInputElement} */ (document.getElementById('token'));
    state.token = input.value.trim();
    const response = await fetch('/api/me', { headers: { authorization: `Bearer ${state.token}` }, cache: 'no-store' });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      error.textContent = body?.error?.message ?? `Sign-in failed (HTTP ${response.status})`;
      state.token = null;
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, state.token);
    await start();
  });
}

document.getElementById('logout')?.addEventListener('click', () => logout());
window.addEventListener('hashchange', () => state.me && render());
if (state.token) start().catch(() => undefined);
else showLogin();
