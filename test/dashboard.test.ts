import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { ADMIN_TOKEN, sleep, startStack, type Stack } from './harness.js';

/**
 * The dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core): sign in, watch a run's clock move, stop a streaming run from the page
 * and see its official-client stream end, approve a held tool call from the queue, and a
 * viewer who sees the same runs with no buttons.
 */
const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.log(`dashboard browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`);

/** The browser's performance timeline, as far as these tests read it (the suite's types are Node's). */
interface BrowserTiming {
  getEntriesByType(type: string): { name: string; startTime: number; domContentLoadedEventEnd?: number; loadEventEnd?: number }[];
}

const SLOW = { 'x-sim-output-tokens': '4000', 'x-sim-tokens-per-second': '20' };
const INVOICE_SCHEMA = {
  type: 'object', properties: { total: { type: 'integer' }, lines: { type: 'array', items: { type: 'integer' } } }, required: ['total', 'lines'], additionalProperties: false,
};

/** The page's money format (dashboard/dom.js), to compare what it shows with what the API says. */
function usd(text: string): string {
  const value = Number(text);
  if (value === 0) return '$0';
  const abs = Math.abs(value);
  return `${value < 0 ? '-' : ''}$${abs.toFixed(abs >= 100 ? 2 : abs >= 1 ? 3 : abs >= 0.01 ? 4 : 6)}`;
}

