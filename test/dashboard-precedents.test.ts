import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { ADMIN_TOKEN, sleep, startStack, type Stack } from './harness.js';

/**
 * The dashboard's Precedents page in a real headless Chromium: a failing contract stage
 * becomes a precedent shown with its count and report, an operator of its project edits its
 * fix, retires and restores it, writes one by hand and exports them; a viewer and an operator
 * of another project get no buttons; a hostile output in the evidence is text.
 */
const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.log(`dashboard precedents browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`);

const INVOICE_SCHEMA = {
  type: 'object', properties: { total: { type: 'integer' }, lines: { type: 'array', items: { type: 'integer' } } }, required: ['total', 'lines'], additionalProperties: false,
};
const HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';

interface RecurrenceCount { calls: number; recurrences: number; rate: number | null }
interface PrecedentView {
  id: string; kind: string; what: string; evidence: string; fix: string | null; fixSource: string | null; count: number; retired: boolean; actions: string[];
  where: { stage: string | null };
  report: { injected: number; tokens: number; costUsd: string; before: RecurrenceCount; withPrecedent: RecurrenceCount; withoutPrecedent: RecurrenceCount };
}

/** The page's recurrence cell (dashboard/precedents.js). */
function recurrence(count: RecurrenceCount): string {
  if (count.calls === 0) return count.recurrences ? `${count.recurrences} seen` : '—';
  return `${count.recurrences} of ${count.calls} (${Math.round(count.rate! * 100)}%)`;
}

