// Measures (does not assert) two figures in chromium, for docs/performance.md:
//  1. first data on screen after navigation, with a report of N repositories (fresh profile, so no
//     saved state), and again on a reload (saved state shown at once);
//  2. report file written (rename) -> the changed card's status in the DOM, over many writes.
// Usage: node e2e/bench.mjs [--repos 1000] [--writes 200]   (needs `npm run build`; GITOPS_LIVE_BIN for the real server)
import { launchBrowser, openPage, startServer } from './harness.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const nRepos = option('repos', 1000);
const nWrites = option('writes', 200);
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
const summary = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const fmt = (v) => v.toFixed(1);
  return `n=${sorted.length} min ${fmt(sorted[0])} p50 ${fmt(percentile(sorted, 50))} p90 ${fmt(percentile(sorted, 90))} p99 ${fmt(percentile(sorted, 99))} max ${fmt(sorted.at(-1))} ms`;
};

const report = bigReport(nRepos);
const server = await startServer(report);
const browser = await launchBrowser();
try {
  const page = await openPage(browser);
  await browser.context.addInitScript(() => {
    const observer = new MutationObserver(() => {
      if (document.querySelector('article.card')) {
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
        this.addEventListener('message', () => {
          window.__lastFrameAt = Date.now();
        });
      }
    };
  });
  const firstLoads = [];
  const reloads = [];
  for (let i = 0; i < 10; i += 1) {
    // A fresh start each time: no saved state.
    await page.goto(`${server.url}/`);
    await page.evaluate(() => localStorage.clear());
    await page.goto(`${server.url}/`, { waitUntil: 'commit' });
    await page.waitForFunction(() => window.__firstCardAt !== undefined);
    firstLoads.push(await page.evaluate(() => window.__firstCardAt));
    await page.waitForSelector('.conn--live');
    await page.waitForTimeout(1200); // the state is saved after a quiet second
    await page.reload({ waitUntil: 'commit' });
    await page.waitForFunction(() => window.__firstCardAt !== undefined);
    reloads.push(await page.evaluate(() => window.__firstCardAt));
    await page.waitForSelector('.conn--live');
  }
  console.log(`first data on screen, ${nRepos} repos, empty storage: ${summary(firstLoads)}`);
  console.log(`first data on screen, ${nRepos} repos, reload with saved state: ${summary(reloads)}`);

  // Write -> DOM. Flip one repository's status per write, alternating targets.
  const latencies = [];
  const clientSide = [];
  const current = structuredClone(report);
  for (let i = 0; i < nWrites; i += 1) {
    const index = (i * 37) % nRepos;
    const repo = current.repos[index];
    const next = repo.status === 'dirty' ? 'clean' : 'dirty';
    repo.status = next;
    const id = `repo-${encodeURIComponent(repo.name)}-0`;
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
          observer.observe(document.querySelector('.grid') ?? document.body, { attributes: true, subtree: true, childList: true });
        });
      },
      { id, next },
    );
    const writtenAt = Date.now();
    await server.writeReport(current);
    const shownAt = await page.evaluate(() => window.__seen);
    latencies.push(shownAt - writtenAt);
    clientSide.push(shownAt - (await page.evaluate(() => window.__lastFrameAt ?? 0)));
    await page.waitForTimeout(40);
  }
  console.log(`file write -> DOM, ${nRepos} repos: ${summary(latencies)}`);
  console.log(`  of which frame received -> DOM (client side): ${summary(clientSide)}`);
  if (browser.consoleErrors.length) console.log('console errors:', browser.consoleErrors);
} finally {
  await browser.close();
  await server.stop();
}
