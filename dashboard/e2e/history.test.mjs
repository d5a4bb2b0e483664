// Browser tests of history against the real binary (GITOPS_LIVE_BIN; the fake server has no log):
// the History view lists the changes made while the page was open; choosing a past point shows
// its repositories under the "as of" banner, counts live changes meanwhile and goes back to live;
// two points compared list the repository that changed, filterable by status; a repository's
// page shows its timeline.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario, sampleReport } from './harness.mjs';

const skip = process.env.GITOPS_LIVE_BIN ? false : 'history needs the real binary and its log: set GITOPS_LIVE_BIN';

let base;
before(async () => {
  base = await sampleReport();
});

const cardStatus = (page, name) => page.getAttribute(`article[id="repo-${encodeURIComponent(name)}-0"]`, 'data-status');
const param = (page, name) => new URL(page.url()).searchParams.get(name);

function withStatus(report, name, status) {
  const next = structuredClone(report);
  next.repos.find((r) => r.name === name).status = status;
  return next;
}

test(
  'history: the view lists the changes, a past point shows its repositories under the banner, back to live, two points compared',
  { skip },
  async () => {
    const first = base.repos[0].name;
    const second = base.repos[1].name;
    const firstBefore = base.repos[0].status;
    const firstAfter = firstBefore === 'dirty' ? 'clean' : 'dirty';
    const secondAfter = base.repos[1].status === 'missing' ? 'extra' : 'missing';
    await runScenario({ report: base }, async ({ page, server }) => {
      await page.goto(`${server.url}/`);
      await page.waitForSelector('.conn--live');
      await page.waitForSelector('article.card');
      // Two changes, each seen live before the next.
      const one = withStatus(base, first, firstAfter);
      await server.writeReport(one);
      await page.waitForSelector(`article[id="repo-${encodeURIComponent(first)}-0"][data-status="${firstAfter}"]`);
      const two = withStatus(one, second, secondAfter);
      await server.writeReport(two);
      await page.waitForSelector(`article[id="repo-${encodeURIComponent(second)}-0"][data-status="${secondAfter}"]`);

      // The History view: the chart and three points, newest first, the latest change on top.
      await page.click('.topbar__nav a:has-text("History")');
      await page.waitForFunction(() => location.pathname === '/history');
      await page.waitForSelector('.history-chart svg .recharts-area');
      await page.waitForFunction(() => document.querySelectorAll('.point').length === 3);
      const newest = page.locator('.point').first();
      assert.match(await newest.innerText(), new RegExp(second));
      const oldest = page.locator('.point').last();
      const oldestCursor = await oldest.getAttribute('data-cursor');

      // The oldest point: the dashboard as it was, read-only under the banner.
      await oldest.locator('a:has-text("View")').click();
      await page.waitForSelector('.past-banner');
      assert.equal(param(page, 'at'), oldestCursor);
      assert.match(await page.innerText('.past-banner'), /As of .*read-only/);
      await page.waitForSelector('article.card');
      assert.equal(await cardStatus(page, first), firstBefore, 'the repository as it was then');
      assert.equal(await page.locator('article.card').count(), base.repos.length);

      // A live change meanwhile is counted, and does not reach the past.
      const three = withStatus(two, first, firstBefore);
      await server.writeReport(three);
      await page.waitForFunction(() => /1 live change since/.test(document.querySelector('.past-banner')?.textContent ?? ''));
      assert.equal(await cardStatus(page, second), base.repos[1].status, 'the past stays the past');

      // Back to live: no banner, the live state.
      await page.click('.past-banner a:has-text("Back to live")');
      await page.waitForFunction(() => !new URLSearchParams(location.search).has('at'));
      await page.waitForSelector('.past-banner', { state: 'detached' });
      await page.waitForSelector(`article[id="repo-${encodeURIComponent(second)}-0"][data-status="${secondAfter}"]`);
      assert.equal(await cardStatus(page, first), firstBefore);

      // Two points compared: the oldest and the one after the second change.
      await page.goto(`${server.url}/history`);
      await page.waitForFunction(() => document.querySelectorAll('.point').length === 4);
      const points = page.locator('.point');
      await points.nth(3).locator('input[name=from]').check();
      await points.nth(1).locator('input[name=to]').check();
      await page.click('button:has-text("Compare")');
      await page.waitForFunction(() => new URLSearchParams(location.search).has('from'));
      await page.waitForSelector('.diff__repo');
      const listed = await page.locator('.diff__repo').evaluateAll((items) => items.map((i) => i.dataset.name));
      assert.deepEqual(new Set(listed), new Set([first, second]), 'both repositories that changed between them');
      assert.equal(await page.getAttribute(`.diff__repo[data-name="${second}"]`, 'data-kind'), 'status');

      // Filtered by a status: only the repository that had it at either end.
      await page.selectOption('select[name=diff-status]', secondAfter);
      await page.waitForFunction((status) => new URLSearchParams(location.search).get('status') === status, secondAfter);
      const filtered = await page.locator('.diff__repo').evaluateAll((items) => items.map((i) => i.dataset.name));
      assert.deepEqual(filtered, [second]);

      // The link is shareable: a fresh load shows the same comparison.
      await page.reload();
      await page.waitForSelector(`.diff__repo[data-name="${second}"]`);
      assert.equal(await page.inputValue('select[name=diff-status]'), secondAfter);

      // The repository's page shows its timeline: two changes, newest first.
      await page.goto(`${server.url}/audit/${encodeURIComponent(first)}`);
      await page.waitForSelector('.repo-timeline__event');
      assert.equal(await page.locator('.repo-timeline__event').count(), 2);
      assert.equal((await page.textContent('#repo-timeline-title')).trim(), `Timeline of ${first}`);
    });
  },
);
