// Measures (does not assert) two figures in chromium, for docs/performance.md:
//  1. first data on screen after navigation, with a report of N repositories: cold (empty HTTP
//     cache, no saved state: a first visit), warm (cached assets, no saved state) and reload (saved
//     state shown at once while it reconnects); with where the time goes (document, scripts,
//     snapshot, render) and what the assets weigh on the wire;
//  2. report file written (temporary file + rename) -> the changed card's status in the DOM, over
//     many writes, split into server side (write -> frame in the page) and client side (frame -> DOM).
//  3. with --table: the same in the table view (`/?view=table&sort=name`, an auditor-shaped report
//     with badges), plus scrolling: the time between animation frames (requestAnimationFrame
//     deltas) while the window scrolls steadily through the list, and while it jumps to a random
//     place every frame (each frame then shows rows it has never drawn).
// The browser talks to the server directly (no test proxy in between).
//
// Usage: node e2e/bench.mjs [--repos 1000] [--writes 200] [--runs 10] [--link MBIT,RTT_MS]
//                           [--table] [--scroll-frames 600] [--scroll-step 40]
//   needs `npm run build` for the fake server; set GITOPS_LIVE_BIN for the real binary (which
//   serves the dashboard it embedded when it was built). --link adds a cold run over an emulated
//   link (e.g. --link 20,20 for 20 Mbit/s down, 20 ms round trip).
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { openPage, withServerAndBrowser } from './harness.mjs';
import { auditedReport } from './reports.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const nRepos = Number(option('repos', '1000'));
const nWrites = Number(option('writes', '200'));
const nRuns = Number(option('runs', '10'));
const link = option('link', null)?.split(',').map(Number) ?? null;
const table = args.includes('--table');
const scrollFrames = Number(option('scroll-frames', '600'));
const scrollStep = Number(option('scroll-step', '40'));
/** Where the list is, and what marks a repository on screen, in the mode measured. */
// Cards are asked for explicitly: without a choice, more than 200 repositories start as a table.
const listPath = table ? '/?view=table&sort=name' : '/?view=cards';
const itemSelector = table ? '.trow' : 'article.card';
const itemId = (name) => (table ? `row-${encodeURIComponent(name)}-0` : `repo-${encodeURIComponent(name)}-0`);
const STATUSES = ['clean', 'clean', 'clean', 'dirty', 'missing', 'extra', 'mismatched'];

