#!/usr/bin/env node
// End-to-end check of the email channel's admin side against a running
// helpdesk server: an admin opens Quarantine from the header, finds the
// quarantined message by its subject with its reason, releases it, follows
// the link to the ticket it opened, and on that ticket's page finds the
// Email section with the original message downloadable as message/rfc822.
// With E2E_TRUNCATED_SUBJECT, the message of that subject (kept only as its
// headers and the start of its body) is marked truncated and has no Release.
//
//   BASE_URL=… E2E_EMAIL=admin@… E2E_PASSWORD=… E2E_SUBJECT="…" E2E_REASON="Too large" node e2e/mail-admin.mjs
//
// Optional: QUARANTINE_SCREENSHOT, MAIL_SCREENSHOT (viewport screenshots of
// the two screens), SCREENSHOT (the ticket page, full length).
// Prints "e2e: ticket N" and "e2e: N passed, N failed" last; exits non-zero on failure.

import { runScenario, expectSignIn, waitText } from './harness.mjs';

const env = process.env;

await runScenario(
  'mail-admin',
  { timeoutMs: 90_000, required: ['E2E_EMAIL', 'E2E_PASSWORD', 'E2E_SUBJECT', 'E2E_REASON'] },
  async ({ page, base, screenshot }) => {
    await page.goto(base.href, { waitUntil: 'domcontentloaded' });
    await expectSignIn(page, 'on first load');
    await page.getByLabel('Email', { exact: true }).fill(env.E2E_EMAIL);
    await page.getByLabel('Password', { exact: true }).fill(env.E2E_PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();

    await page.getByRole('link', { name: 'Quarantine', exact: true }).click();
    await page.getByRole('heading', { name: 'Quarantined mail' }).waitFor();
    const row = page.getByTestId('quarantine-row').filter({ hasText: env.E2E_SUBJECT });
    await row.first().waitFor();
    await waitText(row, env.E2E_REASON, 'the quarantined row');
    if (env.E2E_TRUNCATED_SUBJECT) {
      const cut = page.getByTestId('quarantine-row').filter({ hasText: env.E2E_TRUNCATED_SUBJECT });
      await cut.first().waitFor();
      await waitText(cut, 'Truncated: headers and start kept', 'the truncated row');
      await waitText(cut, 'Cannot be released', 'the truncated row');
      if ((await cut.first().getByRole('button', { name: /^Release/ }).count()) !== 0) {
        throw new Error('a truncated message offers Release');
      }
    }
    if (env.QUARANTINE_SCREENSHOT) await page.screenshot({ path: env.QUARANTINE_SCREENSHOT });
    const raw = await row.first().getByRole('link', { name: 'Download' }).getAttribute('href');
    const dl = await page.request.get(new URL(raw, base).href);
    if (dl.status() !== 200 || !(await dl.text()).includes(env.E2E_SUBJECT)) {
      throw new Error(`quarantine download answered ${dl.status()}`);
    }

    await row.first().getByRole('button', { name: /^Release/ }).click();
    const status = page.getByTestId('quarantine-status');
    await waitText(status, 'Released: opened ticket #', 'the release status');
    const text = (await status.textContent()) || '';
    const number = Number((text.match(/ticket #(\d+)/) || [])[1]);
    if (!number) throw new Error(`no ticket number in "${text}"`);
    console.log(`e2e: ticket ${number}`);
    await row.first().waitFor({ state: 'detached' }).catch(() => {
      throw new Error('the released message is still listed as quarantined');
    });

    await page.getByRole('link', { name: `Open ticket #${number}` }).click();
    await page.getByTestId('ticket-detail').waitFor();
    const mail = page.getByTestId('ticket-mail');
    await waitText(mail, env.E2E_SUBJECT, 'the Email section');
    const href = await mail.getByRole('link', { name: 'Original message' }).first().getAttribute('href');
    const res = await page.request.get(new URL(href, base).href);
    const type = res.headers()['content-type'] || '';
    if (res.status() !== 200 || !type.startsWith('message/rfc822') || !(await res.text()).includes(env.E2E_SUBJECT)) {
      throw new Error(`original message download: ${res.status()} ${type}`);
    }
    await mail.scrollIntoViewIfNeeded();
    if (env.MAIL_SCREENSHOT) await page.screenshot({ path: env.MAIL_SCREENSHOT });
    await screenshot();
  },
);
