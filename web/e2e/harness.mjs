// The shared harness of the end-to-end scripts: one headless Chromium kept on
// the server under test, an overall deadline, a screenshot and the browser's
// own errors on failure, and the "e2e: N passed, N failed" line the Go system
// tests read.
//
// Env read here: BASE_URL (required), CHROMIUM_PATH (default
// /usr/bin/chromium), SCREENSHOT=path.png (optional; written by the script
// where it says, and on failure), E2E_TIMEOUT_MS (overrides the script's
// default deadline).

import { chromium } from 'playwright-core';

export const STEP_TIMEOUT_MS = 15_000;

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

// Runs body({ page, base, pageErrors, screenshot }) in a fresh browser and
// reports the outcome. required names env variables the script needs.
export async function runScenario(name, { timeoutMs = 60_000, viewport = { width: 1280, height: 900 }, required = [] }, body) {
  const overallMs = Number(process.env.E2E_TIMEOUT_MS || timeoutMs);
  const screenshotPath = process.env.SCREENSHOT || '';
  let browser;
  let finished = false;

  const finish = (err) => {
    if (finished) return;
    finished = true;
    if (err) {
      console.error(`e2e: FAIL ${name}: ${err && err.stack ? err.stack : err}`);
      console.log('e2e: 0 passed, 1 failed');
    } else {
      console.log('e2e: 1 passed, 0 failed');
    }
    process.exitCode = err ? 1 : 0;
  };
  const closeBrowser = async () => {
    const b = browser;
    browser = undefined;
    if (b) await Promise.race([b.close().catch(() => {}), new Promise((r) => setTimeout(r, 5_000))]);
  };
  const overall = setTimeout(async () => {
    finish(new Error(`timed out after ${overallMs / 1000} s`));
    await closeBrowser();
    process.exit(1);
  }, overallMs);

  const run = async () => {
    if (!process.env.BASE_URL) throw new Error('BASE_URL is not set (e.g. BASE_URL=http://127.0.0.1:8080)');
    const missing = required.filter((v) => !process.env[v]);
    if (missing.length) throw new Error(`${missing.join(', ')} not set`);
    const base = new URL(process.env.BASE_URL);

    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: STEP_TIMEOUT_MS,
    });
    const context = await browser.newContext({ viewport });
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
    const screenshot = async () => {
      if (screenshotPath) await page.screenshot({ path: screenshotPath, fullPage: true });
    };
    try {
      await body({ page, base, pageErrors, screenshot });
      // The page must work under the server's Content-Security-Policy:
      // Chromium reports whatever the policy blocked as a console error.
      const blocked = pageErrors.filter((e) => e.includes('Content Security Policy'));
      if (blocked.length) throw new Error(`the Content-Security-Policy blocked:\n    ${blocked.join('\n    ')}`);
    } catch (err) {
      await screenshot().catch(() => {});
      err.message += `\n  at ${page.url()}`;
      if (pageErrors.length) err.message += `\n  browser errors:\n    ${pageErrors.join('\n    ')}`;
      throw err;
    }
  };

  try {
    await run();
    finish();
  } catch (err) {
    finish(err);
  } finally {
    clearTimeout(overall);
    await closeBrowser();
  }
}

// The sign-in screen, fully drawn.
export async function expectSignIn(page, when) {
  try {
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
    await page.getByLabel('Email', { exact: true }).waitFor();
    await page.getByLabel('Password', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  } catch {
    throw new Error(`sign-in screen not shown ${when}`);
  }
}

// Waits until locator's text contains want.
export async function waitText(locator, want, what) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let got = '';
  while (Date.now() < deadline) {
    got = (await locator.first().textContent().catch(() => '')) || '';
    if (got.includes(want)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} shows "${got.trim()}", want it to contain "${want}"`);
}

// Whether response r answers method on a path matching pathRe.
export const isApi = (r, method, pathRe) => r.request().method() === method && pathRe.test(new URL(r.url()).pathname);

// Runs fn, naming what was expected when it fails.
export async function step(what, fn) {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`${what}: not shown (${err.message.split('\n')[0]})`);
  }
}

// Fails unless res is a 2xx.
export async function expectOk(res, what) {
  if (res.status() < 200 || res.status() > 299) throw new Error(`${what} answered ${res.status()}: ${await res.text()}`);
}

// Signs in through the sign-in screen and waits for the signed-in page.
export async function signIn(page, email, password) {
  await step('the sign-in screen', () => page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor());
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  const loggedIn = page.waitForResponse((r) => isApi(r, 'POST', /^\/api\/v1\/auth\/login$/));
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expectOk(await loggedIn, `sign-in as ${email}`);
  await step(`the ticket screen for ${email}`, () => page.getByRole('button', { name: 'Sign out', exact: true }).waitFor());
}