function bigReport(n) {
  const repos = Array.from({ length: n }, (_, i) => {
    const status = STATUSES[i % STATUSES.length];
    return {
      name: `repo-${String(i).padStart(5, '0')}`,
      status,
      local_path: status === 'missing' ? undefined : `/srv/git/repo-${i}`,
      clone_url: `https://github.com/alice/repo-${i}.git`,
      dashboard_link: `/audit/repo-${i}?action=view`,
      mitigation: status === 'clean' ? undefined : `fix_${status}`,
      file_status: 'complete',
      branch: 'main',
      last_commit: 'f9c22252a924814de9d30d22ea49e1484add107f',
    };
  });
  return {
    timestamp: new Date().toISOString(),
    health_status: 'red',
    repos,
    mitigation_actions: Object.fromEntries(STATUSES.map((s) => [`fix_${s}`, `Fix the ${s} repository`])),
  };
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const summary = (all) => {
  const sorted = all.filter(Number.isFinite).sort((a, b) => a - b);
  const missing = all.length - sorted.length;
  const fmt = (v) => v.toFixed(1);
  return `n=${sorted.length} min ${fmt(sorted[0])} p50 ${fmt(percentile(sorted, 50))} p90 ${fmt(percentile(sorted, 90))} p99 ${fmt(percentile(sorted, 99))} max ${fmt(sorted.at(-1))} ms${missing ? ` (${missing} without a value)` : ''}`;
};
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

console.log(`server: ${process.env.GITOPS_LIVE_BIN ?? 'e2e/fake-server.mjs'}`);
console.log(`view: ${table ? 'table' : 'cards'} (${listPath})`);
console.log(`load average at start (1/5/15 min): ${load()}`);

/**
 * Frame intervals in ms, summarised, with how many frames came late: over 25 ms is at least one
 * 60 Hz frame missed (intervals jitter around 16.7 ms), over 50 ms two or more.
 */
function frameSummary(deltas) {
  const over = (ms) => deltas.filter((d) => d > ms).length;
  return `${summary(deltas)}; late (> 25 ms): ${over(25)}, very late (> 50 ms): ${over(50)} of ${deltas.length}`;
}

const report = table ? auditedReport(nRepos) : bigReport(nRepos);
await withServerAndBrowser(report, {}, async (server, browser) => {
  const base = server.directUrl;
  /** What each resource of the page weighs, and whether the server compresses it (node's fetch asks for gzip and br). */
  const weigh = async (paths) => {
    for (const path of paths) {
      // Compressing a large body here takes seconds, long enough for the server to close the
      // idle kept-alive connection under fetch's feet: try once more on a fresh one.
      const get = () => fetch(`${base}${path}`, { headers: { 'Accept-Encoding': 'gzip, br' } });
      const response = await get().catch(get);
      const body = Buffer.from(await response.arrayBuffer());
      console.log(
        `  ${path}: ${kib(body.length)}, served with content-encoding ${response.headers.get('content-encoding') ?? 'none'}` +
          ` (gzip -6 would be ${kib(gzipSync(body).length)}, brotli -11 ${kib(brotliCompressSync(body).length)})`,
      );
    }
  };
  const page = await openPage(browser);
  const cdp = await browser.context.newCDPSession(page);
  await cdp.send('Network.enable');
  await browser.context.addInitScript(() => {
    const observer = new MutationObserver(() => {
      if (document.querySelector('article.card, .trow')) {
        window.__firstCardAt = performance.now();
        observer.disconnect();
      }
    });
    observer.observe(document, { childList: true, subtree: true });
  });
  // Split the write -> DOM latency: note when each WebSocket frame arrives in the page.
  await browser.context.addInitScript(() => {
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        this.addEventListener('message', (event) => {
          const text = String(event.data);
          (window.__frames ??= []).push({ at: Date.now(), text: text.length < 65536 ? text : '' });
        });
      }
    };
  });

  /** Navigates and returns when the first card showed, and where the time went (ms from navigation start). */
  const firstData = async (navigate) => {
    await navigate();
    await page.waitForFunction(() => window.__firstCardAt !== undefined, null, { timeout: 60_000 });
    const timing = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const resources = performance.getEntriesByType('resource');
      const scripts = resources.filter((r) => new URL(r.name).pathname.endsWith('.js'));
      const entry = document.querySelector('script[type=module]')?.src;
      const snapshot = resources.find((r) => new URL(r.name).pathname === '/api/audit');
      return {
        firstCard: window.__firstCardAt,
        document: nav.responseEnd,
        entry: scripts.find((r) => r.name === entry)?.responseEnd ?? null,
        scriptBytes: scripts.reduce((sum, r) => sum + r.transferSize, 0),
        snapshotAsked: snapshot?.startTime ?? null,
        snapshot: snapshot?.responseEnd ?? null,
      };
    });
    await page.waitForSelector('.conn--live');
    return timing;
  };
  // Leaving the dashboard saves its state (pagehide: IndexedDB, and a mark in localStorage), and
  // Chromium commits both asynchronously: wait a little before clearing both, and check the run
  // fetched the snapshot.
  const forgetState = async () => {
    await page.waitForTimeout(300);
    await cdp.send('Storage.clearDataForOrigin', { origin: base, storageTypes: 'local_storage,indexeddb' });
  };
  const blank = () => page.goto('about:blank');
  /** A first-data run that must start from the server (no saved state): retried when it did not. */
  const fromServer = async (prepare) => {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      await prepare();
      const timing = await firstData(() => page.goto(`${base}${listPath}`, { waitUntil: 'commit' }));
      if (timing.snapshot !== null) return timing;
    }
    throw new Error('saved state kept coming back; the cold figures would be wrong');
  };

  const cold = [];
  const warm = [];
  const reloads = [];
  for (let i = 0; i < nRuns; i += 1) {
    // A first visit: nothing cached, nothing saved.
    cold.push(
      await fromServer(async () => {
        await blank();
        await forgetState();
        await cdp.send('Network.clearBrowserCache');
        // The service worker's copy of the app shell too: a first visit has neither.
        await cdp.send('Storage.clearDataForOrigin', { origin: base, storageTypes: 'cache_storage,service_workers' });
      }),
    );
    if (i === 0)
      await weigh(['/', ...(await page.evaluate(() => performance.getEntriesByType('resource').map((r) => new URL(r.name).pathname)))]);
    // Assets cached, nothing saved.
    warm.push(
      await fromServer(async () => {
        await blank();
        await forgetState();
      }),
    );
    // Saved state: the store writes it 10 s after the first change, when the page is idle; the mark
    // says a write began, and IndexedDB commits it a moment later.
    await page.waitForFunction(() => localStorage.getItem('gitops-live:saved') !== null, null, { timeout: 30_000 });
    await page.waitForTimeout(300);
    reloads.push(await firstData(() => page.reload({ waitUntil: 'commit' })));
  }
  const breakdown = (runs) => {
    const part = (key) => {
      const values = runs.map((r) => r[key]).filter((v) => v !== null);
      return values.length ? median(values).toFixed(1) : '-';
    };
    const bytes = kib(median(runs.map((r) => r.scriptBytes)));
    return `    medians: document ${part('document')}, entry script loaded ${part('entry')}, snapshot asked ${part('snapshotAsked')} and fetched ${part('snapshot')}, first card ${part('firstCard')} ms; scripts ${bytes} on the wire`;
  };
  const what = table ? 'first row' : 'first card';
  console.log(`(first data = ${what} in the DOM)`);
  console.log(`first data on screen, ${nRepos} repos, cold (empty cache and storage): ${summary(cold.map((r) => r.firstCard))}`);
  console.log(breakdown(cold));
  console.log(`first data on screen, ${nRepos} repos, warm cache, empty storage: ${summary(warm.map((r) => r.firstCard))}`);
  console.log(breakdown(warm));
  console.log(`first data on screen, ${nRepos} repos, reload with saved state: ${summary(reloads.map((r) => r.firstCard))}`);
  console.log(breakdown(reloads));

  if (link) {
    const [mbit, rttMs] = link;
    const bytesPerSecond = (mbit * 1e6) / 8;
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: rttMs,
      downloadThroughput: bytesPerSecond,
      uploadThroughput: bytesPerSecond,
    });
    const slow = [];
    for (let i = 0; i < Math.min(nRuns, 5); i += 1) {
      slow.push(
        await fromServer(async () => {
          await blank();
          await forgetState();
          await cdp.send('Network.clearBrowserCache');
          // The service worker's copy of the app shell too: a first visit has neither.
          await cdp.send('Storage.clearDataForOrigin', { origin: base, storageTypes: 'cache_storage,service_workers' });
        }),
      );
    }
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    console.log(
      `first data on screen, ${nRepos} repos, cold, emulated ${mbit} Mbit/s ${rttMs} ms RTT: ${summary(slow.map((r) => r.firstCard))}`,
    );
    console.log(breakdown(slow));
  }

  if (table) {
    await page.goto(`${base}${listPath}`);
    await page.waitForSelector('.conn--live');
    await page.waitForSelector(itemSelector);
    await page.waitForTimeout(1000);
    /** Scrolls each animation frame by `step` px (or to a random place when `jump`); returns the frame intervals. */
    const scroll = (frames, step, jump) =>
      page.evaluate(
        ({ frames, step, jump }) =>
          new Promise((resolve) => {
            const deltas = [];
            let last = performance.now();
            let n = 0;
            const max = () => document.documentElement.scrollHeight - window.innerHeight;
            const tick = (now) => {
              if (n > 0) deltas.push(now - last);
              last = now;
              n += 1;
              if (n > frames) return resolve({ deltas, rows: document.querySelectorAll('.trow').length });
              if (jump) window.scrollTo(0, Math.random() * max());
              else window.scrollTo(0, (window.scrollY + step) % max());
              requestAnimationFrame(tick);
            };
            requestAnimationFrame(tick);
          }),
        { frames, step, jump },
      );
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    const idle = await scroll(120, 0, false);
    console.log(`table, ${nRepos} rows (page ${height} px high): frame interval, not scrolling: ${frameSummary(idle.deltas)}`);
    const steady = await scroll(scrollFrames, scrollStep, false);
    console.log(
      `table, ${nRepos} rows: frame interval scrolling ${scrollStep} px a frame: ${frameSummary(steady.deltas)} (${steady.rows} rows in the DOM)`,
    );
    const jumps = await scroll(Math.min(scrollFrames, 300), 0, true);
    console.log(`table, ${nRepos} rows: frame interval jumping to a random place every frame: ${frameSummary(jumps.deltas)}`);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForTimeout(300);
  }

  // Write -> DOM. Flip one repository's status per write, alternating targets.
  await page.goto(`${base}${listPath}`);
  await page.waitForSelector('.conn--live');
  await page.waitForSelector(itemSelector);
  const latencies = [];
  const serverSide = [];
  const clientSide = [];
  const current = structuredClone(report);
  for (let i = 0; i < nWrites; i += 1) {
    // In the table (sorted by name) the first rows are on screen; cards are all in the DOM.
    const index = table ? i % 12 : (i * 37) % nRepos;
    const repo = current.repos[index];
    const next = repo.status === 'dirty' ? 'clean' : 'dirty';
    repo.status = next;
    const text = JSON.stringify(current, null, 2);
    const id = itemId(repo.name);
    await page.evaluate(
      ({ id, next }) => {
        window.__seen = new Promise((resolve) => {
          const check = () => document.getElementById(id)?.getAttribute('data-status') === next;
          if (check()) return resolve(Date.now());
          const observer = new MutationObserver(() => {
            if (check()) {
              observer.disconnect();
              resolve(Date.now());
            }
          });
          observer.observe(document.querySelector('.grid, .tbody') ?? document.body, { attributes: true, subtree: true, childList: true });
        });
      },
      { id, next },
    );
    const writtenAt = Date.now();
    await server.writeReport(text);
    const shownAt = await page.evaluate(() => window.__seen);
    // The first frame after the write that names the repository carried the change.
    const frameAt = await page.evaluate(
      ({ after, name }) => (window.__frames ?? []).find((f) => f.at >= after && f.text.includes(`"${name}"`))?.at ?? NaN,
      { after: writtenAt, name: repo.name },
    );
    await page.evaluate(() => {
      window.__frames = [];
    });
    latencies.push(shownAt - writtenAt);
    serverSide.push(frameAt - writtenAt);
    clientSide.push(shownAt - frameAt);
    await page.waitForTimeout(40);
  }
  const written = (await readFile(server.reportPath)).length;
  console.log(`file write -> DOM${table ? ' (table row)' : ''}, ${nRepos} repos (${kib(written)} file): ${summary(latencies)}`);
  console.log(`  of which write start -> frame in the page (server side): ${summary(serverSide)}`);
  console.log(`  of which frame received -> DOM (client side): ${summary(clientSide)}`);
  if (browser.consoleErrors.length) console.log('console errors:', browser.consoleErrors);
  console.log(`load average at end (1/5/15 min): ${load()}`);
});
