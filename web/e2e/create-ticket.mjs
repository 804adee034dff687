#!/usr/bin/env node
// End-to-end check of the first screen against a running helpdesk server:
// create a ticket through the form, see it in the list, reload, see it again.
//
//   BASE_URL=http://127.0.0.1:8080 node e2e/create-ticket.mjs
//
// Env: BASE_URL (required), CHROMIUM_PATH (default /usr/bin/chromium),
// SCREENSHOT=path.png (optional), E2E_TIMEOUT_MS (default 60000).
// Prints "e2e: N passed, N failed" last; exits non-zero on failure.

import { chromium } from 'playwright-core';

const BASE_URL = process.env.BASE_URL;
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SCREENSHOT = process.env.SCREENSHOT || '';
const OVERALL_TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS || 60_000);
const STEP_TIMEOUT_MS = 15_000;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let browser;
let finished = false;

function finish(err) {
  if (finished) return;
  finished = true;
  if (err) {
    console.error(`e2e: FAIL create-ticket: ${err && err.stack ? err.stack : err}`);
    console.log('e2e: 0 passed, 1 failed');
  } else {
    console.log('e2e: 1 passed, 0 failed');
  }
  process.exitCode = err ? 1 : 0;
}

async function closeBrowser() {
  const b = browser;
  browser = undefined;
  if (b) await Promise.race([b.close().catch(() => {}), new Promise((r) => setTimeout(r, 5_000))]);
}

const overall = setTimeout(async () => {
  finish(new Error(`timed out after ${OVERALL_TIMEOUT_MS / 1000} s`));
  await closeBrowser();
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

async function run() {
  if (!BASE_URL) throw new Error('BASE_URL is not set (e.g. BASE_URL=http://127.0.0.1:8080)');
  const base = new URL(BASE_URL);

  browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: STEP_TIMEOUT_MS,
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 820 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);

  // Keep every request on the server under test.
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.protocol === 'data:' || u.host === base.host) return route.continue();
    return route.abort('blockedbyclient');
  });

  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
  });

  try {
    const res = await page.goto(base.href, { waitUntil: 'domcontentloaded' });
    if (!res || !res.ok()) throw new Error(`GET ${base.href} answered ${res ? res.status() : 'nothing'}`);
    await page.getByRole('heading', { name: 'helpdesk' }).waitFor();

    const subject = `Printer on fire ${Date.now()}`;
    await page.getByLabel('Subject').fill(subject);
    await page.getByLabel('Description').fill('Smoke is coming out of the printer on floor 3. Please send help.');
    await page.getByLabel('Priority').selectOption('high');

    const posted = page.waitForResponse(
      (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/v1/tickets',
    );
    await page.getByRole('button', { name: 'Create ticket' }).click();
    const postRes = await posted;
    if (postRes.status() !== 201 && postRes.status() !== 200) {
      throw new Error(`POST /api/v1/tickets answered ${postRes.status()}: ${await postRes.text()}`);
    }

    const rowFor = () => page.getByTestId('ticket-row').filter({ hasText: subject });
    await expectRow(rowFor(), 'after create');
    const id = await rowFor().first().getAttribute('data-ticket-id');

    await page.reload({ waitUntil: 'domcontentloaded' });
    await expectRow(rowFor(), 'after reload');
    const idAfter = await rowFor().first().getAttribute('data-ticket-id');
    if (id !== idAfter) throw new Error(`ticket id changed across reload: ${id} then ${idAfter}`);
    const count = await rowFor().count();
    if (count !== 1) throw new Error(`expected exactly one row for "${subject}", found ${count}`);

    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT, fullPage: true });
  } catch (err) {
    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT, fullPage: true }).catch(() => {});
    if (pageErrors.length) err.message += `\n  browser errors:\n    ${pageErrors.join('\n    ')}`;
    throw err;
  }
}

async function expectRow(row, when) {
  try {
    await row.first().waitFor({ state: 'visible' });
  } catch {
    throw new Error(`no visible ticket row with the new subject ${when}`);
  }
  // Wait for the expected badges rather than reading once: the server may
  // still be updating the row.
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let status = '';
  let priority = '';
  while (Date.now() < deadline) {
    status = ((await row.first().getByTestId('ticket-status').textContent()) || '').trim().toLowerCase();
    priority = ((await row.first().getByTestId('ticket-priority').textContent()) || '').trim().toLowerCase();
    if (status === 'open' && priority === 'high') return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`row ${when}: status "${status}", priority "${priority}"; want "open", "high"`);
}

try {
  await run();
  finish();
} catch (err) {
  finish(err);
} finally {
  clearTimeout(overall);
  await closeBrowser();
}
