// Takes a screenshot of each state of the dashboard, for people to look at (not a test).
// Usage: node e2e/screenshots.mjs <output-dir>   (needs `npm run build` first)
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openPage, sampleReport, withServerAndBrowser } from './harness.mjs';
import { auditedReport } from './reports.mjs';

const out = process.argv[2] ?? 'screenshots';
await mkdir(out, { recursive: true });
const base = await sampleReport();
const shot = (page, name, fullPage = false) => page.screenshot({ path: join(out, `${name}.png`), fullPage });

async function withPage(options, run) {
  const report = options.report === undefined ? base : options.report;
  await withServerAndBrowser(report, { server: options.server ?? {}, browser: options.browser ?? {} }, async (server, browser) => {
    const page = await openPage(browser);
    await run(page, server);
    if (browser.consoleErrors.length && !options.expectErrors) console.warn(`console errors in ${options.name}:`, browser.consoleErrors);
  });
}

async function ready(page, url) {
  await page.goto(url);
  await page.waitForSelector('.card');
  await page.waitForSelector('.chart .recharts-surface');
  await page.waitForSelector('.conn--live');
}

await withPage({ name: 'light' }, async (page, server) => {
  await ready(page, `${server.url}/`);
  await shot(page, '01-overview-light');
  await shot(page, '01b-overview-light-full', true);
  // Live change: toast and highlight.
  const next = structuredClone(base);
  const halo = next.repos.find((r) => r.name === 'halo');
  halo.status = 'clean';
  halo.local_path = '/srv/git/halo';
  delete halo.mitigation;
  await server.writeReport(next);
  await page.waitForSelector('.toast');
  await page.fill('input[type=search]', 'halo');
  await page.waitForTimeout(100);
  await shot(page, '02-live-change-toast');
  await page.fill('input[type=search]', '');
  await page.selectOption('select[name=status]', 'dirty');
  await shot(page, '03-filter-dirty');
});

await withPage({ name: 'dark', browser: { colorScheme: 'dark' } }, async (page, server) => {
  await ready(page, `${server.url}/`);
  await shot(page, '04-overview-dark');
  await page.goto(`${server.url}/audit/ha-notify?action=fix_remote`);
  await page.waitForSelector('.card--selected');
  await page.waitForTimeout(700);
  await shot(page, '05-detail-route-dark');
});

await withPage({ name: 'mobile', browser: { viewport: { width: 390, height: 844 } } }, async (page, server) => {
  await ready(page, `${server.url}/`);
  await shot(page, '06-mobile');
  await page.goto(`${server.url}/audit/halo?action=clone`);
  await page.waitForSelector('.card--selected');
  await page.waitForTimeout(700);
  await shot(page, '07-mobile-detail-route');
});

await withPage({ name: 'error banner' }, async (page, server) => {
  await ready(page, `${server.url}/`);
  await server.writeReport('{"timestamp": "2025-06-21T03:00:00Z", "repos": [ {"name": "half');
  await page.waitForSelector('.banner--error');
  await shot(page, '08-report-error-banner');
});

await withPage({ name: 'reconnecting', expectErrors: true }, async (page, server) => {
  await ready(page, `${server.url}/`);
  await server.kill();
  await page.waitForSelector('.conn--reconnecting');
  await shot(page, '09-reconnecting');
  await page.waitForSelector('.conn--offline', { timeout: 60_000 });
  await shot(page, '10-offline');
});

await withPage({ name: 'fallback', expectErrors: true }, async (page, server) => {
  // The proxy in front refuses upgrades, so this works with the fake server and the real binary.
  server.proxy.refuseWebSockets(true);
  await page.goto(`${server.url}/`);
  await page.waitForSelector('.conn--fallback', { timeout: 30_000 });
  await shot(page, '11-fallback-sse');
});

await withPage({ name: 'polling' }, async (page, server) => {
  await ready(page, `${server.url}/`);
  await page.click('role=switch');
  await page.selectOption('.rt select', '30');
  await page.waitForSelector('.conn--polling');
  await shot(page, '12-polling-mode');
});

await withPage({ name: 'waiting', report: null, expectErrors: true }, async (page, server) => {
  await page.goto(`${server.url}/`);
  await page.waitForTimeout(1500);
  await shot(page, '13-no-report-yet');
});

// An auditor-shaped report: attention badges, facts in words, the table view.
const audited = auditedReport(400);
const unpushedClean = audited.repos.find((r) => r.status === 'clean' && r.unpushed_commits > 0 && r.upstream);

await withPage({ name: 'card', report: audited }, async (page, server) => {
  await page.goto(`${server.url}/?view=cards&status=clean&flag=unpushed`);
  await page.waitForSelector('.conn--live');
  await page.waitForSelector('.chart .recharts-surface');
  await page.locator('.repos').scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollBy(0, -70));
  await shot(page, '21-cards-attention');
  const card = page.locator(`article[id="repo-${unpushedClean.name}-0"]`);
  await card.locator('summary').click();
  await card.screenshot({ path: join(out, '22-card-details-open.png') });
});

