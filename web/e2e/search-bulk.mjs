#!/usr/bin/env node
// End-to-end check of the staff search screen (docs/ui.md) against a
// running helpdesk server, on tickets the caller prepared: suggestions
// while typing, a refused query shown at its position, results with
// highlights (a subject holding HTML stays text), facets that add and take
// out terms, the windowed list scrolled to its end, the CSV export link
// (with the BOM for Excel), a saved view (its count, renamed, deleted), a
// built-in view, then select → "all N matching" → bulk resolve → live progress
// with the one ticket that cannot be resolved listed as a failure.
//
//   BASE_URL=… E2E_EMAIL=agent@example.com E2E_PASSWORD=… E2E_WORD=srchui123 \
//   E2E_TOTAL=80 E2E_HTML_ID=12 E2E_CLOSED_ID=13 node e2e/search-bulk.mjs
//
// Env: BASE_URL, E2E_EMAIL, E2E_PASSWORD (a staff member), E2E_WORD (a
// word in the subject of exactly E2E_TOTAL tickets the user sees, all open
// but one), E2E_TOTAL (more than one page, 50), E2E_HTML_ID (the one among
// them whose subject is `<img src=x onerror="window.__xss=1"> … E2E_WORD`),
// E2E_CLOSED_ID (the one that is closed: it cannot move to resolved).
// CHROMIUM_PATH, SCREENSHOT, E2E_TIMEOUT_MS (default 180000) as in harness.mjs.
// Prints "e2e: bulk N" with the bulk action's id, and "e2e: N passed, N
// failed" last; exits non-zero on failure.

import { expectOk, isApi, runScenario, signIn, step, STEP_TIMEOUT_MS } from './harness.mjs';

const EMAIL = process.env.E2E_EMAIL || '';
const PASSWORD = process.env.E2E_PASSWORD || '';
const WORD = process.env.E2E_WORD || '';
const TOTAL = Number(process.env.E2E_TOTAL || 0);
const HTML_ID = process.env.E2E_HTML_ID || '';
const CLOSED_ID = process.env.E2E_CLOSED_ID || '';

// The screen's searches, not the views' counts (those ask for no facets).
const isSearch = (r) => isApi(r, 'GET', /^\/api\/v1\/tickets\/search$/) && !new URL(r.url()).searchParams.has('facets');

