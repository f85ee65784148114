import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startStack, type Stack } from './harness.js';
import { runCli } from './processes.js';

interface PrecedentView {
  id: string; kind: string; what: string; fix: string | null; fixSource: string | null; retired: boolean; count: number; evidence: string;
  where: { stage: string | null; tool: string | null };
}

/** Curation: an operator writes, edits, retires, exports and imports precedents, by API and CLI. */
let stack: Stack;
let other: Stack;
beforeAll(async () => {
  [stack, other] = await Promise.all([startStack(), startStack()]);
});
afterAll(async () => {
  await Promise.all([stack.close(), other.close()]);
});

async function principal(role: string): Promise<string> {
  const created = await stack.admin<{ token: string }>('POST', '/api/principals', { name: `${role}-1`, role });
  return created.body.token;
}

async function as(token: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${stack.gateway.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('the precedents API', () => {
  it('an operator writes one by hand, edits its fix, retires it; a viewer may read but not write; agents may not use it', async () => {
    const operator = await principal('operator');
    const viewer = await principal('viewer');
    const written = await as(operator, 'POST', '/api/precedents', {
      what: 'dates come back as "next Tuesday"', where: { stage: 'extract-dates' }, fix: 'ask for ISO 8601 (YYYY-MM-DD) dates', evidence: 'seen with key sk-abcdefghijklmnopqrstuvwx',
    });
    expect(written.status).toBe(201);
    const created = written.body as unknown as PrecedentView;
    expect(created).toMatchObject({ kind: 'manual', fixSource: 'operator', where: { stage: 'extract-dates' } });
    expect(created.evidence).not.toContain('sk-abcdefghijklmnopqrstuvwx');

    const retrieved = await as(viewer, 'POST', '/api/precedents/retrieve', { stage: 'extract-dates', text: 'Extract the delivery dates from this order; dates like next Tuesday must be resolved' });
    expect(retrieved.status).toBe(200);
    expect((retrieved.body.precedents as { id: string }[]).map((entry) => entry.id)).toEqual([created.id]);
    expect(retrieved.body.text).toContain('ask for ISO 8601');

    expect((await as(viewer, 'PATCH', `/api/precedents/${created.id}`, { fix: 'nope' })).status).toBe(403);
    expect((await as(viewer, 'POST', '/api/precedents', { what: 'x' })).status).toBe(403);
    const run = await stack.createRun();
    expect((await as(run.token, 'GET', '/api/precedents')).status).toBe(403);

    const edited = await as(operator, 'PATCH', `/api/precedents/${created.id}`, { fix: 'answer dates as YYYY-MM-DD' });
    expect(edited.body).toMatchObject({ fix: 'answer dates as YYYY-MM-DD', fixSource: 'operator' });
    expect((await as(operator, 'PATCH', `/api/precedents/${created.id}`, { colour: 'red' })).status).toBe(400);
    expect((await as(operator, 'PATCH', `/api/precedents/${created.id}`, { what: '' })).status).toBe(400);
    const twin = await as(operator, 'POST', '/api/precedents', { what: 'dates come back as words', where: { stage: 'extract-dates' } });
    const clash = await as(operator, 'PATCH', `/api/precedents/${String(twin.body.id)}`, { what: 'dates come back as "next Tuesday"' });
    expect(clash.status).toBe(409);
    expect(JSON.stringify(clash.body)).toContain(created.id);
    await as(operator, 'PATCH', `/api/precedents/${String(twin.body.id)}`, { retired: true });

    expect((await as(operator, 'PATCH', `/api/precedents/${created.id}`, { retired: true })).body).toMatchObject({ retired: true });
    const afterRetire = await as(viewer, 'POST', '/api/precedents/retrieve', { stage: 'extract-dates', text: 'Extract the delivery dates from this order; dates like next Tuesday must be resolved' });
    expect(afterRetire.body.precedents).toEqual([]);
    expect((await stack.admin<{ precedents: PrecedentView[] }>('GET', '/api/precedents?stage=extract-dates')).body.precedents).toEqual([]);
    expect((await stack.admin<{ precedents: PrecedentView[] }>('GET', '/api/precedents?stage=extract-dates&retired=1')).body.precedents).toHaveLength(2);
    await as(operator, 'PATCH', `/api/precedents/${created.id}`, { retired: false });
    const audit = await stack.admin<{ audit: { action: string; target: string }[] }>('GET', '/api/audit');
    expect(audit.body.audit.filter((entry) => entry.target === created.id).map((entry) => entry.action)).toEqual(expect.arrayContaining(['precedent.write', 'precedent.edit', 'precedent.retire']));
  });
});

describe('intime precedents', () => {
  async function cli(target: Stack, ...args: string[]) {
    const process = runCli([...args, '--gateway', target.gateway.url, '--admin-token', ADMIN_TOKEN]);
    const code = await process.exited;
    return { code, stdout: process.stdout(), stderr: process.stderr() };
  }

  it('add, list, show, edit, retire, export and import (all lines or nothing) through the CLI', async () => {
    const added = await cli(stack, 'precedents', 'add', 'the tool send_invoice is called twice', '--stage', 'billing', '--tool', 'send_invoice', '--fix', 'check the sent list first', '--json');
    expect(added.code).toBe(0);
    const precedent = JSON.parse(added.stdout) as PrecedentView;
    const listed = await cli(stack, 'precedents', 'list', '--stage', 'billing');
    expect(listed.stdout).toContain(precedent.id);
    expect(listed.stdout).toMatch(/injected/);
    const shown = await cli(stack, 'precedents', 'show', precedent.id);
    expect(shown.stdout).toContain('fix       check the sent list first  (operator)');
    expect(shown.stdout).toContain('recurred  before injection');
    const edited = await cli(stack, 'precedents', 'edit', precedent.id, '--fix', 'look the invoice up in the sent list before sending');
    expect(edited.code).toBe(0);
    const nothing = await cli(stack, 'precedents', 'edit', precedent.id);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('nothing to change');
    expect((await cli(stack, 'precedents', 'retire', precedent.id)).stdout).toContain('retired');

    const directory = mkdtempSync(join(tmpdir(), 'intime-precedents-'));
    const file = join(directory, 'shared.jsonl');
    expect((await cli(stack, 'precedents', 'export', '-o', file)).code).toBe(0);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.find((line) => line.id === precedent.id)).toMatchObject({ format: 'intime-precedent', version: 1, fix: 'look the invoice up in the sent list before sending', retired: true });

    const bad = join(directory, 'bad.jsonl');
    writeFileSync(bad, `${readFileSync(file, 'utf8')}{"format":"intime-precedent","version":1,"kind":"nonsense"}\nnot json\n`);
    const refused = await cli(other, 'precedents', 'import', bad);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/nothing was imported: line \d+: kind: .*; line \d+: not valid JSON/);
    expect((await other.admin<{ precedents: unknown[] }>('GET', '/api/precedents?retired=1')).body.precedents).toEqual([]);

    const imported = await cli(other, 'precedents', 'import', file, '--json');
    expect(JSON.parse(imported.stdout)).toEqual({ added: lines.length, merged: 0 });
    const again = await cli(other, 'precedents', 'import', file, '--json');
    expect(JSON.parse(again.stdout)).toEqual({ added: 0, merged: lines.length });
    const copy = (await other.admin<PrecedentView>('GET', `/api/precedents/${precedent.id}`)).body;
    expect(copy).toMatchObject({ what: 'the tool send_invoice is called twice', where: { stage: 'billing', tool: 'send_invoice' }, retired: true, count: 1 });
  });
});