await withPage({ name: 'table', report: audited }, async (page, server) => {
  await page.goto(`${server.url}/?view=table&sort=-ahead`);
  await page.waitForSelector('.conn--live');
  await page.waitForSelector('.chart .recharts-surface');
  await page.waitForSelector('.trow');
  await shot(page, '23-table-desktop');
  await page.evaluate(() => window.scrollTo(0, document.querySelector('.rtable').getBoundingClientRect().top + window.scrollY + 2000));
  await page.waitForTimeout(200);
  await shot(page, '24-table-desktop-scrolled');
});

await withPage({ name: 'table phone', report: audited, browser: { viewport: { width: 390, height: 844 } } }, async (page, server) => {
  await page.goto(`${server.url}/?view=table&status=dirty`);
  await page.waitForSelector('.conn--live');
  await page.waitForSelector('.trow');
  await page.locator('.repos__toolbar').scrollIntoViewIfNeeded();
  await page.waitForTimeout(300);
  await shot(page, '25-table-phone');
  // A burst of changes: one compact toast along the bottom edge.
  let next = audited;
  for (const repo of audited.repos.filter((r) => r.status === 'dirty').slice(0, 4)) {
    next = structuredClone(next);
    next.repos.find((r) => r.name === repo.name).status = 'clean';
    await server.writeReport(next);
    await page.waitForTimeout(250);
  }
  await page.waitForSelector('.toast--burst');
  await shot(page, '26-table-phone-toast');
});

await withPage({ name: 'toasts desktop', report: audited }, async (page, server) => {
  await page.goto(`${server.url}/?view=table`);
  await page.waitForSelector('.conn--live');
  await page.waitForSelector('.trow');
  let next = audited;
  for (const [i, repo] of audited.repos
    .filter((r) => r.status === 'clean')
    .slice(0, 6)
    .entries()) {
    next = structuredClone(next);
    next.repos.find((r) => r.name === repo.name).status = 'dirty';
    await server.writeReport(next);
    await page.waitForTimeout(i === 2 ? 3500 : 250);
  }
  await page.waitForTimeout(300);
  await shot(page, '27-toasts-desktop');
});

await withPage(
  { name: 'no good report yet', report: '{"timestamp": "2026-01-01T00:00:00Z", "repos": [ {"name": "half', expectErrors: true },
  async (page, server) => {
    await page.goto(`${server.url}/`);
    await page.waitForSelector('.banner--error');
    await page.waitForTimeout(300);
    await shot(page, '28-no-good-report-yet');
  },
);

await withPage(
  {
    name: 'no good report yet, phone',
    report: '{"repos": [ {"name": "half',
    expectErrors: true,
    browser: { viewport: { width: 390, height: 844 } },
  },
  async (page, server) => {
    await page.goto(`${server.url}/`);
    await page.waitForSelector('.banner--error');
    await page.waitForTimeout(300);
    await shot(page, '29-no-good-report-yet-phone');
  },
);

// Viewer sign-in needs the real binary (the fake server has none).
if (process.env.GITOPS_LIVE_BIN) {
  const token = 'screenshot-viewer-token-0123';
  const signInServer = (args = []) => ({ files: { 'viewer-token': token }, args: ['--viewer-token-file', '{dir}/viewer-token', ...args] });
  const signIn = async (page, value) => {
    await page.fill('#signin-token', value);
    await page.click('button[type=submit]');
  };

  await withPage({ name: 'sign-in', server: signInServer(), expectErrors: true }, async (page, server) => {
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#signin-token');
    await shot(page, '14-sign-in');
    await signIn(page, 'not-the-token');
    await page.waitForSelector('.signin__error svg');
    await shot(page, '15-sign-in-wrong-token');
    await signIn(page, token);
    await ready(page, `${server.url}/`);
    await shot(page, '16-signed-in-header');
  });

  await withPage(
    { name: 'sign-in dark', server: signInServer(), browser: { colorScheme: 'dark' }, expectErrors: true },
    async (page, server) => {
      await page.goto(`${server.url}/`);
      await signIn(page, 'not-the-token');
      await page.waitForSelector('.signin__error svg');
      await shot(page, '17-sign-in-dark');
      await signIn(page, token);
      await ready(page, `${server.url}/`);
      await shot(page, '18-signed-in-header-dark');
    },
  );

  await withPage(
    {
      name: 'session ended',
      server: signInServer(['--viewer-session-ttl', '3s']),
      browser: { viewport: { width: 390, height: 844 } },
      expectErrors: true,
    },
    async (page, server) => {
      await page.goto(`${server.url}/`);
      await signIn(page, token);
      await page.waitForSelector('.signin__note', { timeout: 15_000 });
      await shot(page, '19-session-ended-mobile');
    },
  );

  await withPage({ name: 'proxy user', server: signInServer(['--viewer-proxy-header', 'Remote-User']) }, async (page, server) => {
    await page.context().setExtraHTTPHeaders({ 'Remote-User': 'alice' });
    await ready(page, `${server.url}/`);
    await shot(page, '20-proxy-user-header');
  });
} else {
  console.log('sign-in screenshots skipped: they need the real binary (GITOPS_LIVE_BIN)');
}

console.log(`screenshots in ${out}`);