await runScenario(
  'search-bulk',
  { timeoutMs: 180_000, required: ['E2E_EMAIL', 'E2E_PASSWORD', 'E2E_WORD', 'E2E_TOTAL', 'E2E_HTML_ID', 'E2E_CLOSED_ID'] },
  async ({ page, base, pageErrors, screenshot }) => {
    if (!(TOTAL > 50)) throw new Error(`E2E_TOTAL=${TOTAL}: want more than one page (50)`);
    const res = await page.goto(base.href, { waitUntil: 'domcontentloaded' });
    if (!res || !res.ok()) throw new Error(`GET ${base.href} answered ${res ? res.status() : 'nothing'}`);
    await signIn(page, EMAIL, PASSWORD);
    await page.getByRole('link', { name: 'Search', exact: true }).click();
    await step('the search screen', () => page.waitForURL((u) => u.pathname === '/search'));
    const box = page.getByTestId('search-input');
    await box.waitFor();

    // --- Suggestions: a field name, then its values, by keyboard.
    await box.click();
    await box.pressSequentially('stat');
    await expectSuggestions(page, (s) => s.some((x) => x.startsWith('status:')), 'a field name for "stat"');
    await box.press('Tab');
    await expectValue(box, 'status:', 'after Tab on the field name');
    await expectSuggestions(page, (s) => s.length >= 5 && s[0] === 'open' && s.includes('in_progress'), 'the statuses after "status:"');
    await box.press('ArrowDown');
    await box.press('ArrowDown');
    await box.press('Enter');
    await expectValue(box, 'status:in_progress ', 'after ↓↓ Enter on the values');
    if (!page.url().endsWith('/search')) throw new Error(`taking a suggestion with Enter ran a search: ${page.url()}`);
    await box.pressSequentially('assignee:m');
    await expectSuggestions(page, (s) => s[0] === 'me', 'me for "assignee:m"');
    await box.press('Escape');
    await step('the suggestions closed by Esc', () => page.getByRole('listbox').waitFor({ state: 'hidden' }));

    // --- A refused query: the server's message under the character it
    // points at. "ü" is two bytes: the server counts bytes, the page must
    // still point at the "s" of "stauts".
    const bad = `ü ${WORD} stauts:open`;
    const at = bad.indexOf('stauts');
    await box.fill(bad);
    const refused = page.waitForResponse(isSearch);
    await box.press('Enter');
    const refusedRes = await refused;
    if (refusedRes.status() !== 422) throw new Error(`the bad query answered ${refusedRes.status()}, want 422`);
    const problem = await refusedRes.json();
    const entry = (problem.errors || []).find((e) => e.field === 'q');
    if (!entry || entry.position !== Buffer.byteLength(bad.slice(0, at))) {
      throw new Error(`the 422 names ${JSON.stringify(problem.errors)}; want field q at byte ${Buffer.byteLength(bad.slice(0, at))}`);
    }
    const mark = page.getByTestId('query-error-at');
    await step('the query error', () => mark.waitFor());
    const index = Number(await mark.getAttribute('data-index'));
    const char = await mark.textContent();
    if (index !== at || char !== 's') throw new Error(`the error points at index ${index} ("${char}"), want ${at} ("s")`);
    const message = await page.getByTestId('query-error').innerText();
    if (!message.includes('stauts')) throw new Error(`the error message does not name the field: "${message}"`);
    if ((await box.getAttribute('aria-invalid')) !== 'true') throw new Error('the box is not marked invalid');
    const sel = await box.evaluate((el) => [el.selectionStart, el.selectionEnd]);
    if (sel[0] !== at) throw new Error(`the caret is at ${sel[0]}, want it on the refused character (${at})`);

    // --- The word's tickets: the URL holds the query (a reload shows the same).
    await search(page, WORD);
    if (new URL(page.url()).searchParams.get('q') !== WORD) throw new Error(`the URL does not hold the query: ${page.url()}`);
    await expectTotal(page, TOTAL, `for ${WORD}`);
    await page.reload({ waitUntil: 'domcontentloaded' });
    await expectTotal(page, TOTAL, `for ${WORD} after a reload`);
    await expectValue(page.getByTestId('search-input'), WORD, 'the box after a reload');

    // Highlights: the word is marked in the subjects.
    const firstRow = page.getByTestId('search-row').first();
    const marked = (await firstRow.getByTestId('result-subject').locator('mark').allTextContents()).map((t) => t.toLowerCase());
    if (!marked.includes(WORD.toLowerCase())) throw new Error(`the first row's subject marks ${JSON.stringify(marked)}, want "${WORD}"`);

    // A subject holding HTML is shown as text: no element made from it, no script run.
    await search(page, `${WORD} onerror`);
    await expectTotal(page, 1, 'for the HTML subject');
    const htmlRow = page.locator(`[data-testid="search-row"][data-ticket-id="${HTML_ID}"]`);
    await step('the row with HTML in its subject', () => htmlRow.waitFor());
    const shown = await htmlRow.getByTestId('result-subject').innerText();
    if (!shown.includes('<img src=x onerror="window.__xss=1">')) throw new Error(`the subject is shown as "${shown}", want the HTML as text`);
    if (await htmlRow.locator('img').count()) throw new Error('the subject became an <img> element');
    if ((await htmlRow.getByTestId('result-subject').locator('mark').count()) === 0) throw new Error('no highlight in the HTML subject');
    if (await page.evaluate(() => window.__xss)) throw new Error('the subject ran script');

    // --- Facets: status:open is added to the query, then taken out.
    await search(page, WORD);
    const openFacet = page.locator('[data-testid="facet"][data-field="status"][data-value="open"]');
    await step('the status facet', () => openFacet.waitFor());
    const openCount = Number((await openFacet.locator('.facet-count').textContent()).replace(/\D/g, ''));
    if (openCount !== TOTAL - 1) throw new Error(`the open facet counts ${openCount}, want ${TOTAL - 1}`);
    let searched = page.waitForResponse(isSearch);
    await openFacet.click();
    await searched;
    if (new URL(page.url()).searchParams.get('q') !== `${WORD} status:open`) throw new Error(`after the facet the query is ${page.url()}`);
    await expectTotal(page, TOTAL - 1, 'with status:open');
    if ((await openFacet.getAttribute('aria-pressed')) !== 'true') throw new Error('the open facet is not shown as on');
    searched = page.waitForResponse(isSearch);
    await openFacet.click();
    await searched;
    if (new URL(page.url()).searchParams.get('q') !== WORD) throw new Error(`after the second click the query is ${page.url()}`);
    await expectTotal(page, TOTAL, 'after taking status:open out');

    // --- The windowed list: scroll to the end; the next page arrives and
    // only rows near the view are in the DOM.
    const scroller = page.getByTestId('results-scroll');
    const lastRow = page.locator(`[data-testid="search-row"][data-index="${TOTAL - 1}"]`);
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (!(await lastRow.count())) {
      if (Date.now() > deadline) throw new Error(`row ${TOTAL} never came into the list`);
      await scroller.evaluate((el) => el.scrollTo(0, el.scrollHeight));
      await page.waitForTimeout(150);
    }
    const inDom = await page.getByTestId('search-row').count();
    if (inDom >= TOTAL / 2) throw new Error(`${inDom} rows of ${TOTAL} are in the DOM: the list is not windowed`);
    await step('the end of the list', () => page.getByText(`All ${TOTAL} shown.`).waitFor());
    await scroller.evaluate((el) => el.scrollTo(0, 0));

    // --- Export: the CSV link carries the query; "for Excel" adds the BOM.
    // The download is the word's tickets, the HTML subject as plain text.
    await page.getByTestId('export-bom').check();
    const href = await page.getByTestId('export-csv').getAttribute('href');
    const link = new URL(href, base);
    if (link.pathname !== '/api/v1/tickets/export' || link.searchParams.get('q') !== WORD || link.searchParams.get('format') !== 'csv' || link.searchParams.get('bom') !== '1') {
      throw new Error(`the CSV link is ${href}`);
    }
    const csv = await page.request.get(link.href);
    if (csv.status() !== 200) throw new Error(`the CSV download answered ${csv.status()}: ${await csv.text()}`);
    const bytes = await csv.body();
    if (!(bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)) throw new Error('the CSV for Excel does not start with a BOM');
    const lines = bytes.toString('utf8').slice(1).trimEnd().split('\r\n');
    if (lines.length !== TOTAL + 1) throw new Error(`the CSV has ${lines.length} lines, want a header and ${TOTAL} tickets`);
    if (!lines.some((l) => l.includes('<img src=x onerror=""window.__xss=1""> '))) throw new Error('the CSV lacks the HTML subject as text');
    const ndjson = new URL(await page.getByTestId('export-ndjson').getAttribute('href'), base);
    if (ndjson.searchParams.get('q') !== WORD || ndjson.searchParams.get('format') !== 'ndjson' || ndjson.searchParams.has('bom')) {
      throw new Error(`the NDJSON link is ${ndjson.href}`);
    }

    // --- A saved view of this search, with its count.
    const viewName = `Word ${WORD}`;
    await page.getByRole('button', { name: 'Save view' }).click();
    const dialog = page.getByTestId('view-dialog');
    await dialog.getByLabel('Name').fill(viewName);
    if ((await dialog.getByLabel('Query').inputValue()) !== WORD) throw new Error('the view dialog does not hold the current query');
    const saved = page.waitForResponse((r) => isApi(r, 'POST', /^\/api\/v1\/views$/));
    await dialog.getByRole('button', { name: 'Save view' }).click();
    await expectOk(await saved, 'POST /api/v1/views');
    const view = page.getByTestId('view').filter({ hasText: viewName });
    await step('the saved view in the sidebar', () => view.waitFor());
    await waitAttr(view.getByTestId('view-count'), 'data-count', String(TOTAL), "the view's count");
    if ((await view.getByTestId('view-run').getAttribute('aria-current')) !== 'true') {
      throw new Error('the view of the search on screen is not marked current');
    }
    // Rename it, then delete it.
    await view.getByRole('button', { name: `Edit view ${viewName}` }).click();
    const edit = page.getByTestId('view-dialog');
    await edit.getByLabel('Name').fill(`${viewName} renamed`);
    const patched = page.waitForResponse((r) => isApi(r, 'PATCH', /^\/api\/v1\/views\/[^/]+$/));
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await expectOk(await patched, 'PATCH /api/v1/views/{id}');
    const renamed = page.getByTestId('view').filter({ hasText: `${viewName} renamed` });
    await step('the renamed view', () => renamed.waitFor());
    await renamed.getByRole('button', { name: `Edit view ${viewName} renamed` }).click();
    await edit.getByRole('button', { name: 'Delete view' }).click();
    const deleted = page.waitForResponse((r) => isApi(r, 'DELETE', /^\/api\/v1\/views\/[^/]+$/));
    await edit.getByRole('button', { name: 'Delete for good' }).click();
    await expectOk(await deleted, 'DELETE /api/v1/views/{id}');
    await step('the view gone from the sidebar', () => renamed.waitFor({ state: 'detached' }));
    // A built-in view runs with one click.
    const builtin = page.getByTestId('view').filter({ hasText: 'Recently updated' });
    searched = page.waitForResponse(isSearch);
    await builtin.getByTestId('view-run').click();
    await expectOk(await searched, 'the built-in view');
    if ((await builtin.getByTestId('view-run').getAttribute('aria-current')) !== 'true') throw new Error('the built-in view run is not marked current');
    await search(page, WORD);
    if (new URL(page.url()).searchParams.get('q') !== WORD) throw new Error(`searching again left the query at ${page.url()}`);
    await expectTotal(page, TOTAL, `for ${WORD} again`);

    // --- Select: a row, a shift-click range, then everything the query matches.
    const checks = page.getByTestId('select-row');
    await checks.nth(0).click();
    await checks.nth(2).click({ modifiers: ['Shift'] });
    await waitExactText(page.getByTestId('results-count'), `3 of ${TOTAL} selected`, 'the count after a shift-click range');
    await page.getByTestId('select-all-matching').click();
    await waitExactText(page.getByTestId('results-count'), `All ${TOTAL} matching selected`, 'the count after "select all matching"');

    // --- Bulk: resolve them all, with an internal note, and follow the progress.
    await page.getByTestId('bulk-open').click();
    const bulk = page.getByTestId('bulk-dialog');
    await bulk.getByLabel('Status').selectOption('resolved');
    await bulk.getByLabel('Comment (optional)').fill(`Resolved in bulk (${WORD})`);
    const started = page.waitForResponse((r) => isApi(r, 'POST', /^\/api\/v1\/bulk$/));
    await bulk.getByRole('button', { name: `Apply to ${TOTAL} tickets` }).click();
    const startRes = await started;
    await expectOk(startRes, 'POST /api/v1/bulk');
    const sent = startRes.request().postDataJSON();
    if (sent.query !== WORD || sent.ids || !sent.tz || sent.change?.status !== 'resolved' || sent.comment?.internal !== true) {
      throw new Error(`POST /bulk sent ${JSON.stringify(sent)}; want the query, status resolved and an internal note`);
    }
    const { id } = await startRes.json();
    console.log(`e2e: bulk ${id}`);
    const progress = bulk.getByTestId('bulk-progress');
    await step('the progress', () => progress.waitFor());
    await page.waitForFunction(
      () => {
        const p = document.querySelector('[data-testid="bulk-progress"]');
        return p && p.getAttribute('data-state') !== 'running';
      },
      null,
      { timeout: 120_000, polling: 250 },
    );
    const got = {};
    for (const k of ['state', 'done', 'succeeded', 'failed', 'total']) got[k] = await progress.getAttribute(`data-${k}`);
    const want = { state: 'completed', done: String(TOTAL), succeeded: String(TOTAL - 1), failed: '1', total: String(TOTAL) };
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new Error(`the bulk action ended ${JSON.stringify(got)}; want ${JSON.stringify(want)}`);
    }
    const counts = await bulk.getByTestId('bulk-counts').innerText();
    if (!counts.includes(`${TOTAL} of ${TOTAL} done`) || !counts.includes(`${TOTAL - 1} changed`) || !counts.includes('1 failed')) {
      throw new Error(`the progress reads "${counts}"`);
    }
    const failure = bulk.locator(`[data-testid="bulk-failure"][data-ticket-id="${CLOSED_ID}"]`);
    await step('the closed ticket among the failures', () => failure.waitFor());
    const why = (await failure.innerText()).trim();
    if (why.split(/\s+/).length < 2) throw new Error(`the failure of #${CLOSED_ID} gives no reason: "${why}"`);
    await screenshot();
    await bulk.getByRole('button', { name: 'Close', exact: true }).click();
    await step('the dialog closed', () => bulk.waitFor({ state: 'hidden' }));

    // The results are read again when the action ends; the index follows
    // the changes within a second or two, so search again until it has.
    const resolved = page.locator('[data-testid="facet"][data-field="status"][data-value="resolved"]');
    const until = Date.now() + 30_000;
    for (;;) {
      const n = (await resolved.count()) ? Number((await resolved.locator('.facet-count').textContent()).replace(/\D/g, '')) : 0;
      if (n === TOTAL - 1) break;
      if (Date.now() > until) throw new Error(`the resolved facet counts ${n} after the bulk action, want ${TOTAL - 1}`);
      await page.waitForTimeout(500);
      await search(page, WORD);
    }

    if (pageErrors.some((e) => e.startsWith('pageerror:'))) throw new Error('the page threw');
  },
);

