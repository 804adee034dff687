#!/usr/bin/env node
// End-to-end check of classification against a running helpdesk server: an
// agent picks a category on the new-ticket form, sees that category's custom
// fields appear, is told by name which required field is missing, fills it
// and a dropdown, creates the ticket, and on the ticket's page sees the
// category path, the field values by their labels and the routing reason in
// the activity.
//
//   BASE_URL=… E2E_EMAIL=… E2E_PASSWORD=… E2E_CATEGORY="Hardware / Printers" \
//   E2E_TEXT_LABEL="Asset tag" E2E_DROPDOWN_LABEL="Printer model" E2E_DROPDOWN_OPTION="Laserjet" \
//   E2E_SUBJECT=… node e2e/classify-ticket.mjs
//
// Prints "e2e: ticket N" and "e2e: N passed, N failed" last; exits non-zero on failure.

import { runScenario, expectSignIn, waitText } from './harness.mjs';

const E2E_EMAIL = process.env.E2E_EMAIL || '';
const E2E_PASSWORD = process.env.E2E_PASSWORD || '';
const env = process.env;

await runScenario(
  'classify-ticket',
  {
    timeoutMs: 90_000,
    required: ['E2E_EMAIL', 'E2E_PASSWORD', 'E2E_CATEGORY', 'E2E_TEXT_LABEL', 'E2E_DROPDOWN_LABEL', 'E2E_DROPDOWN_OPTION', 'E2E_SUBJECT'],
  },
  async ({ page, base, screenshot }) => {
    await page.goto(base.href, { waitUntil: 'domcontentloaded' });
    await expectSignIn(page, 'on first load');
    await page.getByLabel('Email', { exact: true }).fill(E2E_EMAIL);
    await page.getByLabel('Password', { exact: true }).fill(E2E_PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
    await page.getByRole('heading', { name: 'New ticket' }).waitFor();

    // The category's fields appear only once the category is chosen.
    const fields = page.getByTestId('new-ticket-fields');
    if (await page.getByLabel(env.E2E_TEXT_LABEL, { exact: false }).count()) {
      throw new Error(`field "${env.E2E_TEXT_LABEL}" shown before its category is chosen`);
    }
    await page.getByLabel('Subject').fill(env.E2E_SUBJECT);
    await page.getByLabel('Description').fill('It prints every page twice.');
    const category = page.getByRole('region', { name: 'New ticket' }).getByLabel('Category', { exact: true });
    const value = await category.locator('option').filter({ hasText: env.E2E_CATEGORY.split(' / ').pop() }).first().getAttribute('value');
    if (!value) throw new Error(`no category option for "${env.E2E_CATEGORY}"`);
    await category.selectOption(value);
    const text = fields.getByLabel(env.E2E_TEXT_LABEL, { exact: false });
    await text.waitFor();
    await fields.getByLabel(env.E2E_DROPDOWN_LABEL, { exact: false }).selectOption({ label: env.E2E_DROPDOWN_OPTION });

    // Submitting without the required field names it and creates nothing.
    let posts = 0;
    page.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/tickets') posts++;
    });
    await page.getByRole('button', { name: 'Create ticket' }).click();
    // The error sits with the required field (its label names it) and is announced with it.
    const err = fields.locator('[data-field-key]').filter({ hasText: env.E2E_TEXT_LABEL }).locator('.field-error');
    await err.waitFor();
    if ((await text.getAttribute('aria-invalid')) !== 'true') throw new Error('the missing required field is not marked invalid');
    const errId = await err.getAttribute('id');
    if (!errId || !((await text.getAttribute('aria-describedby')) || '').includes(errId)) {
      throw new Error('the error is not tied to the field (aria-describedby)');
    }
    if (await fields.locator('[data-field-key]').filter({ hasText: env.E2E_DROPDOWN_LABEL }).locator('.field-error').count()) {
      throw new Error('the filled dropdown is flagged too');
    }
    await text.fill('PR-0042');
    const posted = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/v1/tickets');
    await page.getByRole('button', { name: 'Create ticket' }).click();
    const res = await posted;
    if (res.status() !== 201) throw new Error(`POST /api/v1/tickets answered ${res.status()}: ${await res.text()}`);
    const created = await res.json();
    console.log(`e2e: ticket ${created.id}`);
    if (posts > 1) throw new Error(`${posts} creates sent, want 1 (the invalid submit must not post)`);

    // The ticket's page: category path, field values by label, the routing reason.
    await page.goto(new URL(`/tickets/${created.id}`, base).href, { waitUntil: 'domcontentloaded' });
    await page.getByTestId('ticket-detail').waitFor();
    await waitText(page.getByTestId('ticket-category'), env.E2E_CATEGORY, 'category');
    const shown = page.getByTestId('ticket-fields');
    await waitText(shown.locator(`[data-field-key]`).filter({ hasText: env.E2E_TEXT_LABEL }), 'PR-0042', 'text field');
    await waitText(shown.locator(`[data-field-key]`).filter({ hasText: env.E2E_DROPDOWN_LABEL }), env.E2E_DROPDOWN_OPTION, 'dropdown field');
    await page.getByText('routed the ticket', { exact: false }).first().waitFor();
    const routed = (await page.getByText('routed the ticket', { exact: false }).first().textContent()) || '';
    if (!/strategy/.test(routed)) throw new Error(`routing entry without its reason: "${routed}"`);
    await screenshot();
  },
);
