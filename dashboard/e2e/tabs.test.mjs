// Browser test: one live connection per browser, not per tab. Three tabs of one browser share the
// leader tab's WebSocket (Web Locks elect it, BroadcastChannel relays); the server lists exactly
// one WebSocket client. When the leader tab closes, another takes over with its own connection and
// changes still reach the remaining tabs.
// Run with `npm run e2e` (builds first); set GITOPS_LIVE_BIN to test the real binary, which then
// runs with --admin-token-file so `GET /api/ws/clients` lists the connected clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cspViolations, runScenario, sampleReport } from './harness.mjs';

const ADMIN_TOKEN = 'tabs-test-admin-token-0123456789';
const realServer = Boolean(process.env.GITOPS_LIVE_BIN);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The connected real-time clients by transport, as the server counts them. */
async function clientsOf(server) {
  if (realServer) {
    const response = await fetch(`${server.directUrl}/api/ws/clients`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(response.status, 200, 'GET /api/ws/clients answers the admin');
    const body = await response.json();
    const count = (transport) => body.clients.filter((client) => client.transport === transport).length;
    return { ws: count('ws'), sse: count('sse'), long_poll: count('long_poll') };
  }
  // The fake server has no client list; its status counts the same.
  const status = await (await fetch(`${server.directUrl}/api/ws/status`)).json();
  return (status.data ?? status).clients;
}

/** Waits (at most `timeoutMs`) until `check()` is true; returns its last value. */
async function eventually(check, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value || Date.now() > deadline) return value;
    await sleep(100);
  }
}

function withStatus(report, name, status) {
  const next = structuredClone(report);
  next.repos.find((r) => r.name === name).status = status;
  return next;
}

const roleOf = (page) => page.evaluate(() => window.__gitopsTabRole?.() ?? 'none');

test('three tabs share one WebSocket; the leader closed, another takes over and changes still arrive', async () => {
  const base = await sampleReport();
  const server = realServer
    ? { files: { 'admin-token': `${ADMIN_TOKEN}\n` }, args: ['--admin-token-file', '{dir}/admin-token'] }
    : { env: { GITOPS_ADMIN_TOKEN: ADMIN_TOKEN } };
  // The closing leader's socket may be reported by the browser as it goes; nothing else may log.
  await runScenario({ report: base, server, allowedError: /WebSocket is closed before/ }, async ({ server, browser }) => {
    const tabs = [];
    const socketsOpened = new Map();
    for (let i = 0; i < 3; i += 1) {
      const page = await browser.context.newPage();
      socketsOpened.set(page, 0);
      page.on('websocket', () => socketsOpened.set(page, socketsOpened.get(page) + 1));
      await page.goto(`${server.url}/`);
      await page.waitForSelector('.card');
      await page.waitForSelector('.conn--live');
      tabs.push(page);
    }

    // Exactly one tab leads, and only it opened a WebSocket.
    const roles = await Promise.all(tabs.map(roleOf));
    assert.deepEqual([...roles].sort(), ['follower', 'follower', 'leader'], `one leader among the tabs (${roles.join(', ')})`);
    const leader = tabs[roles.indexOf('leader')];
    for (const page of tabs) assert.equal(socketsOpened.get(page), page === leader ? 1 : 0, 'only the leader opens a WebSocket');
    const one = await eventually(async () => {
      const clients = await clientsOf(server);
      return clients.ws === 1 && clients.sse === 0 && clients.long_poll === 0 ? clients : null;
    });
    assert.ok(one, `the server lists one WebSocket client (${JSON.stringify(await clientsOf(server))})`);

    // A change reaches every tab.
    await server.writeReport(withStatus(base, 'halo', 'clean'));
    for (const page of tabs) await page.waitForSelector('article[id="repo-halo-0"][data-status="clean"]');

    // The leader goes; one of the others takes over with its own (single) connection.
    const rest = tabs.filter((page) => page !== leader);
    for (const page of tabs) assert.deepEqual(await cspViolations(page), [], 'no CSP violations');
    await leader.close();
    const newLeader = await eventually(async () => {
      const now = await Promise.all(rest.map(roleOf));
      return now.filter((role) => role === 'leader').length === 1 ? rest[now.indexOf('leader')] : null;
    });
    assert.ok(newLeader, 'another tab leads');
    const again = await eventually(async () => {
      const clients = await clientsOf(server);
      return clients.ws === 1 && clients.sse === 0 && clients.long_poll === 0 ? clients : null;
    });
    assert.ok(again, `again one WebSocket client (${JSON.stringify(await clientsOf(server))})`);
    for (const page of rest) assert.equal(socketsOpened.get(page), page === newLeader ? 1 : 0, 'only the new leader opened a WebSocket');
    for (const page of rest) await page.waitForSelector('.conn--live');

    // A new change still reaches both remaining tabs, and the earlier one stayed.
    await server.writeReport(withStatus(withStatus(base, 'halo', 'clean'), 'kitshn', 'dirty'));
    for (const page of rest) {
      await page.waitForSelector('article[id="repo-kitshn-0"][data-status="dirty"]');
      await page.waitForSelector('article[id="repo-halo-0"][data-status="clean"]');
    }
    for (const page of rest) assert.deepEqual(await cspViolations(page), [], 'no CSP violations');
  });
});