describe.skipIf(!haveChromium)('the Precedents page in Chromium', () => {
  let stack: Stack;
  let browser: Browser;
  let operatorToken: string;

  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    // The gateway injects precedents into calls at step "extract", so the report has injections to show.
    stack = await startStack({ config: (config) => ({ ...config, precedents: { ...config.precedents, inject: ['extract'] } }) });
    operatorToken = (await stack.admin<{ token: string }>('POST', '/api/principals', { name: 'ops-alpha', role: 'operator', projects: ['alpha'] })).body.token;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  /** Signs in; records CSP violations, page errors and every URL the page asks for. */
  async function signIn(token: string): Promise<Page & { violations: string[]; urls: string[] }> {
    const page = Object.assign(await browser.newPage({ viewport: { width: 1360, height: 860 }, acceptDownloads: true }), { violations: [] as string[], urls: [] as string[] });
    page.on('console', (message) => { if (/Content Security Policy/i.test(message.text())) page.violations.push(message.text()); });
    page.on('pageerror', (error) => page.violations.push(error.message));
    page.on('request', (request) => page.urls.push(request.url()));
    await page.goto(stack.gateway.url + '/');
    await page.fill('#token', token);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#nav:not([hidden])');
    return page;
  }

  async function precedentsAt(stage: string, token = ADMIN_TOKEN): Promise<PrecedentView[]> {
    const response = await fetch(`${stack.gateway.url}/api/precedents?report=1&retired=1&stage=${encodeURIComponent(stage)}`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    return ((await response.json()) as { precedents: PrecedentView[] }).precedents;
  }

  /** Recording happens after the call is answered: wait for it, bounded. */
  async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
    for (let attempt = 0; attempt < 150; attempt++) {
      const value = await read();
      if (done(value)) return value;
      await sleep(20);
    }
    return read();
  }

  async function extract(token: string, step: string, headers: Record<string, string>) {
    return stack.openai(token, { maxRetries: 0 }).chat.completions.create({
      model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Read the invoice from Acme and give its lines and total.' }],
      response_format: { type: 'json_schema', json_schema: { name: 'invoice', schema: INVOICE_SCHEMA } },
    }, { headers: { 'x-intime-step': step, ...headers } }).withResponse();
  }

  it('a failing contract stage shows with its count and report; an operator edits its fix, retires and restores it', async () => {
    const run = await stack.createRun({ name: 'extractor', project: 'alpha' });
    await extract(run.token, 'extract', { 'x-sim-output': 'malformed' });
    await eventually(() => precedentsAt('extract'), (list) => list.length === 1);
    // The same failure again, this time with the precedent injected: it merges (count 2) and counts as a recurrence with it.
    const second = await extract(run.token, 'extract', { 'x-sim-output': 'malformed' });
    expect(second.response.headers.get('x-intime-precedents')).toBeTruthy();
    // A retry that passes is the fix, supplied by the retry.
    await extract(run.token, 'extract', { 'x-intime-attempt': '2', 'x-intime-retry-of': second.response.headers.get('x-intime-call-id')! });
    const [precedent] = await eventually(() => precedentsAt('extract'), (list) => list[0]?.count === 2 && list[0]?.fixSource === 'retry');
    expect(precedent).toMatchObject({ kind: 'contract_violation', count: 2, fixSource: 'retry', retired: false });
    expect(precedent!.report.injected).toBeGreaterThanOrEqual(1);
    expect(precedent!.report.withPrecedent.recurrences).toBe(1);

    const page = await signIn(operatorToken);
    await page.click('nav a[data-view=precedents]');
    const row = page.locator(`tr[data-precedent="${precedent!.id}"]`);
    await row.waitFor({ timeout: 5000 });
    expect(await row.locator('.seen').textContent()).toBe('2');
    expect(await row.locator('.stage').textContent()).toBe('extract');
    expect(await row.locator('.badge').textContent()).toBe('contract violation');
    expect(await row.locator('.fix').textContent()).toContain(precedent!.fix!);
    expect(await row.locator('.fix-source').textContent()).toBe('by retry');
    expect(await row.locator('.injected').textContent()).toBe(String(precedent!.report.injected));
    expect(Number(await row.locator('.tokens').textContent())).toBe(precedent!.report.tokens);
    expect(precedent!.report.tokens).toBeGreaterThan(0);
    expect(await row.locator('.before').textContent()).toBe(recurrence(precedent!.report.before));
    expect(await row.locator('.with').textContent()).toBe(recurrence(precedent!.report.withPrecedent));
    expect(await row.locator('.without').textContent()).toBe(recurrence(precedent!.report.withoutPrecedent));

    // The kind filter asks the server: another kind hides it.
    await page.selectOption('select[name=kind]', 'manual');
    await expect.poll(() => row.count(), { timeout: 5000 }).toBe(0);
    await page.selectOption('select[name=kind]', 'contract_violation');
    await row.waitFor({ timeout: 5000 });

    // The detail: where, evidence, signature, the whole report; then the operator writes the fix.
    await row.locator('.what a').click();
    await page.waitForSelector('dl.where');
    expect(await page.locator('dl.where').textContent()).toContain('extractor');
    expect(await page.locator('pre.signature').textContent()).toContain('Read the invoice from Acme');
    expect(await page.locator('pre.evidence').textContent()).toContain('output:');
    expect(await page.locator('table.report tr.injected td').textContent()).toBe(String(precedent!.report.injected));
    await page.click('details.edit summary');
    await page.fill('form.edit-precedent textarea[name=fix]', 'Answer with the JSON document only: no prose before or after it.');
    await page.click('form.edit-precedent button[type=submit]');
    await expect.poll(async () => (await precedentsAt('extract'))[0]!.fixSource, { timeout: 5000 }).toBe('operator');
    expect((await precedentsAt('extract'))[0]!.fix).toBe('Answer with the JSON document only: no prose before or after it.');
    await expect.poll(() => page.locator('p.fix').textContent(), { timeout: 5000 }).toContain('from the operator');

    await page.click('button.act-retire');
    await expect.poll(async () => (await precedentsAt('extract'))[0]!.retired, { timeout: 5000 }).toBe(true);
    await page.locator('button.act-restore').waitFor({ timeout: 5000 });
    // Retired ones are out of the list until asked for.
    await page.click('a[href="#/precedents"]');
    await page.waitForSelector('table.precedents, .precedent-list p.empty');
    await sleep(200);
    expect(await row.count()).toBe(0);
    await page.check('input[name=retired]');
    await row.waitFor({ timeout: 5000 });
    await row.locator('button.act-restore').click();
    await expect.poll(async () => (await precedentsAt('extract'))[0]!.retired, { timeout: 5000 }).toBe(false);

    // One written by hand, within the operator's project (the kind filter, still on, is lifted first).
    await page.selectOption('select[name=kind]', '');
    await page.click('details.add summary');
    await page.fill('form.add-precedent textarea[name=what]', 'dates come back as MM/DD on EU invoices');
    await page.fill('form.add-precedent textarea[name=fix]', 'ask for ISO 8601 dates');
    await page.fill('form.add-precedent input[name=stage]', 'extract-dates');
    await page.click('form.add-precedent button[type=submit]');
    const [manual] = await eventually(() => precedentsAt('extract-dates'), (list) => list.length === 1);
    expect(manual).toMatchObject({ kind: 'manual', fix: 'ask for ISO 8601 dates', fixSource: 'operator', what: 'dates come back as MM/DD on EU invoices' });
    await page.locator(`tr[data-precedent="${manual!.id}"]`).waitFor({ timeout: 5000 });
    expect(await page.locator(`tr[data-precedent="${manual!.id}"] .before`).textContent()).toBe('1 seen');
    expect(await page.locator('select[name=stage] option').allTextContents()).toEqual(['any stage', 'extract', 'extract-dates']);

    // Export: fetched with the token in a header, saved as a file; the token is in no URL the page asked for.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('button.export')]);
    const lines = readFileSync((await download.path())!, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { what: string });
    expect(lines.map((line) => line.what)).toEqual(expect.arrayContaining([manual!.what, precedent!.what]));
    expect(download.suggestedFilename()).toMatch(/^precedents-.*\.jsonl$/);
    expect(page.urls.filter((url) => url.includes(operatorToken))).toEqual([]);
    expect(page.violations).toEqual([]);
    await page.close();
  });

  it('a viewer, and an operator of another project, get no buttons', async () => {
    const run = await stack.createRun({ name: 'watched', project: 'alpha' });
    await extract(run.token, 'classify-viewer', { 'x-sim-output': 'malformed' });
    const [precedent] = await eventually(() => precedentsAt('classify-viewer'), (list) => list.length === 1);
    const viewer = (await stack.admin<{ token: string }>('POST', '/api/principals', { name: 'watcher', role: 'viewer' })).body.token;
    const page = await signIn(viewer);
    await page.goto(`${stack.gateway.url}/#/precedents`);
    const row = page.locator(`tr[data-precedent="${precedent!.id}"]`);
    await row.waitFor({ timeout: 5000 });
    await sleep(200);
    expect(await page.locator('table.precedents button').count()).toBe(0);
    expect(await page.locator('form.add-precedent').count()).toBe(0);
    expect(await page.locator('button.export').count()).toBe(1);
    await row.locator('.what a').click();
    await page.waitForSelector('dl.where');
    expect(await page.locator('main button, form.edit-precedent').count()).toBe(0);
    await page.close();

    // The server says so too: a viewer's list carries no actions, and its PATCH is refused.
    expect((await precedentsAt('classify-viewer', viewer))[0]!.actions).toEqual([]);
    const patch = await fetch(`${stack.gateway.url}/api/precedents/${precedent!.id}`, {
      method: 'PATCH', headers: { authorization: `Bearer ${viewer}`, 'content-type': 'application/json' }, body: JSON.stringify({ retired: true }),
    });
    expect(patch.status).toBe(403);

    // An operator of project beta does not see alpha's precedent at all.
    const beta = (await stack.admin<{ token: string }>('POST', '/api/principals', { name: 'ops-beta', role: 'operator', projects: ['beta'] })).body.token;
    const other = await signIn(beta);
    await other.goto(`${stack.gateway.url}/#/precedents`);
    await other.waitForSelector('.precedent-list p.empty, table.precedents');
    expect(await other.locator(`tr[data-precedent="${precedent!.id}"]`).count()).toBe(0);
    await other.goto(`${stack.gateway.url}/#/precedent/${precedent!.id}`);
    await other.waitForSelector('main p.error');
    expect(await other.locator('main button').count()).toBe(0);
    await other.close();
  });

  it('a hostile output in the evidence is shown as text', async () => {
    const run = await stack.createRun({ name: 'hostile', project: 'alpha' });
    // A total that is not an integer fails the schema; the output the model gave is the evidence.
    await extract(run.token, 'extract-hostile', { 'x-sim-output-json': JSON.stringify({ total: HOSTILE, lines: [] }) });
    const [precedent] = await eventually(() => precedentsAt('extract-hostile'), (list) => list.length === 1);
    expect(precedent!.evidence).toContain('<img src=x');
    const page = await signIn(ADMIN_TOKEN);
    await page.goto(`${stack.gateway.url}/#/precedents`);
    await page.locator(`tr[data-precedent="${precedent!.id}"]`).waitFor({ timeout: 5000 });
    await page.goto(`${stack.gateway.url}/#/precedent/${precedent!.id}`);
    await page.waitForSelector('pre.evidence');
    expect(await page.locator('pre.evidence').textContent()).toBe(precedent!.evidence);
    expect(await page.locator('img[src="x"], main script').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(page.violations).toEqual([]);
    await page.close();
  });
});