async function search(page, q) {
  const box = page.getByTestId('search-input');
  await box.fill(q);
  const searched = page.waitForResponse((r) => isSearch(r) && new URL(r.url()).searchParams.get('q') === q);
  await box.press('Enter');
  await expectOk(await searched, `the search "${q}"`);
}

async function expectSuggestions(page, ok, what) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let got = [];
  while (Date.now() < deadline) {
    got = (await page.getByTestId('suggestion').locator('code').allTextContents()).map((s) => s.trim());
    if (ok(got)) return;
    await page.waitForTimeout(100);
  }
  throw new Error(`suggestions: ${JSON.stringify(got)}; want ${what}`);
}

async function expectValue(input, want, what) {
  const got = await input.inputValue();
  if (got !== want) throw new Error(`${what}: the box holds ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

async function expectTotal(page, want, what) {
  await waitAttr(page.getByTestId('results-count'), 'data-total', String(want), `the number of results ${what}`);
}

async function waitAttr(locator, name, want, what) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let got = null;
  while (Date.now() < deadline) {
    got = await locator.getAttribute(name).catch(() => null);
    if (got === want) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${what}: ${got}, want ${want}`);
}

async function waitExactText(locator, want, what) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let got = '';
  while (Date.now() < deadline) {
    got = ((await locator.textContent().catch(() => '')) || '').trim();
    if (got === want) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${what}: "${got}", want "${want}"`);
}
