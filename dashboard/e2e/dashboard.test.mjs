// Browser tests: chromium (playwright-core) against a server serving the built dashboard.
// Run with `npm run e2e` (builds first). Set GITOPS_LIVE_BIN to test the real binary.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cspViolations, launchBrowser, openPage, sampleReport, startServer } from './harness.mjs';

const usingRealServer = Boolean(process.env.GITOPS_LIVE_BIN);
let base;
before(async () => {
  base = await sampleReport();
});

/** Runs `body` with a fresh server and browser, then checks the page logged no error and broke no CSP rule. */
async function scenario(options, body) {
  const server = await startServer(options.report ?? base, options.server ?? {});
  const browser = await launchBrowser(options.browser ?? {});
  try {
    const page = await openPage(browser);
    await body({ page, server, browser });
    assert.deepEqual(await cspViolations(page), [], 'no CSP violations');
    if (!options.allowNetworkErrors) assert.deepEqual(browser.consoleErrors, [], 'no console errors');
    else {
      // A refused connection is logged by the browser itself; nothing else may be.
      const other = browser.consoleErrors.filter((text) => !/WebSocket|Failed to load resource|ERR_CONNECTION|net::/.test(text));
      assert.deepEqual(other, [], 'no console errors besides refused connections');
    }
  } catch (error) {
    console.error(server.output());
    throw error;
  } finally {
    await browser.close();
    await server.stop();
  }
}

async function openDashboard(page, url) {
  await page.goto(url);
  await page.waitForSelector('.conn--live');
  await page.waitForSelector('.card');
  // A marker that a reload would wipe.
  await page.evaluate(() => {
    window.__noReload = true;
  });
}

const notReloaded = (page) => page.evaluate(() => window.__noReload === true);
const cardStatus = (page, name) => page.getAttribute(`article[id="repo-${encodeURIComponent(name)}-0"]`, 'data-status');

function withStatus(report, name, status) {
  const next = structuredClone(report);
  const repo = next.repos.find((r) => r.name === name);
  repo.status = status;
  return next;
}

/** Records the state-bearing message types received on every WebSocket of the page. */
function recordFrames(page) {
  const frames = [];
  page.on('websocket', (socket) => {
    socket.on('framereceived', ({ payload }) => {
      try {
        const message = JSON.parse(String(payload));
        if (message.epoch) frames.push(message.type);
      } catch {
        // not JSON
      }
    });
  });
  return frames;
}

test('the page shows the report', async () => {
  await scenario({}, async ({ page, server }) => {
    await openDashboard(page, `${server.url}/`);
    assert.equal(await page.locator('article.card').count(), base.repos.length);
    const health = await page.getAttribute('.overview [role=img]', 'aria-label');
    assert.match(health, new RegExp(`Health: ${base.health_status}`));
    assert.equal(await page.locator('.tile--total .tile__value').innerText(), String(base.repos.length));
    await page.waitForSelector('.chart .recharts-surface');
  });
});

test('a write to the report file shows in the DOM without a reload', async () => {
  await scenario({}, async ({ page, server }) => {
    await openDashboard(page, `${server.url}/`);
    assert.equal(await cardStatus(page, 'halo'), 'missing');
    await server.writeReport(withStatus(base, 'halo', 'clean'));
    await page.waitForSelector('article[id="repo-halo-0"][data-status="clean"]');
    await page.waitForSelector('.toast');
    assert.match(await page.locator('.toast').first().innerText(), /halo/);
    assert.ok(await notReloaded(page), 'the page was not reloaded');
  });
});

test('a dropped connection resumes from the cursor, without a snapshot', async () => {
  await scenario({ allowNetworkErrors: true }, async ({ page, server }) => {
    const frames = recordFrames(page);
    const audits = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/api/audit') audits.push(request.url());
    });
    await openDashboard(page, `${server.url}/`);
    const auditsBefore = audits.length;
    frames.length = 0;
    server.proxy.refuse(true);
    server.proxy.cut();
    await page.waitForSelector('.conn--reconnecting, .conn--offline');
    await server.writeReport(withStatus(base, 'kitshn', 'dirty'));
    server.proxy.refuse(false);
    await page.click('.conn__reconnect');
    await page.waitForSelector('.conn--live');
    await page.waitForSelector('article[id="repo-kitshn-0"][data-status="dirty"]');
    assert.ok(!frames.includes('audit-update'), `no snapshot on resume (got ${frames.join(', ')})`);
    assert.equal(audits.length, auditsBefore, 'no snapshot over HTTP either');
    assert.ok(await notReloaded(page));
  });
});

