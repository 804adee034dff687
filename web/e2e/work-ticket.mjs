#!/usr/bin/env node
// End-to-end check against a running helpdesk server: an agent works a
// ticket in the browser. Sign in, open the ticket from the list (its own
// URL, /tickets/N), move it to "in progress", add an internal note and a
// public reply, and see all three in the timeline, in order, also after a
// reload, then take the ticket. Optionally the ticket's requester then signs
// in and sees the reply but neither the note nor the "Internal note"
// toggle, and the requester view: the ticket is being worked, but not by
// whom (no agent email anywhere on the page), no team, SLA or escalation.
//
//   BASE_URL=http://127.0.0.1:8080 E2E_EMAIL=agent@example.com E2E_PASSWORD=… node e2e/work-ticket.mjs
//
// Env: BASE_URL, E2E_EMAIL, E2E_PASSWORD (required; a user with role agent,
// lead or admin). E2E_TICKET_SUBJECT (optional): an open ticket the agent
// sees in the list's first page; without it the script creates one through
// the form. E2E_NOTE_TEXT, E2E_REPLY_TEXT (optional): the texts to post.
// E2E_REQUESTER_EMAIL, E2E_REQUESTER_PASSWORD (optional): the ticket's
// requester, for the requester's view. CHROMIUM_PATH (default
// /usr/bin/chromium), SCREENSHOT=path.png (optional; the worked ticket, also
// written on failure), E2E_TIMEOUT_MS (default 90000). The server should
// run the default status_transitions: the script checks the status choices
// offered from "open".
// Prints "e2e: ticket N" once it knows the ticket, and "e2e: N passed, N
// failed" last; exits non-zero on failure.

import { expectOk, isApi, runScenario, signIn, step, STEP_TIMEOUT_MS } from './harness.mjs';

const E2E_EMAIL = process.env.E2E_EMAIL || '';
const E2E_PASSWORD = process.env.E2E_PASSWORD || '';
const REQUESTER_EMAIL = process.env.E2E_REQUESTER_EMAIL || '';
const REQUESTER_PASSWORD = process.env.E2E_REQUESTER_PASSWORD || '';
const STAMP = Date.now();
const TICKET_SUBJECT = process.env.E2E_TICKET_SUBJECT || '';
const NOTE = process.env.E2E_NOTE_TEXT || `Internal: checked the logs, disk is full (${STAMP})`;
const REPLY = process.env.E2E_REPLY_TEXT || `We are on it and will update you within the hour (${STAMP})`;

