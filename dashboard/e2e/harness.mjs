// Browser-test harness: starts a gitops-live server on a report file in a fresh temporary folder,
// puts a TCP proxy in front of it (so a test can cut connections without restarting the server),
// and launches Debian's chromium through playwright-core with a fresh profile.
//
// The server is the real binary when GITOPS_LIVE_BIN is set (its arguments from GITOPS_LIVE_ARGS,
// with {report}, {port}, {dist} and {dir} replaced), else e2e/fake-server.mjs.
//
// What a test starts, it stops: a failure anywhere (a browser that does not launch, a server that
// does not answer) still stops the server, the proxy and the browser and removes the temporary
// folders, so a failing run ends instead of hanging on a live child process. Missing
// prerequisites (chromium, the server binary, the built dashboard) are reported before anything
// starts, with what to install.
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, writeFile, rename, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { createServer, connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const dashboardDir = resolve(here, '..');
export const sampleReportPath = resolve(dashboardDir, '../crates/report/samples/GitRepoReport.json');

/** Reads the 50-repository sample report, or a small built-in one when the sample is absent. */
export async function sampleReport() {
  try {
    return JSON.parse(await readFile(sampleReportPath, 'utf8'));
  } catch {
    return JSON.parse(await readFile(join(here, 'fixtures/GitRepoReport.json'), 'utf8'));
  }
}

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The chromium the tests drive: `CHROMIUM`, else Debian's. */
export const chromiumPath = () => process.env.CHROMIUM ?? '/usr/bin/chromium';

async function isExecutableFile(path) {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Checks what the browser tests need before anything starts, and throws one error naming every
 * missing piece and how to get it: the chromium executable, the server (GITOPS_LIVE_BIN, or the
 * fake server's built dashboard in dist/).
 */
export async function checkPrerequisites() {
  const problems = [];
  const browser = chromiumPath();
  if (!(await isExecutableFile(browser))) {
    problems.push(
      `chromium is not at ${browser} (or is not executable): install it (Debian/Ubuntu: \`sudo apt-get install chromium\`) ` +
        'or set CHROMIUM to the path of a Chromium or Chrome executable',
    );
  }
  const bin = process.env.GITOPS_LIVE_BIN;
  if (bin) {
    if (!(await isExecutableFile(bin))) {
      problems.push(
        `the server binary GITOPS_LIVE_BIN=${bin} does not exist or is not executable: build it with ` +
          '`npm run build` in dashboard/, then `cargo build --release -p gitops-live` (or run `cargo xtask e2e`)',
      );
    }
  } else {
    try {
      await access(join(dashboardDir, 'dist', 'index.html'));
    } catch {
      problems.push('the dashboard is not built (dist/index.html is missing): run `npm run build` in dashboard/');
    }
  }
  if (problems.length) throw new Error(`browser tests cannot run:\n  - ${problems.join('\n  - ')}`);
}

let prerequisitesChecked = null;
/** `checkPrerequisites`, once per process. */
const prerequisites = () => (prerequisitesChecked ??= checkPrerequisites());

/**
 * Waits until `url` answers, for at most `timeoutMs`; gives up at once when `exited` settles (the
 * server process ended) and says so.
 */
async function waitForHttp(url, exited, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let gone = null;
  void exited.then((code) => {
    gone = code;
  });
  for (;;) {
    if (gone !== null) throw new Error(`the server exited (${gone}) before answering at ${url}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (response.status < 500) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`server did not answer at ${url} within ${timeoutMs / 1000} s`);
    await sleep(50);
  }
}

/** Whether an HTTP request head (the bytes before the blank line) asks for a WebSocket upgrade. */
function isWebSocketUpgrade(head) {
  const text = head.toString('latin1');
  return /^GET \S+ HTTP\/1\.1\r\n/.test(text) && /\r\nupgrade:[ \t]*websocket[ \t]*\r\n/i.test(`${text}\r\n`);
}

const FORBIDDEN =
  'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 33\r\nConnection: close\r\n\r\nWebSockets refused by the proxy.\n';

/**
 * A TCP proxy whose connections a test can cut, whose door it can close, and which can answer
 * WebSocket upgrades with 403 while passing everything else through (a proxy that does not speak
 * WebSocket, as some corporate ones do not).
 *
 * It reads only the first request head of each connection: Chromium opens a dedicated connection
 * for every WebSocket, so an upgrade is always a connection's first request.
 */
async function startProxy(targetPort) {
  const connections = new Set();
  let refusing = false;
  let refusingWebSockets = false;
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    connections.add(client);
    let upstream = null;
    const end = () => {
      client.destroy();
      upstream?.destroy();
      connections.delete(client);
      if (upstream) connections.delete(upstream);
    };
    client.on('error', end).on('close', end);
    let head = Buffer.alloc(0);
    const firstRequest = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const blank = head.indexOf('\r\n\r\n');
      if (blank < 0 && head.length < 64 * 1024) return;
      client.off('data', firstRequest);
      client.pause();
      if (refusingWebSockets && isWebSocketUpgrade(head.subarray(0, blank < 0 ? head.length : blank))) {
        client.end(FORBIDDEN);
        return;
      }
      upstream = connect(targetPort, '127.0.0.1');
      connections.add(upstream);
      upstream.on('error', end).on('close', end);
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    };
    client.on('data', firstRequest);
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    port,
    /** Destroys every open connection (the browser sees the sockets die). */
    cut() {
      for (const socket of connections) socket.destroy();
      connections.clear();
    },
    /** Refuses (true) or accepts (false) new connections. */
    refuse(value) {
      refusing = value;
    },
    /** Answers (true) or passes on (false) new WebSocket upgrade requests with 403. */
    refuseWebSockets(value) {
      refusingWebSockets = value;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

/**
 * Starts a server on `report` (an object, written as GitRepoReport.json in a fresh folder; `null`
 * for no file yet).
 * `options.args` adds flags both servers take (e.g. ['--realtime', 'off']); `options.fakeArgs` flags
 * only the fake server takes (e.g. ['--no-ws']); `options.env` adds environment variables (both
 * servers read GITOPS_ADMIN_TOKEN); `options.files` ({ name: content }) are written into the
 * temporary folder first, and `{dir}` in any argument names that folder (e.g. a token file).
 */
export async function startServer(report, options = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'gitops-live-e2e-'));
  const reportPath = join(dir, 'GitRepoReport.json');
  if (typeof report === 'string') await writeFile(reportPath, report);
  else if (report !== null) await writeFile(reportPath, JSON.stringify(report, null, 2));
  for (const [name, content] of Object.entries(options.files ?? {})) await writeFile(join(dir, name), content, { mode: 0o600 });
  const serverPort = await freePort();
  const dist = join(dashboardDir, 'dist');
  let child = null;
  let output = '';

  const launch = async () => {
    const bin = process.env.GITOPS_LIVE_BIN;
    const fill = (text) =>
      text.replaceAll('{report}', reportPath).replaceAll('{port}', String(serverPort)).replaceAll('{dist}', dist).replaceAll('{dir}', dir);
    const [command, args] = bin
      ? [
          bin,
          [
            ...(process.env.GITOPS_LIVE_ARGS ?? 'serve --report {report} --bind 127.0.0.1:{port} --state-dir {dir}/state')
              .split(' ')
              .filter(Boolean)
              .map(fill),
            ...(options.args ?? []).map(fill),
          ],
        ]
      : [
          process.execPath,
          [
            join(here, 'fake-server.mjs'),
            '--report',
            reportPath,
            '--port',
            String(serverPort),
            '--dist',
            dist,
            ...(options.args ?? []).map(fill),
            ...(options.fakeArgs ?? []),
          ],
        ];
    const started = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    child = started;
    const exited = new Promise((r) => {
      started.once('exit', (code, signal) => r(signal ?? code));
      started.once('error', (error) => r(error.message));
    });
    started.stdout.on('data', (d) => (output += d));
    started.stderr.on('data', (d) => (output += d));
    await waitForHttp(`http://127.0.0.1:${serverPort}/api/ws/status`, exited);
  };

  const stopChild = async () => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null || running.pid === undefined) return;
    const exited = new Promise((r) => running.once('exit', r));
    running.kill('SIGTERM');
    await Promise.race([exited, sleep(3000)]);
    if (running.exitCode === null && running.signalCode === null) {
      running.kill('SIGKILL');
      await Promise.race([exited, sleep(3000)]);
    }
  };

  let proxy = null;
  try {
    await launch();
    proxy = await startProxy(serverPort);
  } catch (error) {
    // Nothing that was started may outlive the failure.
    await stopChild();
    await proxy?.close();
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${error.message}${output ? `\nserver output:\n${output}` : ''}`, { cause: error });
  }

  return {
    url: `http://127.0.0.1:${proxy.port}`,
    directUrl: `http://127.0.0.1:${serverPort}`,
    reportPath,
    proxy,
    output: () => output,
    /** Writes the report the way careful producers do: a temporary file renamed over the old one. */
    async writeReport(next) {
      const temp = `${reportPath}.tmp`;
      await writeFile(temp, typeof next === 'string' ? next : JSON.stringify(next, null, 2));
      await rename(temp, reportPath);
    },
    /** The server process's id (while it runs). */
    pid: () => child?.pid,
    /** Kills the server process (the proxy stays, so the browser sees refused connections). */
    kill: stopChild,
    restart: launch,
    async stop() {
      try {
        await stopChild();
      } finally {
        proxy.cut();
        await proxy.close();
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Launches chromium with a fresh profile; collects console errors and CSP violations per page.
 * `options.args` adds flags to the standard set (e.g. `--host-resolver-rules`).
 */
export async function launchBrowser(options = {}) {
  const profile = await mkdtemp(join(tmpdir(), 'gitops-live-chromium-'));
  let context;
  try {
    context = await launchChromium(profile, options);
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw new Error(`chromium did not start (${chromiumPath()}): ${error.message.split('\n')[0]}`, { cause: error });
  }
  return watchContext(context, profile);
}

function launchChromium(profile, options) {
  return chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(),
    timeout: 30_000,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(options.args ?? []),
    ],
    viewport: options.viewport ?? { width: 1280, height: 900 },
    colorScheme: options.colorScheme ?? 'light',
    reducedMotion: options.reducedMotion ?? 'no-preference',
  });
}

async function watchContext(context, profile) {
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  const consoleErrors = [];
  const watchPage = (page) => {
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(`pageerror: ${error.message}`));
  };
  context.on('page', watchPage);
  for (const page of context.pages()) watchPage(page);
  return {
    context,
    consoleErrors,
    async close() {
      try {
        await context.close();
      } finally {
        await rm(profile, { recursive: true, force: true });
      }
    },
  };
}

/** Opens a page (the persistent context's first one, or a new one). */
export async function openPage(browser) {
  return browser.context.pages()[0] ?? browser.context.newPage();
}

/** The CSP violations the page has seen. */
export async function cspViolations(page) {
  return page.evaluate(() => window.__cspViolations ?? []);
}

/**
 * Runs `body({ page, server, browser })` with a fresh server (`report`, `server` options) and
 * browser, then checks the page broke no CSP rule and logged no console error other than those
 * `allowedError` (a RegExp) matches. Prints the server's output when anything fails.
 */
export async function runScenario({ report, server: serverOptions = {}, browser: browserOptions = {}, allowedError = null }, body) {
  await prerequisites();
  let server = null;
  let browser = null;
  try {
    server = await startServer(report, serverOptions);
    browser = await launchBrowser(browserOptions);
    const page = await openPage(browser);
    await body({ page, server, browser });
    assert.deepEqual(await cspViolations(page), [], 'no CSP violations');
    const unexpected = browser.consoleErrors.filter((text) => !allowedError?.test(text));
    assert.deepEqual(unexpected, [], 'no console errors besides the expected refusals');
  } catch (error) {
    if (server) console.error(server.output());
    throw error;
  } finally {
    // Each is stopped even when stopping the other fails.
    try {
      await browser?.close();
    } finally {
      await server?.stop();
    }
  }
}

/**
 * Runs `body(server, browser)` with a server on `report` and a browser, for scripts (bench,
 * screenshots): the same prerequisites and the same clean-up as `runScenario`, without its checks.
 */
export async function withServerAndBrowser(report, { server: serverOptions = {}, browser: browserOptions = {} } = {}, body) {
  await prerequisites();
  let server = null;
  let browser = null;
  try {
    server = await startServer(report, serverOptions);
    browser = await launchBrowser(browserOptions);
    return await body(server, browser);
  } finally {
    try {
      await browser?.close();
    } finally {
      await server?.stop();
    }
  }
}
