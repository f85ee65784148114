// @ts-check
/**
 * DOM helpers. Every label that comes from the API (run names, models, tool arguments,
 * alert messages: all agent-controlled) goes through textContent, never innerHTML.
 */

/**
 * @param {string} tag
 * @param {Record<string, unknown> | null} [attrs]
 * @param {...(Node | string | number | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') element.textContent = String(value);
    else if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    else if (name === 'class') element.className = String(value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

const SVG = 'http://www.w3.org/2000/svg';

/**
 * @param {string} tag
 * @param {Record<string, string | number | null | undefined>} [attrs]
 * @param {...(Node | null | undefined | false)} children
 * @returns {SVGElement}
 */
export function s(tag, attrs, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null) continue;
    if (name === 'text') element.textContent = String(value);
    else element.setAttribute(name, String(value));
  }
  for (const child of children) if (child) element.append(child);
  return element;
}

/** @param {Element} parent @param {Array<Node | string | number | null | undefined | false>} children */
export function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** @param {Element} element @param {...(Node | string | null | undefined | false)} children */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

/** Dollars for people: exact amounts come from the API as decimal strings. @param {string | number | null | undefined} usd */
export function money(usd) {
  if (usd === null || usd === undefined) return '—';
  const value = Number(usd);
  if (value === 0) return '$0';
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 2 : abs >= 1 ? 3 : abs >= 0.01 ? 4 : 6;
  return `${value < 0 ? '-' : ''}$${abs.toFixed(digits)}`;
}

/** @param {number | null | undefined} ms */
export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** @param {string | null | undefined} iso */
export function time(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return date.toLocaleTimeString(undefined, { hour12: false }) + (Date.now() - date.getTime() > 86_400_000 ? ` ${date.toLocaleDateString()}` : '');
}

/** @param {number} n */
export function count(n) {
  return n >= 10_000 ? `${(n / 1000).toFixed(n >= 100_000 ? 0 : 1)}k` : String(n);
}
