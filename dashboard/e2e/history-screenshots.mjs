// Screenshots of history for people to look at (not a test): the History view over three weeks of
// imported snapshots (one of them broken), two points compared, a past point under its banner, a
// repository's timeline, in light, dark and at phone width.
// Usage: GITOPS_LIVE_BIN=… node e2e/history-screenshots.mjs <output-dir>   (needs `npm run build`)
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openPage, sampleReport, withServerAndBrowser } from './harness.mjs';

if (!process.env.GITOPS_LIVE_BIN) throw new Error('history needs the real binary: set GITOPS_LIVE_BIN');
const out = process.argv[2] ?? 'screenshots';
await mkdir(out, { recursive: true });
const base = await sampleReport();
const shot = (page, name, fullPage = false) => page.screenshot({ path: join(out, `${name}.png`), fullPage });

const HOUR = 3_600_000;
const STATUSES = ['clean', 'dirty', 'missing', 'extra', 'mismatched'];

/** Three weeks of daily audits in which a few repositories move each day, and today's report. */
function snapshots() {
  const now = Date.now();
  const files = {};
  let report = structuredClone(base);
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let day = 21; day >= 1; day--) {
    report = structuredClone(report);
    const moves = 1 + Math.floor(next() * 4);
    for (let i = 0; i < moves; i++) {
      const repo = report.repos[Math.floor(next() * report.repos.length)];
      // Trouble comes and is mostly fixed: clean wins more often than not.
      repo.status = next() < 0.55 ? 'clean' : STATUSES[Math.floor(next() * STATUSES.length)];
    }
    report.timestamp = new Date(now - day * 24 * HOUR)
      .toISOString()
      .replace(/\.\d+Z$/, 'Z')
      .replaceAll(':', '-');
    files[`${report.timestamp}.json`] = JSON.stringify(report);
  }
  files['2026-broken.json'] = '{"timestamp": "2026-11-20T03-00-00Z", "repos": [{"name": "halo",';
  const today = structuredClone(report);
  today.timestamp = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
  return { files, today };
}

const { files, today } = snapshots();
const server = { args: ['--history-import', '{dir}'], files };

async function run(name, browser, body) {
  await withServerAndBrowser(today, { server, browser }, async (started, launched) => {
    const page = await openPage(launched);
    await body(page, started);
    if (launched.consoleErrors.length) console.warn(`console errors in ${name}:`, launched.consoleErrors);
  });
}

await run('light', {}, async (page, server) => {
  await page.goto(`${server.url}/history`);
  await page.waitForSelector('.history-chart .recharts-area');
  await page.waitForSelector('.point');
  await page.waitForTimeout(300);
  await shot(page, 'history-01-view');
  await shot(page, 'history-01b-view-full', true);
  const points = page.locator('.point');
  const count = await points.count();
  await points
    .nth(count - 1)
    .locator('input[name=from]')
    .check();
  await points.nth(0).locator('input[name=to]').check();
  await page.click('button:has-text("Compare")');
  await page.waitForSelector('.diff__repo');
  await page.locator('.diff').scrollIntoViewIfNeeded();
  await shot(page, 'history-02-compare');
  await page.selectOption('select[name=diff-status]', 'missing');
  await page.waitForTimeout(200);
  await page.locator('.diff').scrollIntoViewIfNeeded();
  await shot(page, 'history-03-compare-missing');
  // The oldest point, as of then.
  await page.goto(`${server.url}/history`);
  await page.waitForSelector('.point');
  await page.locator('.point').last().locator('a:has-text("View")').click();
  await page.waitForSelector('.past-banner');
  await page.waitForSelector('article.card');
  await page.waitForTimeout(500);
  await shot(page, 'history-04-past');
  // A live change while looking at the past.
  const changed = structuredClone(today);
  changed.repos[0].status = changed.repos[0].status === 'dirty' ? 'clean' : 'dirty';
  await server.writeReport(changed);
  await page.waitForFunction(() => /live change/.test(document.querySelector('.past-banner')?.textContent ?? ''));
  await shot(page, 'history-05-past-live-change');
  // A repository's page with its timeline.
  const busiest = await page.evaluate(async () => {
    const page = await (await fetch('/api/history?limit=500')).json();
    const counts = {};
    for (const point of page.points) for (const t of point.repos) counts[t.name] = (counts[t.name] ?? 0) + 1;
    return Object.entries(counts).sort((a, b) => b[1] - a[1])[0][0];
  });
  await page.goto(`${server.url}/audit/${encodeURIComponent(busiest)}`);
  await page.waitForSelector('.repo-timeline__event');
  await page.waitForTimeout(500);
  await page.locator('.repo-timeline').scrollIntoViewIfNeeded();
  await shot(page, 'history-06-repo-timeline');
});

await run('dark', { colorScheme: 'dark' }, async (page, server) => {
  await page.goto(`${server.url}/history`);
  await page.waitForSelector('.history-chart .recharts-area');
  await page.waitForTimeout(300);
  await shot(page, 'history-07-view-dark');
});

await run('phone', { viewport: { width: 390, height: 844 } }, async (page, server) => {
  await page.goto(`${server.url}/history`);
  await page.waitForSelector('.history-chart .recharts-area');
  await page.waitForTimeout(300);
  await shot(page, 'history-08-phone');
  await page.locator('.points').scrollIntoViewIfNeeded();
  await shot(page, 'history-09-phone-changes');
});
console.log(`screenshots in ${out}`);