await runScenario(
  'work-ticket',
  { timeoutMs: 90_000, required: ['E2E_EMAIL', 'E2E_PASSWORD'] },
  async ({ page, base, pageErrors, screenshot }) => {
    const res = await page.goto(base.href, { waitUntil: 'domcontentloaded' });
    if (!res || !res.ok()) throw new Error(`GET ${base.href} answered ${res ? res.status() : 'nothing'}`);
    await signIn(page, E2E_EMAIL, E2E_PASSWORD);

    // The ticket: given, or made here through the form.
    let subject = TICKET_SUBJECT;
    if (!subject) {
      subject = `Laptop does not boot ${STAMP}`;
      await page.getByLabel('Subject').fill(subject);
      await page.getByLabel('Description').fill('The screen stays black after the logo.');
      const posted = page.waitForResponse((r) => isApi(r, 'POST', /^\/api\/v1\/tickets$/));
      await page.getByRole('button', { name: 'Create ticket' }).click();
      await expectOk(await posted, 'POST /api/v1/tickets');
    }

    // Open it from the list: a link to /tickets/N.
    const row = page.getByTestId('ticket-row').filter({ hasText: subject }).first();
    await step('the ticket in the list', () => row.waitFor({ state: 'visible' }));
    const id = await row.getAttribute('data-ticket-id');
    console.log(`e2e: ticket ${id}`);
    await row.getByRole('link', { name: subject }).click();
    await step('the ticket page', () => page.waitForURL((u) => u.pathname === `/tickets/${id}`));
    await expectTicketPage(page, subject, 'open', 'after opening it');
    await expectTimelineText(page, 'opened the ticket', 'the creation entry');

    // Only the moves the server allows from "open" are offered.
    const status = page.getByLabel('Status', { exact: true });
    const options = (await status.locator('option').allTextContents()).map((o) => o.trim().toLowerCase());
    const want = ['open (current)', 'in progress', 'pending', 'resolved', 'closed'];
    if (JSON.stringify(options) !== JSON.stringify(want)) {
      throw new Error(`status choices from open: ${JSON.stringify(options)}; want ${JSON.stringify(want)}`);
    }

    // Status: open → in progress.
    await status.selectOption('in_progress');
    const patched = page.waitForResponse((r) => isApi(r, 'PATCH', /^\/api\/v1\/tickets\/\d+$/));
    await page.getByRole('button', { name: 'Change status' }).click();
    const patchRes = await patched;
    await expectOk(patchRes, 'PATCH /api/v1/tickets/{id}');
    if (!patchRes.request().headers()['idempotency-key']) throw new Error('the PATCH carried no Idempotency-Key');
    await expectStatusLabel(page, 'in progress', 'after the change');
    await expectTimelineText(page, 'changed the status from open to in progress', 'the status change');

    // An internal note.
    const comment = page.getByLabel('Comment', { exact: true });
    const internal = page.getByLabel('Internal note', { exact: true });
    await comment.fill(NOTE);
    await internal.check();
    const noted = page.waitForResponse((r) => isApi(r, 'POST', /^\/api\/v1\/tickets\/\d+\/comments$/));
    await page.getByRole('button', { name: 'Add internal note' }).click();
    await expectOk(await noted, 'POST …/comments (internal)');
    const noteItem = page.getByTestId('timeline-item').filter({ hasText: NOTE });
    await step('the internal note in the timeline', () => noteItem.waitFor({ state: 'visible' }));
    const noteText = await noteItem.innerText();
    if (!/internal note/i.test(noteText)) throw new Error(`the note's entry is not marked internal: "${noteText}"`);
    if ((await comment.inputValue()) !== '') throw new Error('the comment box was not cleared after sending');

    // A public reply.
    await internal.uncheck();
    await comment.fill(REPLY);
    const replied = page.waitForResponse((r) => isApi(r, 'POST', /^\/api\/v1\/tickets\/\d+\/comments$/));
    await page.getByRole('button', { name: 'Send reply' }).click();
    await expectOk(await replied, 'POST …/comments (public)');
    const replyItem = page.getByTestId('timeline-item').filter({ hasText: REPLY });
    await step('the reply in the timeline', () => replyItem.waitFor({ state: 'visible' }));
    const replyText = await replyItem.innerText();
    if (/internal note/i.test(replyText)) throw new Error(`the public reply is marked internal: "${replyText}"`);

    await expectOrder(page, 'after working the ticket');
    await screenshot();

    // A reload of /tickets/N shows the same, read from the server.
    await page.reload({ waitUntil: 'domcontentloaded' });
    await expectTicketPage(page, subject, 'in progress', 'after reload');
    await expectOrder(page, 'after reload');

    // The agent takes the ticket, so the requester below sees an assigned
    // ticket (and must not learn by whom).
    const assigned = page.waitForResponse((r) => isApi(r, 'PATCH', /^\/api\/v1\/tickets\/\d+$/));
    await page.getByRole('button', { name: 'Assign to me' }).click();
    await expectOk(await assigned, 'PATCH /api/v1/tickets/{id} (assign to me)');
    await waitForText(() => page.getByTestId('control-assignee').innerText(), `you (${E2E_EMAIL.toLowerCase()})`, 'the assignee after taking the ticket');

    // Back to the list: the row shows the new status.
    await page.getByRole('link', { name: 'All tickets' }).click();
    await step('the list', () => page.waitForURL((u) => u.pathname === '/'));
    const listRow = page.getByTestId('ticket-row').filter({ hasText: subject }).first();
    await waitForText(() => listRow.getByTestId('ticket-status').innerText(), 'in progress', 'the row status in the list');

    // The requester's view: the reply, not the note, and no internal toggle.
    if (REQUESTER_EMAIL && REQUESTER_PASSWORD) {
      await signOut(page);
      await signIn(page, REQUESTER_EMAIL, REQUESTER_PASSWORD);
      await page.getByTestId('ticket-row').filter({ hasText: subject }).first().getByRole('link', { name: subject }).click();
      await expectTicketPage(page, subject, 'in progress', 'as the requester');
      await step("the agent's reply as the requester", () =>
        page.getByTestId('timeline-item').filter({ hasText: REPLY }).waitFor({ state: 'visible' }),
      );
      const all = await page.getByTestId('timeline').innerText();
      if (all.includes(NOTE)) throw new Error('the requester sees the internal note');
      if (await page.getByLabel('Internal note', { exact: true }).count()) {
        throw new Error('the requester is offered the "Internal note" toggle');
      }
      if (await page.getByRole('button', { name: 'Change status' }).count()) {
        throw new Error('the requester is offered the status control');
      }
      // The requester view: someone is on it, but not who by address; no
      // team, SLA or escalation; the agent's reply under their name.
      await waitForText(() => page.getByTestId('ticket-assignee').innerText(), 'an agent is on it', "the requester's assignee fact");
      for (const testId of ['ticket-team', 'ticket-sla', 'escalation-level']) {
        if (await page.getByTestId(testId).count()) throw new Error(`the requester is shown ${testId}`);
      }
      const body = await page.locator('body').innerText();
      if (body.toLowerCase().includes(E2E_EMAIL.toLowerCase())) throw new Error(`the requester's page shows the agent's email ${E2E_EMAIL}`);
      const replyEntry = await page.getByTestId('timeline-item').filter({ hasText: REPLY }).innerText();
      if (/user #\d+/.test(replyEntry)) throw new Error(`the agent's reply is shown without a name: "${replyEntry}"`);
    }

    if (pageErrors.some((e) => e.startsWith('pageerror:'))) throw new Error('the page threw');
  },
);


async function signOut(page) {
  const loggedOut = page.waitForResponse((r) => isApi(r, 'POST', /^\/api\/v1\/auth\/logout$/));
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expectOk(await loggedOut, 'sign-out');
  await step('the sign-in screen after sign-out', () => page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor());
}

async function expectTicketPage(page, subject, status, when) {
  await step(`the ticket heading ${when}`, () => page.getByRole('heading', { level: 2, name: subject }).waitFor());
  await expectStatusLabel(page, status, when);
}

function detailStatus(page) {
  return page.getByTestId('ticket-detail').getByTestId('ticket-status');
}

async function expectStatusLabel(page, want, when) {
  await waitForText(() => detailStatus(page).innerText(), want, `the status label ${when}`);
}

async function waitForText(read, want, what) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let got = '';
  while (Date.now() < deadline) {
    got = ((await read().catch(() => '')) || '').trim().toLowerCase();
    if (got === want) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: "${got}", want "${want}"`);
}

async function expectTimelineText(page, text, what) {
  await step(`${what} in the timeline`, () =>
    page.getByTestId('timeline-item').filter({ hasText: text }).first().waitFor({ state: 'visible' }),
  );
}

// Newest at the bottom: the status change, then the note, then the reply,
// which is the last entry.
async function expectOrder(page, when) {
  await expectTimelineText(page, REPLY, `the reply ${when}`);
  const entries = (await page.getByTestId('timeline-item').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
  const at = (needle) => entries.findIndex((e) => e.toLowerCase().includes(needle.toLowerCase()));
  const iStatus = at('changed the status from open to in progress');
  const iNote = at(NOTE);
  const iReply = at(REPLY);
  if (!(iStatus >= 0 && iStatus < iNote && iNote < iReply && iReply === entries.length - 1)) {
    throw new Error(`timeline ${when} is not in order (status ${iStatus}, note ${iNote}, reply ${iReply} of ${entries.length}):\n    ${entries.join('\n    ')}`);
  }
}
