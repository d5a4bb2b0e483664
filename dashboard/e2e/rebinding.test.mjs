// DNS rebinding, acted out in Chromium against the real binary: a page is served by an
// "attacker" under a foreign name that Chromium resolves to 127.0.0.1; the attacker's server
// then goes away and gitops-live takes its port, as if the name had been re-resolved to this
// machine. The page's own requests to its origin must not read the report, nor open a socket.
// Run: npm run build, build the binary, then
// GITOPS_LIVE_BIN=/path/to/gitops-live node --test --test-concurrency=1 e2e/rebinding.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, launchBrowser, sampleReport } from './harness.mjs';

const BIN = process.env.GITOPS_LIVE_BIN;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const skip = BIN ? false : 'DNS rebinding needs the real binary: set GITOPS_LIVE_BIN';
const NAME = 'rebind.attacker.example';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts the attacker's page server on `port`; returns a function that stops it for good. */
async function attackerServer(port) {
  const sockets = new Set();
  const server = createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end('<!doctype html><title>totally harmless</title><p>nothing to see</p>');
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
}

async function waitForReady(port, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error('gitops-live did not become ready');
    await sleep(50);
  }
}

/** What a page can get from its own origin: each data endpoint's status and body, and a socket. */
function probe() {
  return async () => {
    const out = {};
    for (const path of ['/api/audit', '/audit', '/api/ws/status', '/api/updates']) {
      try {
        const response = await fetch(path, { cache: 'no-store' });
        out[path] = { status: response.status, body: await response.text() };
      } catch (error) {
        out[path] = { status: 0, body: String(error) };
      }
    }
    out.ws = await new Promise((resolve) => {
      const socket = new WebSocket(`ws://${location.host}/ws`);
      const messages = [];
      const timer = setTimeout(() => resolve({ opened: false, messages, timeout: true }), 5000);
      socket.onopen = () => {
        setTimeout(() => {
          clearTimeout(timer);
          socket.close();
          resolve({ opened: true, messages });
        }, 500);
      };
      socket.onmessage = (event) => messages.push(String(event.data).slice(0, 200));
      socket.onerror = () => {
        clearTimeout(timer);
        resolve({ opened: false, messages });
      };
    });
    out.sse = await new Promise((resolve) => {
      const source = new EventSource('/api/events');
      const timer = setTimeout(() => {
        source.close();
        resolve({ data: false });
      }, 3000);
      source.addEventListener('audit-update', () => {
        clearTimeout(timer);
        source.close();
        resolve({ data: true });
      });
      source.onerror = () => {
        clearTimeout(timer);
        source.close();
        resolve({ data: false });
      };
    });
    return out;
  };
}

test('a page under a rebound name cannot read the report or open a socket; the real origin can', { skip }, async () => {
  assert.ok(existsSync(CHROMIUM), `chromium is not at ${CHROMIUM}: install Debian's chromium package`);
  const report = await sampleReport();
  const secretName = report.repos[0].name;
  const dir = await mkdtemp(join(tmpdir(), 'gitops-live-rebinding-'));
  const reportPath = join(dir, 'GitRepoReport.json');
  await writeFile(reportPath, JSON.stringify(report));
  const port = await freePort();
  let stopAttacker = await attackerServer(port);
  let server;
  let browser;
  try {
    browser = await launchBrowser({ args: [`--host-resolver-rules=MAP ${NAME} 127.0.0.1`] });
    const { context } = browser;
    const page = await context.newPage();
    const landed = await page.goto(`http://${NAME}:${port}/`);
    assert.equal(landed.status(), 200);
    assert.match(await page.content(), /nothing to see/, "the attacker's page loaded under its name");

    // The name now points at gitops-live: the attacker's server is gone, ours has its port.
    await stopAttacker();
    stopAttacker = null;
    server = spawn(
      BIN,
      ['serve', '--bind', `127.0.0.1:${port}`, '--report', reportPath, '--state-dir', join(dir, 'state'), '--log', 'warn'],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    await waitForReady(port);

    const seen = await page.evaluate(probe());
    for (const path of ['/api/audit', '/audit', '/api/ws/status', '/api/updates']) {
      assert.equal(seen[path].status, 421, `${path} answered ${seen[path].status}: ${seen[path].body.slice(0, 200)}`);
      assert.ok(!seen[path].body.includes(secretName), `${path} leaked the report`);
    }
    assert.equal(seen.ws.opened, false, `the WebSocket opened: ${JSON.stringify(seen.ws)}`);
    assert.deepEqual(seen.ws.messages, []);
    assert.equal(seen.sse.data, false, 'the event stream delivered the report');

    // The same probe from the server's own origin reads everything: the test can tell.
    const own = await context.newPage();
    await own.goto(`http://127.0.0.1:${port}/`);
    const ownSeen = await own.evaluate(probe());
    assert.equal(ownSeen['/api/audit'].status, 200);
    assert.ok(ownSeen['/api/audit'].body.includes(secretName));
    assert.equal(ownSeen.ws.opened, true);
    assert.ok(ownSeen.ws.messages.length > 0, 'the own origin gets messages on its socket');
    assert.equal(ownSeen.sse.data, true);
  } finally {
    if (stopAttacker) await stopAttacker();
    if (browser) await browser.close().catch(() => {});
    if (server) {
      server.kill('SIGKILL');
      await new Promise((resolve) => (server.exitCode !== null ? resolve() : server.once('exit', resolve)));
    }
    await rm(dir, { recursive: true, force: true });
  }
});