test('the server killed and restarted: the UI says reconnecting, then resumes without a reload', async () => {
  await scenario({ allowNetworkErrors: true }, async ({ page, server }) => {
    await openDashboard(page, `${server.url}/`);
    await server.kill();
    await page.waitForSelector('.conn--reconnecting');
    assert.equal(await page.locator('article.card').count(), base.repos.length, 'the last data stays on screen');
    await server.writeReport(withStatus(base, 'halo', 'clean'));
    await server.restart();
    await page.waitForSelector('.conn--live', { timeout: 20_000 });
    await page.waitForSelector('article[id="repo-halo-0"][data-status="clean"]');
    assert.ok(await notReloaded(page));
  });
});

test('RealTimeToggle off polls, at the chosen interval, and is remembered', async () => {
  await scenario({}, async ({ page, server }) => {
    await openDashboard(page, `${server.url}/`);
    await page.click('role=switch[name="Real-time"]');
    await page.selectOption('.rt select', '5');
    await page.waitForSelector('.conn--polling');
    const polled = page.waitForRequest((request) => new URL(request.url()).pathname === '/api/audit', { timeout: 8_000 });
    await server.writeReport(withStatus(base, 'halo', 'clean'));
    await polled;
    await page.waitForSelector('article[id="repo-halo-0"][data-status="clean"]', { timeout: 8_000 });
    await page.reload();
    await page.waitForSelector('.conn--polling');
    assert.equal(await page.getAttribute('role=switch[name="Real-time"]', 'aria-checked'), 'false');
    assert.equal(await page.inputValue('.rt select'), '5');
  });
});

test('search, status filter and the detail route', async () => {
  await scenario({}, async ({ page, server }) => {
    await openDashboard(page, `${server.url}/`);
    await page.fill('input[type=search]', 'halo');
    assert.deepEqual(await page.locator('article.card h3').allInnerTexts(), ['halo']);
    await page.fill('input[type=search]', '');
    await page.selectOption('.repos select', 'dirty');
    const dirty = base.repos.filter((r) => r.status === 'dirty').length;
    assert.equal(await page.locator('article.card').count(), dirty);
    assert.equal(await page.locator('article.card[data-status="dirty"]').count(), dirty);

    const target = base.repos.at(-1);
    await page.goto(`${server.url}/audit/${encodeURIComponent(target.name)}?action=view`);
    const selected = page.locator('article.card--selected');
    await selected.waitFor();
    assert.match(await selected.locator('h3').innerText(), new RegExp(target.name));
    assert.match(await selected.innerText(), /Suggested action: view/);
    await page.waitForFunction(() => {
      const rect = document.querySelector('article.card--selected')?.getBoundingClientRect();
      return rect && rect.top >= 0 && rect.bottom <= window.innerHeight;
    });
    // Back to the overview without a reload.
    await page.evaluate(() => {
      window.__noReload = true;
    });
    await page.click('text=All repositories');
    await page.waitForFunction(() => location.pathname === '/');
    assert.ok(await notReloaded(page));
  });
});

test('a report that fails to parse shows a banner and keeps the last good data', async () => {
  await scenario({}, async ({ page, server }) => {
    await openDashboard(page, `${server.url}/`);
    await server.writeReport('{"repos": [ {"name": "half');
    const banner = page.locator('.banner--error');
    await banner.waitFor();
    assert.match(await banner.innerText(), /last good report/);
    assert.equal(await page.locator('article.card').count(), base.repos.length);
  });
});

test('with real-time off on the server, the dashboard polls', async () => {
  await scenario({ server: { args: ['--realtime', 'off'] }, allowNetworkErrors: true }, async ({ page, server }) => {
    await page.goto(`${server.url}/`);
    await page.waitForSelector('.card');
    await page.waitForSelector('.conn--polling', { timeout: 30_000 });
    assert.match(await page.locator('.conn__label').innerText(), /server has real-time off/);
    await server.writeReport(withStatus(base, 'halo', 'clean'));
    await page.waitForSelector('article[id="repo-halo-0"][data-status="clean"]', { timeout: 15_000 });
  });
});

test('falls back to SSE when the WebSocket is refused, and still updates live', { skip: usingRealServer }, async () => {
  await scenario({ server: { fakeArgs: ['--no-ws'] }, allowNetworkErrors: true }, async ({ page, server }) => {
    await page.goto(`${server.url}/`);
    await page.waitForSelector('.conn--fallback', { timeout: 30_000 });
    assert.match(await page.locator('.conn__label').innerText(), /Server-Sent Events/);
    await server.writeReport(withStatus(base, 'halo', 'clean'));
    await page.waitForSelector('article[id="repo-halo-0"][data-status="clean"]');
  });
});

after(() => {
  // node:test waits for open handles; the harness closes its own.
});
