// Browser tests: chromium (playwright-core) against a server serving the built dashboard.
// Run with `npm run e2e` (builds first). Set GITOPS_LIVE_BIN to test the real binary.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { freePort, runScenario, sampleReport } from './harness.mjs';

let base;
before(async () => {
  base = await sampleReport();
});

/** Runs `body` with a fresh server and browser, then checks the page logged no error and broke no CSP rule. */
function scenario(options, body) {
  // A refused connection is logged by the browser itself; nothing else may be.
  const allowedError = options.allowNetworkErrors ? /WebSocket|Failed to load resource|ERR_CONNECTION|net::/ : null;
  return runScenario({ report: options.report ?? base, server: options.server, browser: options.browser, allowedError }, body);
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
    await page.selectOption('select[name=status]', 'dirty');
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

/** The server's own view of its clients (`/api/ws/status`, asked directly, not through the proxy). */
async function serverClients(server) {
  const response = await fetch(`${server.directUrl}/api/ws/status`);
  return (await response.json()).clients;
}

/** Polls `check` until it returns true (node side). */
async function eventually(check, what, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('falls back to SSE when a proxy refuses WebSockets, updates live, and switches back when it allows them', async () => {
  await scenario({ allowNetworkErrors: true }, async ({ page, server }) => {
    server.proxy.refuseWebSockets(true);
    const refusedUpgrades = [];
    page.on('websocket', (socket) => socket.on('socketerror', (error) => refusedUpgrades.push(String(error))));
    const audits = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/api/audit') audits.push(request.url());
    });
    await page.goto(`${server.url}/`);
    await page.waitForSelector('.conn--fallback', { timeout: 30_000 });
    assert.match(await page.locator('.conn__label').innerText(), /Server-Sent Events/);
    assert.ok(refusedUpgrades.length >= 3, `the socket was tried and refused (${refusedUpgrades.join('; ')})`);
    await eventually(async () => (await serverClients(server)).sse === 1, 'the server to count one SSE client');
    assert.equal((await serverClients(server)).ws, 0);
    await page.evaluate(() => {
      window.__noReload = true;
    });

    const auditsBefore = audits.length;
    await server.writeReport(withStatus(base, 'halo', 'clean'));
    await page.waitForSelector('article[id="repo-halo-0"][data-status="clean"]');
    assert.equal(audits.length, auditsBefore, 'the change came over SSE, not by fetching the snapshot');

    // The socket keeps being retried in the background; once the proxy lets it through, it takes over.
    const frames = recordFrames(page);
    server.proxy.refuseWebSockets(false);
    await page.waitForSelector('.conn--live', { timeout: 45_000 });
    assert.match(await page.locator('.conn').innerText(), /WebSocket/);
    await eventually(async () => {
      const clients = await serverClients(server);
      return clients.ws === 1 && clients.sse === 0;
    }, 'the server to count one WebSocket client and no SSE client');
    await server.writeReport(withStatus(withStatus(base, 'halo', 'clean'), 'kitshn', 'dirty'));
    await page.waitForSelector('article[id="repo-kitshn-0"][data-status="dirty"]');
    assert.ok(frames.includes('repo-status-change'), `the change came over the WebSocket (got ${frames.join(', ')})`);
    assert.ok(await notReloaded(page));
  });
});

/**
 * The probe page's script: `probeSocket` opens a WebSocket and reports whether it opened;
 * `probePost` sends the POST a cross-site page can send without a preflight (text/plain body, no
 * custom header) and reports what the page could see of the answer.
 */
const PROBE_SCRIPT = `
window.probeSocket = (url) =>
  new Promise((resolve) => {
    const seen = { opened: false, errored: false, closeCode: null };
    const ws = new WebSocket(url);
    ws.onopen = () => {
      seen.opened = true;
      ws.close(1000);
    };
    ws.onerror = () => {
      seen.errored = true;
    };
    ws.onclose = (event) => {
      seen.closeCode = event.code;
      resolve(seen);
    };
  });
window.probePost = async (url) => {
  try {
    const response = await fetch(url, { method: 'POST', mode: 'no-cors', body: 'go', headers: { 'Content-Type': 'text/plain' } });
    return { type: response.type, status: response.status };
  } catch (error) {
    return { error: String(error) };
  }
};
`;

/** Serves a page holding the probe script from a node http server on another port of 127.0.0.1. */
async function startProbeSite() {
  const port = await freePort();
  const site = createHttpServer((_request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(`<!doctype html><title>probe</title><script>${PROBE_SCRIPT}</script>`);
  });
  await new Promise((r) => site.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}/`,
    close() {
      site.closeAllConnections();
      return new Promise((r) => site.close(r));
    },
  };
}

/** The server's count of requests refused for their Origin, from its /metrics. */
async function originRefusals(server) {
  const text = await (await fetch(`${server.directUrl}/metrics`)).text();
  const match = /^gitops_live_origin_refused_total (\d+)$/m.exec(text);
  assert.ok(match, 'the server exports gitops_live_origin_refused_total');
  return Number(match[1]);
}

/** Runs the probe in the page's current document (so with that document's origin). */
async function probe(page, server) {
  const wsUrl = `${server.directUrl.replace('http:', 'ws:')}/ws`;
  const postUrl = `${server.directUrl}/api/ws/trigger-update`;
  const refusedBefore = await originRefusals(server);
  const socket = await page.evaluate((url) => window.probeSocket(url), wsUrl);
  const refusedAfterSocket = await originRefusals(server);
  const post = await page.evaluate((url) => window.probePost(url), postUrl);
  const refusedAfterPost = await originRefusals(server);
  return { socket, post, socketRefused: refusedAfterSocket - refusedBefore, postRefused: refusedAfterPost - refusedAfterSocket };
}

test("a page on another port of the same host cannot open /ws or POST; the same probe from the server's own origin can", async () => {
  const adminToken = 'e2e-admin-token-0123456789';
  await scenario({ server: { env: { GITOPS_ADMIN_TOKEN: adminToken } }, allowNetworkErrors: true }, async ({ page, server, browser }) => {
    const site = await startProbeSite();
    try {
      await page.goto(site.url);
      const foreign = await probe(page, server);
      assert.deepEqual(foreign.socket, { opened: false, errored: true, closeCode: 1006 }, 'the socket failed without opening');
      assert.ok(
        browser.consoleErrors.some((text) => /WebSocket/.test(text) && /Unexpected response code: 403/.test(text)),
        `chromium saw 403 for the handshake (${browser.consoleErrors.join('; ')})`,
      );
      assert.equal(foreign.socketRefused, 1, 'the server refused the upgrade for its Origin');
      assert.equal(foreign.postRefused, 1, 'the server refused the POST for its Origin');
      assert.ok(foreign.post.error || foreign.post.status === 0, `the page could not read the answer (${JSON.stringify(foreign.post)})`);

      // Positive control: the same script in a document of the server's own origin.
      await page.goto(`${server.directUrl}/`);
      await page.waitForSelector('.conn--live');
      await page.evaluate(PROBE_SCRIPT);
      const own = await probe(page, server);
      assert.deepEqual(own.socket, { opened: true, errored: false, closeCode: 1000 });
      assert.equal(own.socketRefused, 0);
      // The Origin check passed; without the admin token the endpoint answers 401, not 403.
      assert.deepEqual(own.post, { type: 'basic', status: 401 });
      assert.equal(own.postRefused, 0);
    } finally {
      await site.close();
    }
  });
});

after(() => {
  // node:test waits for open handles; the harness closes its own.
});
