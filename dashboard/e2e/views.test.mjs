// Browser tests of the list views and of honest status at startup, against a server serving the
// built dashboard (the real binary with GITOPS_LIVE_BIN): the virtualised table with its view,
// sort, filters and search in the URL (back, forward and reload), the attention badges, merged
// toasts on a phone, and an invalid report at startup shown as "no good report yet" with its error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario } from './harness.mjs';
import { auditedReport } from './reports.mjs';

const notReloaded = (page) => page.evaluate(() => window.__noReload === true);
const markPage = (page) =>
  page.evaluate(() => {
    window.__noReload = true;
  });
/** The names of the table rows in the DOM, top to bottom. */
const rowNames = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('.trow')]
      .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
      .map((row) => row.querySelector('.tcell--name a')?.textContent),
  );
const search = (page) => new URL(page.url()).search;

test('the table view: sort, filters and search live in the URL; back, forward and reload restore them; it stays live', async () => {
  const report = auditedReport(600);
  await runScenario({ report }, async ({ page, server }) => {
    // More than 200 repositories: the list starts as a table, virtualised.
    await page.goto(`${server.url}/`);
    await page.waitForSelector('.conn--live');
    await page.waitForSelector('.trow');
    assert.equal(await page.getAttribute('[role=table]', 'aria-rowcount'), String(report.repos.length + 1));
    const inDom = await page.locator('.trow').count();
    assert.ok(inDom < 120, `only the rows near the viewport are in the DOM (${inDom} of ${report.repos.length})`);
    await markPage(page);

    // Sort by name, then by last commit (oldest first) by clicking the column headers.
    await page.click('[role=columnheader] button:has-text("Name")');
    await page.waitForFunction(() => location.search === '?sort=name');
    assert.deepEqual((await rowNames(page)).slice(0, 3), ['repo-00000', 'repo-00001', 'repo-00002']);
    await page.click('[role=columnheader] button:has-text("Last commit")');
    await page.waitForFunction(() => location.search === '?sort=commit');
    const oldest = report.repos.filter((r) => r.last_commit).sort((a, b) => a.last_commit.localeCompare(b.last_commit) || 0)[0];
    assert.equal((await rowNames(page))[0], oldest.name);
    assert.equal(await page.getAttribute('[role=columnheader]:has-text("Last commit")', 'aria-sort'), 'ascending');

    // A status filter, an attention filter and a search.
    await page.selectOption('select[name=status]', 'dirty');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('status') === 'dirty');
    assert.deepEqual(new Set(await page.locator('.trow').evaluateAll((rows) => rows.map((r) => r.dataset.status))), new Set(['dirty']));
    await page.fill('input[type=search]', 'repo-0001');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('q') === 'repo-0001');
    const expected = report.repos.filter((r) => r.status === 'dirty' && r.name.includes('repo-0001')).map((r) => r.name);
    assert.deepEqual(new Set(await rowNames(page)), new Set(expected));
    assert.equal(search(page), '?sort=commit&status=dirty&q=repo-0001');

    // Back: before the search; back again: before the status filter; forward: the filter again.
    await page.goBack();
    await page.waitForFunction(() => location.search === '?sort=commit&status=dirty');
    assert.equal(await page.inputValue('input[type=search]'), '');
    await page.goBack();
    await page.waitForFunction(() => location.search === '?sort=commit');
    assert.equal(await page.inputValue('select[name=status]'), '');
    await page.goForward();
    await page.waitForFunction(() => location.search === '?sort=commit&status=dirty');
    assert.equal(await page.inputValue('select[name=status]'), 'dirty');
    assert.ok(await notReloaded(page), 'back and forward did not reload the page');

    // A reload restores the whole state.
    await page.goto(`${server.url}/?view=table&sort=-behind&flag=behind&q=repo`);
    await page.waitForSelector('.trow');
    assert.equal(await page.inputValue('select[name=flag]'), 'behind');
    assert.equal(await page.inputValue('input[type=search]'), 'repo');
    assert.equal(await page.getAttribute('[role=columnheader]:has-text("Behind")', 'aria-sort'), 'descending');
    const behind = await page.locator('.trow .tcell--behind').allInnerTexts();
    const counts = behind.map((text) => Number(text.replace(/\D/g, '')));
    assert.ok(counts.length > 0 && counts.every((n) => n > 0), `only repositories behind their upstream (${counts})`);
    assert.deepEqual(
      counts,
      [...counts].sort((a, b) => b - a),
      'most behind first',
    );

    // The cards view from the switch; the table again; then a live change to a visible row.
    await page.click('.segmented button:has-text("Cards")');
    await page.waitForSelector('article.card');
    assert.equal(new URLSearchParams(search(page)).get('view'), 'cards');
    await page.goto(`${server.url}/?view=table&sort=name`);
    await page.waitForSelector('.trow');
    const target = report.repos.find((r) => r.name === 'repo-00003');
    const next = structuredClone(report);
    next.repos.find((r) => r.name === target.name).status = target.status === 'dirty' ? 'clean' : 'dirty';
    const status = next.repos.find((r) => r.name === target.name).status;
    await server.writeReport(next);
    await page.waitForSelector(`[role=row][id="row-repo-00003-0"][data-status="${status}"]`);

    // Scrolled to the end, the last rows are there.
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    await page.waitForSelector('[role=row][id="row-repo-00599-0"]');

    // A row's name leads to that repository: its card above the table, its row marked; back returns.
    await markPage(page);
    await page.click('[role=row][id="row-repo-00599-0"] .tcell--name a');
    await page.waitForFunction(() => location.pathname === '/audit/repo-00599');
    await page.waitForSelector('article.card--selected[id="repo-repo-00599-0"]');
    assert.equal(await page.locator('article.card').count(), 1, 'one card, not 600');
    await page.waitForFunction(() => {
      const rect = document.querySelector('article.card--selected')?.getBoundingClientRect();
      return rect && rect.top >= 0 && rect.bottom <= window.innerHeight;
    });
    await page.goBack();
    await page.waitForFunction(() => location.pathname === '/' && location.search === '?view=table&sort=name');
    await page.waitForSelector('.trow');
    assert.ok(await notReloaded(page));
  });
});

