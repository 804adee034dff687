#!/usr/bin/env node
// End-to-end check against a running helpdesk server: sign in, create a ticket
// through the form, see it in the list, reload (still signed in), see it again,
// sign out, reload (still signed out).
//
//   BASE_URL=http://127.0.0.1:8080 E2E_EMAIL=agent@example.com E2E_PASSWORD=… node e2e/create-ticket.mjs
//
// Env: BASE_URL, E2E_EMAIL, E2E_PASSWORD (required), CHROMIUM_PATH (default
// /usr/bin/chromium), SCREENSHOT=path.png (optional; the signed-in screen),
// SIGNIN_SCREENSHOT=path.png (optional; the sign-in screen), E2E_TIMEOUT_MS
// (default 60000).
// Prints "e2e: N passed, N failed" last; exits non-zero on failure.

import { runScenario, STEP_TIMEOUT_MS, expectSignIn } from './harness.mjs';

const SIGNIN_SCREENSHOT = process.env.SIGNIN_SCREENSHOT || '';
const E2E_EMAIL = process.env.E2E_EMAIL || '';
const E2E_PASSWORD = process.env.E2E_PASSWORD || '';


await runScenario(
  'create-ticket',
  { timeoutMs: 60_000, required: ['E2E_EMAIL', 'E2E_PASSWORD'] },
  async ({ page, base, pageErrors, screenshot }) => {
    const res = await page.goto(base.href, { waitUntil: 'domcontentloaded' });
    if (!res || !res.ok()) throw new Error(`GET ${base.href} answered ${res ? res.status() : 'nothing'}`);

    // Signed out: the sign-in screen.
    await expectSignIn(page, 'on first load');
    if (SIGNIN_SCREENSHOT) await page.screenshot({ path: SIGNIN_SCREENSHOT, fullPage: true });
    await page.getByLabel('Email', { exact: true }).fill(E2E_EMAIL);
    await page.getByLabel('Password', { exact: true }).fill(E2E_PASSWORD);
    const loggedIn = page.waitForResponse(
      (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/v1/auth/login',
    );
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const loginRes = await loggedIn;
    if (loginRes.status() !== 200) {
      throw new Error(`POST /api/v1/auth/login answered ${loginRes.status()}: ${await loginRes.text()}`);
    }
    const user = (await loginRes.json()).user ?? {};
    await expectSignedIn(page, user, 'after sign-in');

    // The existing flow: create a ticket, see it, reload, see it again.
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

    // A reload keeps the session (cookies) and shows the row from the server.
    await page.reload({ waitUntil: 'domcontentloaded' });
    await expectSignedIn(page, user, 'after reload');
    await expectRow(rowFor(), 'after reload');
    const idAfter = await rowFor().first().getAttribute('data-ticket-id');
    if (id !== idAfter) throw new Error(`ticket id changed across reload: ${id} then ${idAfter}`);
    const count = await rowFor().count();
    if (count !== 1) throw new Error(`expected exactly one row for "${subject}", found ${count}`);

    await screenshot();

    // Sign out: back to the sign-in screen, and a reload keeps it that way.
    const loggedOut = page.waitForResponse(
      (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/v1/auth/logout',
    );
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    const logoutRes = await loggedOut;
    if (logoutRes.status() !== 204 && logoutRes.status() !== 200) {
      throw new Error(`POST /api/v1/auth/logout answered ${logoutRes.status()}: ${await logoutRes.text()}`);
    }
    await expectSignIn(page, 'after sign-out');
    await page.reload({ waitUntil: 'domcontentloaded' });
    await expectSignIn(page, 'after sign-out and reload');
    if (await page.getByTestId('ticket-row').count()) throw new Error('ticket rows visible after sign-out');
  },
);


async function expectSignedIn(page, user, when) {
  try {
    await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
    await page.getByRole('heading', { name: 'New ticket' }).waitFor();
  } catch {
    throw new Error(`ticket screen not shown ${when}`);
  }
  const who = ((await page.getByTestId('current-user').textContent()) || '').toLowerCase();
  const names = [user.email, user.name, E2E_EMAIL].filter(Boolean).map((n) => n.toLowerCase());
  if (!names.some((n) => who.includes(n))) {
    throw new Error(`header shows "${who.trim()}" ${when}; want the user's name or email (${names.join(', ')})`);
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
