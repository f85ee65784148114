/**
 * Summarizes a V8 .cpuprofile: the top frames by self time, by inclusive time, and self time
 * by file. Usage: node --import tsx bench/cpuprofile-top.ts <file.cpuprofile> [top=25]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

export interface FrameShare {
  frame: string;
  percent: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Sampled time not idle; the percentages below are of this. */
  busyMs: number;
  selfTop: FrameShare[];
  inclusiveTop: FrameShare[];
  byFile: FrameShare[];
}

export function summarizeProfile(path: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const weight = new Map<number, number>(); // node id -> microseconds
  samples.forEach((id, index) => weight.set(id, (weight.get(id) ?? 0) + Math.max(0, deltas[index] ?? 0)));
  const total = [...weight.values()].reduce((sum, value) => sum + value, 0) || 1;
  let idle = 0;
  for (const [id, micros] of weight) if (byId.get(id)?.callFrame.functionName === '(idle)') idle += micros;
  const busy = Math.max(1, total - idle);

  const key = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    return `${functionName || '(anonymous)'} ${shortUrl(url)}${url ? `:${lineNumber + 1}` : ''}`;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const files = new Map<string, number>();
  for (const [id, micros] of weight) {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    self.set(key(node), (self.get(key(node)) ?? 0) + micros);
    const file = shortUrl(node.callFrame.url) || `(${node.callFrame.functionName})`;
    files.set(file, (files.get(file) ?? 0) + micros);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at);
      if (!frame) break;
      const name = key(frame);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + micros);
    }
  }
  const rank = (map: Map<string, number>, skip: (name: string) => boolean = () => false) =>
    [...map.entries()]
      .filter(([name]) => !skip(name))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, micros]) => ({ frame, percent: Math.round((1000 * micros) / busy) / 10 }));
  return {
    totalMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    selfTop: rank(self),
    inclusiveTop: rank(inclusive, (name) => /^\((root|program)\)/.test(name)),
    byFile: rank(files),
  };
}

function shortUrl(url: string): string {
  if (!url) return '';
  const text = url.replace(/^file:\/\//, '');
  const modules = text.lastIndexOf('/node_modules/');
  if (modules >= 0) return text.slice(modules + 1);
  const source = text.search(/\/(src|bench)\//);
  return source >= 0 ? text.slice(source + 1) : text;
}

export function formatSummary(summary: ProfileSummary): string {
  const lines: string[] = [`CPU profile: ${summary.busyMs} ms busy of ${summary.totalMs} ms sampled; percentages are of busy time`];
  const block = (title: string, rows: FrameShare[]) => {
    lines.push(title);
    for (const row of rows) lines.push(`  ${row.percent.toFixed(1).padStart(5)}%  ${row.frame}`);
  };
  block('Top frames by self time:', summary.selfTop);
  block('Top frames by inclusive time:', summary.inclusiveTop);
  block('Self time by file:', summary.byFile);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: cpuprofile-top.ts <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  process.stdout.write(`${formatSummary(summarizeProfile(file, Number(top ?? 25)))}\n`);
}
