// @ts-check
import { h, money, s } from './dom.js';

/** Inline SVG charts: no library, every label through textContent. */
const PALETTE = ['#0f766e', '#2563eb', '#d97706', '#7c3aed', '#dc2626', '#059669', '#db2777', '#4b5563', '#0891b2', '#65a30d'];

/**
 * Spend per time bucket, stacked by group (the top groups; the rest as "other").
 * @param {{ at: string, group: string | null, costUsd: string }[]} points
 * @param {string} bucket
 */
export function stackedBars(points, bucket) {
  const totals = new Map();
  for (const point of points) totals.set(point.group ?? '(none)', (totals.get(point.group ?? '(none)') ?? 0) + Number(point.costUsd));
  const top = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([group]) => group);
  const groupOf = (group) => (top.includes(group ?? '(none)') ? group ?? '(none)' : 'other');
  const groups = [...top, ...(totals.size > top.length ? ['other'] : [])];
  const buckets = new Map();
  for (const point of points) {
    const row = buckets.get(point.at) ?? new Map();
    row.set(groupOf(point.group), (row.get(groupOf(point.group)) ?? 0) + Number(point.costUsd));
    buckets.set(point.at, row);
  }
  const times = [...buckets.keys()].sort();
  const max = Math.max(...times.map((at) => [...buckets.get(at).values()].reduce((sum, value) => sum + value, 0)), 1e-9);
  const width = 760, height = 220, left = 64, bottom = 24;
  const slot = (width - left) / Math.max(times.length, 1);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height + 4}`, class: 'stacked', role: 'img', 'aria-label': 'spend over time' });
  for (const fraction of [0, 0.5, 1]) {
    const y = height - bottom - fraction * (height - bottom - 8);
    svg.append(s('line', { x1: left, x2: width, y1: y, y2: y, class: 'grid' }), s('text', { x: left - 6, y: y + 4, class: 'axis', 'text-anchor': 'end', text: money(max * fraction) }));
  }
  times.forEach((at, index) => {
    let y = height - bottom;
    const row = buckets.get(at);
    groups.forEach((group, groupIndex) => {
      const value = row.get(group) ?? 0;
      if (value <= 0) return;
      const barHeight = (value / max) * (height - bottom - 8);
      y -= barHeight;
      svg.append(s('rect', { x: left + index * slot + 1, y, width: Math.max(slot - 2, 1), height: barHeight, fill: PALETTE[groupIndex % PALETTE.length] },
        s('title', { text: `${group}: ${money(value)} (${at})` })));
    });
  });
  const label = (at) => (bucket === 'hour' ? at.slice(11, 16) : at.slice(5, 10));
  const every = Math.max(1, Math.ceil(times.length / 8));
  times.forEach((at, index) => {
    if (index % every === 0) svg.append(s('text', { x: left + index * slot + slot / 2, y: height - 6, class: 'axis', 'text-anchor': 'middle', text: label(at) }));
  });
  const legend = h('ul', { class: 'legend' }, ...groups.map((group, index) => {
    const swatch = h('span', { class: 'swatch' });
    swatch.style.background = PALETTE[index % PALETTE.length];
    return h('li', null, swatch, `${group} ${money(totals.get(group) ?? [...totals.entries()].filter(([name]) => !top.includes(name)).reduce((sum, [, value]) => sum + value, 0))}`);
  }));
  return h('figure', null, svg, legend);
}

/** @param {{ label: string, value: number }[]} rows */
export function hbars(rows) {
  if (rows.length === 0) return h('p', { class: 'empty', text: 'Nothing spent.' });
  const max = Math.max(...rows.map((row) => row.value), 1e-9);
  return h('ul', { class: 'hbars' }, ...rows.map((row, index) => {
    const fill = h('span', { class: 'fill' });
    fill.style.width = `${((row.value / max) * 100).toFixed(1)}%`;
    fill.style.background = PALETTE[index % PALETTE.length];
    return h('li', null, h('span', { class: 'label', title: row.label, text: row.label }), h('span', { class: 'track' }, fill), h('span', { class: 'num', text: money(row.value) }));
  }));
}

/** @param {{ label: string, value: number }[]} points */
export function lineChart(points) {
  const width = 760, height = 160, left = 64;
  const max = Math.max(...points.map((point) => point.value), 1e-9);
  const x = (index) => left + (index / Math.max(points.length - 1, 1)) * (width - left - 8);
  const y = (value) => height - 20 - (value / max) * (height - 32);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'line', role: 'img', 'aria-label': 'waste over time' });
  svg.append(s('text', { x: left - 6, y: y(max) + 4, class: 'axis', 'text-anchor': 'end', text: money(max) }),
    s('polyline', { points: points.map((point, index) => `${x(index)},${y(point.value)}`).join(' '), class: 'waste-line', fill: 'none' }));
  points.forEach((point, index) => svg.append(s('circle', { cx: x(index), cy: y(point.value), r: 3, class: 'waste-dot' }, s('title', { text: `${point.label}: ${money(point.value)}` }))));
  return svg;
}

/**
 * A run's calls on a time axis: each bar from its start to its end, its first token marked,
 * coloured by outcome; hovering tells model, tokens and cost.
 * @param {any[]} calls
 */
export function waterfall(calls) {
  const starts = calls.map((call) => Date.parse(call.startedAt));
  const ends = calls.map((call, index) => starts[index] + call.latencyMs);
  const t0 = Math.min(...starts), span = Math.max(Math.max(...ends) - t0, 1);
  const width = 760, row = 18, left = 150;
  const shown = calls.slice(-60);
  const offset = calls.length - shown.length;
  const svg = s('svg', { viewBox: `0 0 ${width} ${shown.length * row + 20}`, class: 'waterfall', role: 'img', 'aria-label': 'calls over time' });
  shown.forEach((call, index) => {
    const start = starts[offset + index], y = index * row + 2;
    const x = left + ((start - t0) / span) * (width - left - 4);
    const w = Math.max((call.latencyMs / span) * (width - left - 4), 2);
    svg.append(s('text', { x: 4, y: y + 12, class: 'axis', text: `${call.step ? `${call.step} · ` : ''}${call.model}`.slice(0, 26) }),
      s('rect', { x, y, width: w, height: row - 5, class: `call call-${call.status}${call.estimated ? ' estimated' : ''}${call.contract?.verdict === 'failed' ? ' contract-failed' : ''}` },
        s('title', { text: `${call.model} · ${call.status} · ${call.inputTokens} in / ${call.outputTokens} out · ${money(call.costUsd)} · ${Math.round(call.latencyMs)} ms${call.estimated ? ' · estimated' : ''}${call.contract && call.contract.verdict !== 'none' ? ` · contract ${call.contract.verdict}` : ''}` })));
    if (call.timeToFirstTokenMs !== null) svg.append(s('line', { x1: x + (call.timeToFirstTokenMs / span) * (width - left - 4), x2: x + (call.timeToFirstTokenMs / span) * (width - left - 4), y1: y, y2: y + row - 5, class: 'ttft' }));
  });
  svg.append(s('text', { x: width - 4, y: shown.length * row + 14, class: 'axis', 'text-anchor': 'end', text: `${Math.round(span)} ms` }));
  return h('figure', null, svg);
}