describe.skipIf(!haveChromium)('dashboard in Chromium', () => {
  let stack: Stack;
  let browser: Browser;

  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    stack = await startStack({ config: (config) => ({ ...config, approvals: { ...config.approvals, tools: ['deploy*'] } }) });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  async function signIn(token: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
    const violations: string[] = [];
    page.on('console', (message) => { if (/Content Security Policy/i.test(message.text())) violations.push(message.text()); });
    page.on('pageerror', (error) => violations.push(error.message));
    await page.goto(stack.gateway.url + '/');
    await page.fill('#token', token);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#nav:not([hidden])');
    await page.waitForSelector('#live.on');
    (page as Page & { violations?: string[] }).violations = violations;
    return page;
  }

  it('first paint is fast on loopback', async () => {
    const page = await browser.newPage();
    await page.goto(stack.gateway.url + '/');
    await page.waitForSelector('#login');
    const paint = await page.evaluate(() => {
      const timing = performance as unknown as BrowserTiming;
      const entries: Record<string, number> = Object.fromEntries(timing.getEntriesByType('paint').map((entry) => [entry.name, entry.startTime]));
      const navigation = timing.getEntriesByType('navigation')[0]!;
      return { ...entries, domContentLoaded: navigation.domContentLoadedEventEnd ?? 0, load: navigation.loadEventEnd ?? 0 } as Record<string, number>;
    });
    console.log(`dashboard paint timings on loopback (ms): ${JSON.stringify(paint)}`);
    expect(paint['first-contentful-paint']).toBeLessThan(1000);
    await page.close();

    // Signed in (the token kept for the tab): a reload paints, then shows live runs.
    await stack.createRun({ name: 'paint-probe' });
    const signedIn = await signIn(ADMIN_TOKEN);
    await signedIn.reload();
    await signedIn.waitForSelector('table.runs tbody tr');
    const live = await signedIn.evaluate(() => ({
      firstContentfulPaint: (performance as unknown as BrowserTiming).getEntriesByType('paint').find((entry) => entry.name === 'first-contentful-paint')?.startTime,
      runsShown: performance.now(),
    }));
    console.log(`signed-in reload on loopback (ms): ${JSON.stringify(live)}`);
    expect(live.firstContentfulPaint).toBeLessThan(1000);
    expect(live.runsShown).toBeLessThan(1000);
    await signedIn.close();
  });

  it('shows a run\'s clock moving, and Stop ends the run and its client\'s stream', async () => {
    const page = await signIn(ADMIN_TOKEN);
    const run = await stack.createRun({ name: 'agent-under-watch', budgetUsd: '0.5', project: 'alpha' });
    const row = page.locator(`tr[data-run="${run.id}"]`);
    await row.waitFor();
    expect(await row.locator('td.spent').textContent()).toBe('$0');
    const client = stack.openai(run.token, { maxRetries: 0 });
    await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'plan' }] }, { headers: { 'x-sim-output-tokens': '400' } });
    await expect.poll(() => row.locator('td.spent').textContent(), { timeout: 5000 }).not.toBe('$0');
    const first = await row.locator('td.spent').textContent();
    await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'act' }] }, { headers: { 'x-sim-output-tokens': '400' } });
    await expect.poll(() => row.locator('td.spent').textContent(), { timeout: 5000 }).not.toBe(first);
    expect(await row.locator('.model').textContent()).toBe('gpt-4o');
    expect(await row.locator('.burn').textContent()).toMatch(/^\$[\d.]+\/h$/);
    expect(await row.locator('.zero').textContent()).not.toBe('—');

    // A slow stream through the gateway, read by the official client.
    const stream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'write' }] }, { headers: SLOW });
    let chunks = 0;
    const ending = (async () => {
      try {
        for await (const chunk of stream) if (chunk.choices[0]?.delta.content) chunks++;
        return 'finished';
      } catch (error) {
        return `error: ${(error as Error).message}`;
      }
    })();
    while (chunks < 5) await sleep(20);
    await expect.poll(() => row.locator('.flight').textContent(), { timeout: 5000 }).toBe('1');
    await row.locator('button.act-stop').click();
    const ended = await Promise.race([ending, sleep(5000).then(() => 'still streaming')]);
    expect(ended).toMatch(/^error: .*stopped/);
    await expect.poll(() => row.locator('.badge').textContent(), { timeout: 5000 }).toBe('stopped');
    expect(await row.locator('button').count()).toBe(0);
    const { body } = await stack.admin<{ state: string }>('GET', `/api/runs/${run.id}`);
    expect(body.state).toBe('stopped');

    // The run's page: its calls as a waterfall, the cut one among them, and the audit trail.
    await row.locator('.name a').click();
    await page.waitForSelector('svg.waterfall rect.call-cut');
    expect(await page.locator('table.calls tbody tr').count()).toBe(3);
    await expect.poll(() => page.locator('table.audit').textContent()).toContain('run.stop');
    expect((page as Page & { violations?: string[] }).violations).toEqual([]);
    await page.close();
  });

  it('pauses and resumes a run from its page', async () => {
    const page = await signIn(ADMIN_TOKEN);
    const run = await stack.createRun({ name: 'pausable', project: 'alpha', budgetUsd: '1' });
    await page.goto(`${stack.gateway.url}/#/run/${run.id}`);
    await page.locator('.run-header button.act-pause').click();
    await expect.poll(() => page.locator('.run-header .badge').textContent(), { timeout: 5000 }).toBe('paused');
    // A call of the paused run waits at the gateway until Resume.
    let answered = false;
    const held = stack.openai(run.token, { maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'wait' }] })
      .then(() => { answered = true; });
    await sleep(300);
    expect(answered).toBe(false);
    await page.locator('.run-header button.act-resume').click();
    await held;
    await expect.poll(() => page.locator('.run-header .badge').textContent(), { timeout: 5000 }).toBe('running');
    await expect.poll(() => page.locator('table.calls tbody tr').count(), { timeout: 5000 }).toBe(1);
    await page.close();
  });

  it('approves a held tool call from the queue; the agent gets its tool call', async () => {
    const page = await signIn(ADMIN_TOKEN);
    const run = await stack.createRun({ name: 'deployer', project: 'alpha' });
    const answer = stack.openai(run.token, { maxRetries: 0 }).chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ship it' }] },
      { headers: { 'x-sim-tool-call': 'deploy_prod', 'x-sim-tool-args': JSON.stringify({ target: '<script>alert(1)</script>' }) } },
    );
    await page.click('nav a[data-view=approvals]');
    const card = page.locator('article.approval').first();
    await card.waitFor({ timeout: 5000 });
    // Agent-controlled text is shown as text, never markup.
    expect(await card.locator('pre.args').textContent()).toContain('<script>alert(1)</script>');
    expect(await page.locator('article.approval script').count()).toBe(0);
    await card.locator('input.note').fill('looks fine');
    await card.locator('button.act-approve').click();
    const completion = await answer;
    expect((completion.choices[0]?.message.tool_calls?.[0] as { function?: { name: string } } | undefined)?.function?.name).toBe('deploy_prod');
    const { body } = await stack.admin<{ approvals: { state: string; note: string; decidedBy: string }[] }>('GET', `/api/approvals?run=${run.id}`);
    expect(body.approvals[0]).toMatchObject({ state: 'approved', note: 'looks fine', decidedBy: 'admin' });
    await expect.poll(() => page.locator('article.approval').count(), { timeout: 5000 }).toBe(0);
    await page.click('nav a[data-view=alerts]');
    await expect.poll(() => page.locator('table.alerts').textContent(), { timeout: 5000 }).toContain('deploy_prod');
    // Spend over time and top burners, as charts; the waste section answers even before any waste.
    await page.click('nav a[data-view=spend]');
    await page.waitForSelector('svg.stacked rect');
    await page.waitForSelector('.burners .hbars li');
    await expect.poll(() => page.locator('section.waste').textContent()).toContain('Waste over time');
    await page.selectOption('select[name=by]', 'project');
    await expect.poll(() => page.locator('ul.legend').textContent()).toContain('alpha');
    await page.close();
  });

  it('shows contract verdicts and waste on a run\'s page, and the waste chart drawn from /api/waste', async () => {
    const run = await stack.createRun({ name: 'extractor', project: 'alpha' });
    const client = stack.openai(run.token, { maxRetries: 0 });
    const extract = (headers: Record<string, string>) => client.chat.completions.create({
      model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Read the invoice.' }],
      response_format: { type: 'json_schema', json_schema: { name: 'invoice', schema: INVOICE_SCHEMA } },
    }, { headers: { 'x-intime-step': 'extract', ...headers } }).withResponse();
    // A first try the gateway judges failed, then a retry that passes: the final stage passed, the first try was waste.
    const first = await extract({ 'x-sim-output': 'malformed' });
    expect(first.response.headers.get('x-intime-contract-verdict')).toBe('failed');
    const firstId = first.response.headers.get('x-intime-call-id')!;
    const retry = await extract({ 'x-intime-attempt': '2', 'x-intime-retry-of': firstId });
    expect(retry.response.headers.get('x-intime-contract-verdict')).toBe('passed');
    const page = await signIn(ADMIN_TOKEN);
    await page.goto(`${stack.gateway.url}/#/run/${run.id}`);
    await expect.poll(() => page.locator('table.calls tbody tr').count(), { timeout: 5000 }).toBe(2);
    const failedRow = page.locator(`table.calls tr[data-call="${firstId}"]`);
    expect(await failedRow.locator('.badge.verdict-failed').textContent()).toBe('failed');
    expect(await failedRow.locator('.badge.verdict-failed').getAttribute('title')).toMatch(/not valid JSON/);
    expect(await failedRow.locator('.verdict .sub').first().textContent()).toBe('invoice');
    const retryRow = page.locator(`table.calls tr[data-call="${retry.response.headers.get('x-intime-call-id')}"]`);
    expect(await retryRow.locator('.badge.verdict-passed').textContent()).toBe('passed');
    expect(await retryRow.locator('.attempt').textContent()).toBe('#2');

    // The run's waste beside its spend, and a verdict the library posts later moves it live.
    const shown = async () => Number((await page.locator('.run-header .stat-wasted .value').textContent())!.replace('$', ''));
    const view = async () => (await stack.admin<{ wastedUsd: string; spentUsd: string }>('GET', `/api/runs/${run.id}`)).body;
    await expect.poll(shown, { timeout: 5000 }).toBeCloseTo(Number((await view()).wastedUsd), 6);
    expect(Number((await view()).wastedUsd)).toBeGreaterThan(0);
    expect(Number((await view()).wastedUsd)).toBeLessThan(Number((await view()).spentUsd));
    const plain = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Sum it.' }] }, { headers: { 'x-intime-step': 'check' } }).withResponse();
    const plainId = plain.response.headers.get('x-intime-call-id')!;
    const plainRow = page.locator(`table.calls tr[data-call="${plainId}"]`);
    await expect.poll(() => plainRow.locator('.verdict').textContent(), { timeout: 5000 }).toBe('—');
    const judge = (body: Record<string, unknown>) => fetch(`${stack.gateway.url}/api/calls/${plainId}/verdict`, {
      method: 'POST', headers: { authorization: `Bearer ${run.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    // A verdict posted after the call settled shows without a reload: a pass (no waste), then a failure of a stricter check.
    expect((await judge({ verdict: 'passed', contract: 'totals-match', version: 3 })).status).toBe(200);
    await expect.poll(() => plainRow.locator('.badge').textContent(), { timeout: 5000 }).toBe('passed');
    expect((await judge({ verdict: 'failed', contract: 'totals-match', version: 3, violation: 'total 41 is not the sum of lines (42)' })).status).toBe(200);
    await expect.poll(() => plainRow.locator('.badge.verdict-failed').getAttribute('title'), { timeout: 5000 }).toBe('total 41 is not the sum of lines (42)');
    expect(await plainRow.locator('.verdict .sub').first().textContent()).toBe('totals-match@3');
    const final = await view();
    const calls = (await stack.admin<{ calls: { id: string; costUsd: string }[] }>('GET', `/api/runs/${run.id}/calls`)).body.calls;
    const cost = (id: string) => Number(calls.find((call) => call.id === id)!.costUsd);
    expect(Number(final.wastedUsd)).toBeCloseTo(cost(firstId) + cost(plainId), 12);
    await expect.poll(shown, { timeout: 5000 }).toBeCloseTo(Number(final.wastedUsd), 6);
    await page.click('nav a[data-view=runs]');
    await expect.poll(async () => Number((await page.locator(`tr[data-run="${run.id}"] td.wasted`).textContent())!.replace('$', '')), { timeout: 5000 })
      .toBeCloseTo(Number(final.wastedUsd), 6);

    // The waste chart: one point per day from /api/waste?by=day, and where it burned by stage.
    const wasteRequests: string[] = [];
    page.on('request', (request) => { if (request.url().includes('/api/waste')) wasteRequests.push(new URL(request.url()).search); });
    await page.click('nav a[data-view=spend]');
    const dot = page.locator('section.waste svg.line circle.waste-dot').last();
    await dot.waitFor({ timeout: 5000 });
    expect(wasteRequests.some((query) => query.startsWith('?by=day'))).toBe(true);
    const { body: days } = await stack.admin<{ rows: { group: string; wastedUsd: string }[]; total: { wastedUsd: string; failedCalls: number } }>('GET', '/api/waste?by=day');
    const today = days.rows.find((row) => row.group === new Date().toISOString().slice(0, 10))!;
    const [label, amount] = (await dot.locator('title').textContent())!.split(': ');
    expect(label).toBe(today.group);
    expect(Number(amount!.replace('$', ''))).toBeCloseTo(Number(today.wastedUsd), 6);
    expect(await page.locator('section.waste .waste-total').textContent()).toContain(`${days.total.failedCalls} of`);
    expect(await page.locator('section.waste .waste-by').textContent()).toContain('extract');
    expect((page as Page & { violations?: string[] }).violations).toEqual([]);
    await page.close();
  });

  it('shows a run\'s forecast against what it actually spent', async () => {
    // Forty finished runs of the pipeline, $0.01 to $0.046: enough history for P50/P90/P99.
    const history = Array.from({ length: 40 }, (_, index) => ({
      id: `dash-past-${index}`, group: 'summarize', model: 'gpt-4o-mini', features: {}, inputTokens: 2000, outputTokens: 500, calls: 3,
      costUsd: 0.01 + (index % 10) * 0.004, finishedAt: new Date(Date.UTC(2026, 0, 1, 0, index)).toISOString(),
    }));
    expect((await stack.admin('POST', '/api/history/import', { runs: history })).status).toBe(200);
    const run = await stack.createRun({ name: 'forecasted', project: 'alpha', budgetUsd: '1', task: { pipeline: 'summarize', model: 'gpt-4o-mini', inputTokens: 2000 } });
    await stack.openai(run.token, { maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'summarize' }] }, { headers: { 'x-sim-output-tokens': '300' } });
    type Quantiles = { p50: string; p90: string; p99: string };
    const { body } = await stack.admin<{ forecast: { costUsd: Quantiles; actual: { costUsd: string; calls: number }; actualBand: { cost: string } } }>('GET', `/api/runs/${run.id}`);
    expect(body.forecast.costUsd).not.toBeNull();
    const page = await signIn(ADMIN_TOKEN);
    const row = page.locator(`tr[data-run="${run.id}"]`);
    await expect.poll(() => row.locator('td.forecast').textContent(), { timeout: 5000 }).toBe(`P90 ${usd(body.forecast.costUsd.p90)}`);
    await page.goto(`${stack.gateway.url}/#/run/${run.id}`);
    const cost = page.locator('section.forecast tr.forecast-cost');
    await cost.waitFor({ timeout: 5000 });
    expect(await cost.locator('.p50').textContent()).toBe(usd(body.forecast.costUsd.p50));
    expect(await cost.locator('.p90').textContent()).toBe(usd(body.forecast.costUsd.p90));
    expect(await cost.locator('.p99').textContent()).toBe(usd(body.forecast.costUsd.p99));
    expect(await cost.locator('.actual').textContent()).toBe(usd(body.forecast.actual.costUsd));
    expect(await cost.locator('.badge').textContent()).toBe(body.forecast.actualBand.cost);
    expect(await page.locator('section.forecast tr.forecast-calls .actual').textContent()).toBe(String(body.forecast.actual.calls));
    // A run without a task shows no forecast section.
    const plain = await stack.createRun({ name: 'no-task', project: 'alpha' });
    await page.goto(`${stack.gateway.url}/#/run/${plain.id}`);
    await page.locator('.run-body h3').first().waitFor({ timeout: 5000 });
    expect(await page.locator('section.forecast').count()).toBe(0);
    await page.close();
  });

  it.runIf(process.env.INTIME_SCREENSHOT)('takes the screenshot for the docs', async () => {
    const history = Array.from({ length: 40 }, (_, index) => ({
      id: `shot-past-${index}`, group: 'invoice-pipeline', model: 'gpt-4o-mini', features: {}, inputTokens: 2000, outputTokens: 800, calls: 4,
      costUsd: 0.0008 + (index % 10) * 0.0002, finishedAt: new Date(Date.UTC(2026, 0, 1, 0, index)).toISOString(),
    }));
    await stack.admin('POST', '/api/history/import', { runs: history });
    const task = { pipeline: 'invoice-pipeline', model: 'gpt-4o-mini', inputTokens: 2000 };
    const busy = [
      await stack.createRun({ name: 'research-agent', project: 'search', budgetUsd: '2', task }),
      await stack.createRun({ name: 'coding-agent', project: 'alpha', budgetUsd: '0.25' }),
      await stack.createRun({ name: 'triage-bot', project: 'support', budgetUsd: '1' }),
    ];
    const streams: Promise<unknown>[] = [];
    for (const [index, run] of busy.entries()) {
      const client = stack.openai(run.token, { maxRetries: 0 });
      for (let call = 0; call < 2 + index * 2; call++) {
        await client.chat.completions.create({ model: index === 1 ? 'gpt-4o' : 'gpt-4o-mini', messages: [{ role: 'user', content: 'go' }] }, { headers: { 'x-sim-output-tokens': String(300 + call * 200) } });
      }
      streams.push(client.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'go' }] }, { headers: SLOW })
        .then(async (stream) => { for await (const _ of stream) void _; }).catch(() => undefined));
    }
    const page = await signIn(ADMIN_TOKEN);
    await page.waitForSelector(`tr[data-run="${busy[2]!.id}"]`);
    await sleep(2500);
    await page.screenshot({ path: 'docs/dashboard.png', fullPage: true });
    for (const run of busy) await stack.admin('POST', `/api/runs/${run.id}/stop`, {});
    await Promise.all(streams);

    // A run's page: a pipeline that passed in the end after failed tries, with its forecast.
    const pipeline = await stack.createRun({ name: 'invoice-pipeline', project: 'alpha', budgetUsd: '0.01', task });
    const client = stack.openai(pipeline.token, { maxRetries: 0 });
    const stage = async (step: string, outputs: (string | undefined)[]) => {
      let previous: string | null = null;
      for (const [index, output] of outputs.entries()) {
        const answer = await client.chat.completions.create({
          model: index < 2 ? 'gpt-4o-mini' : 'gpt-4o', messages: [{ role: 'user', content: `${step} the invoice` }],
          response_format: { type: 'json_schema', json_schema: { name: step, schema: INVOICE_SCHEMA } },
        }, { headers: { 'x-intime-step': step, ...(output ? { 'x-sim-output': output } : {}), ...(previous ? { 'x-intime-attempt': String(index + 1), 'x-intime-retry-of': previous } : {}) } }).withResponse();
        previous = answer.response.headers.get('x-intime-call-id');
      }
    };
    await stage('extract', ['malformed', undefined]);
    await stage('validate', ['empty-object', 'truncated', undefined]);
    await stage('summarize', [undefined]);
    await stack.admin('POST', `/api/runs/${pipeline.id}/complete`, {});
    await page.goto(`${stack.gateway.url}/#/run/${pipeline.id}`);
    await page.waitForSelector('section.forecast tr.forecast-cost');
    await page.waitForSelector('table.calls .badge.verdict-failed');
    await page.screenshot({ path: 'docs/dashboard-run.png', fullPage: true });
    await page.close();
  });

  it('a viewer sees runs and the queue but no buttons', async () => {
    const { body: viewer } = await stack.admin<{ token: string }>('POST', '/api/principals', { name: 'watcher', role: 'viewer' });
    const run = await stack.createRun({ name: 'watched', project: 'alpha' });
    const held = stack.openai(run.token, { maxRetries: 0 }).chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ship' }] }, { headers: { 'x-sim-tool-call': 'deploy_prod' } },
    ).catch(() => undefined);
    const page = await signIn(viewer.token);
    expect(await page.locator('#who').textContent()).toContain('viewer');
    await page.locator(`tr[data-run="${run.id}"]`).waitFor();
    await sleep(300);
    expect(await page.locator('table.runs button').count()).toBe(0);
    await page.click('nav a[data-view=approvals]');
    await page.locator('article.approval').first().waitFor({ timeout: 5000 });
    expect(await page.locator('article.approval button').count()).toBe(0);
    const { body } = await stack.admin<{ approvals: { id: string }[] }>('GET', `/api/approvals?state=pending&run=${run.id}`);
    await stack.admin('POST', `/api/approvals/${body.approvals[0]!.id}/deny`, {});
    await held;
    await page.close();
  });

  it('an agent cannot script the operator\'s page: hostile run names and step labels are text, and the headers hold', async () => {
    const hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
    const run = await stack.createRun({ name: hostile });
    await stack.openai(run.token, { maxRetries: 0 }).chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: hostile }] }, { headers: { 'x-intime-step': 'plan/step:1@v2#a=b+c' } },
    );
    const page = await signIn(ADMIN_TOKEN);
    const row = page.locator(`tr[data-run="${run.id}"]`);
    await row.waitFor();
    expect(await row.locator('.name').textContent()).toContain(hostile);
    await page.goto(`${stack.gateway.url}/#/run/${run.id}`);
    await page.locator('table.calls tbody tr').first().waitFor({ timeout: 5000 });
    expect(await page.locator('img[src="x"], main script, table script').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    expect((page as Page & { violations?: string[] }).violations).toEqual([]);
    await page.close();

    const html = await fetch(`${stack.gateway.url}/`);
    const csp = html.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/script-src 'self'/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    const api = await fetch(`${stack.gateway.url}/api/runs`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(api.headers.get('cache-control')).toBe('no-store');
  });
});