test('a clean repository with an unpushed commit shows a badge on its card, and the header counts it', async () => {
  const report = auditedReport(24);
  const target = report.repos.find((r) => r.status === 'clean');
  Object.assign(target, { ahead: 1, behind: 0, unpushed_commits: 1, upstream: 'origin/main', detached: false, stash_count: 0 });
  const unpushed = report.repos.filter((r) => (r.unpushed_commits ?? r.ahead ?? 0) > 0).length;
  await runScenario({ report }, async ({ page, server }) => {
    await page.goto(`${server.url}/?flag=unpushed`);
    await page.waitForSelector('.conn--live');
    const card = page.locator(`article[id="repo-${target.name}-0"]`);
    await card.waitFor();
    assert.equal(await card.getAttribute('data-status'), 'clean');
    assert.equal(await card.locator('.flag--unpushed').innerText(), '1 unpushed');
    assert.match(await card.locator('.card__fields').first().innerText(), /1 ahead · 0 behind/);
    assert.equal(await page.textContent('.attention__tile--unpushed'), `${unpushed} unpushed`);
    assert.equal(await page.locator('article.card').count(), unpushed);
  });
});

test('on a phone, a burst of changes is one compact toast along the bottom edge', async () => {
  const report = auditedReport(40);
  await runScenario({ report, browser: { viewport: { width: 390, height: 844 } } }, async ({ page, server }) => {
    await page.goto(`${server.url}/`);
    await page.waitForSelector('.conn--live');
    await page.waitForSelector('article.card');
    // Four writes in quick succession, one repository each.
    let next = report;
    const clean = report.repos.filter((r) => r.status === 'clean').slice(0, 4);
    for (const repo of clean) {
      next = structuredClone(next);
      next.repos.find((r) => r.name === repo.name).status = 'dirty';
      await server.writeReport(next);
      await page.waitForSelector(`article[id="repo-${repo.name}-0"][data-status="dirty"]`);
    }
    await page.waitForFunction(() => document.querySelector('.toast__title')?.textContent === '4 repositories changed');
    const visible = await page
      .locator('.toast')
      .evaluateAll((toasts) => toasts.filter((t) => getComputedStyle(t).display !== 'none').length);
    assert.equal(visible, 1, 'one toast on screen');
    const box = await page.locator('.toasts').boundingBox();
    const viewport = page.viewportSize();
    assert.ok(Math.abs(box.y + box.height - viewport.height) <= 1, `the toast sits on the bottom edge (${JSON.stringify(box)})`);
    assert.ok(box.height <= 72, `the toast is one compact line (${box.height} px high)`);
    assert.equal(Math.round(box.width), viewport.width, 'it spans the screen instead of covering a column');
  });
});

test('an invalid report at startup: the page says "no good report yet" with the parse error, where and since when, then recovers', async () => {
  const invalid = '{"timestamp": "2026-01-01T00:00:00Z", "repos": [ {"name": "half';
  // Until a report loads, /api/audit answers 503, which chromium logs.
  const allowedError = /status of 503|Failed to load resource/;
  await runScenario({ report: invalid, allowedError }, async ({ page, server }) => {
    await page.goto(`${server.url}/`);
    const alert = page.locator('.banner--error');
    await alert.waitFor({ timeout: 15_000 });
    assert.equal(await alert.locator('.banner__title').innerText(), 'No good report yet.');
    const text = await alert.innerText();
    assert.match(await alert.locator('.banner__error').innerText(), /\S/, 'the parse error is shown');
    assert.ok(text.includes(server.reportPath), `the file is named (${text})`);
    assert.match(text, /Failing since .+\((just now|.+ ago)\)\./);
    assert.doesNotMatch(text, /last good report/);
    assert.equal(await page.locator('text=Waiting for the first report').count(), 0);
    assert.match(await page.locator('.placeholder').innerText(), /No good report yet/);

    // A valid report replaces the error with the data, without a reload.
    await markPage(page);
    await server.writeReport(auditedReport(12));
    await page.waitForSelector('article.card');
    await page.waitForSelector('.banner--error', { state: 'detached' });
    assert.ok(await notReloaded(page));
  });
});
