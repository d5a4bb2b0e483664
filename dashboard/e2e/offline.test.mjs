// Browser test: the offline fallback. The dashboard saves the last state in IndexedDB; loaded
// while the server cannot be reached, it shows that state marked "Offline — showing the state
// saved … ago", and goes live again (the mark gone) when the server is back.
// The page itself comes from the service worker (public/sw.js), which kept the app shell on the
// first visit; every data request still goes to the (dead) server.
// Run with `npm run e2e` (builds first). Set GITOPS_LIVE_BIN to test the real binary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario, sampleReport } from './harness.mjs';

/** Waits until the service worker controls the page and holds the page and its entry script. */
async function shellKept(page) {
  await page.waitForFunction(
    async () => {
      if (!navigator.serviceWorker?.controller) return false;
      const entry = document.querySelector('script[type=module]')?.getAttribute('src');
      const cache = await caches.open('gitops-live-shell-v1');
      return Boolean((await cache.match('/')) && entry && (await cache.match(entry)));
    },
    null,
    { timeout: 15_000, polling: 100 },
  );
}

/** The record the store keeps in IndexedDB, or null. */
function savedRecord(page) {
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        const open = indexedDB.open('gitops-live', 1);
        open.onupgradeneeded = () => open.result.createObjectStore('state');
        open.onerror = () => resolve(null);
        open.onsuccess = () => {
          const get = open.result.transaction('state', 'readonly').objectStore('state').get('last');
          get.onsuccess = () => {
            const value = get.result;
            open.result.close();
            resolve(value ? { cursor: value.cursor, repos: value.report.repos.length, savedAt: value.savedAt } : null);
          };
          get.onerror = () => resolve(null);
        };
      }),
  );
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('loaded with the server down, the page shows the saved state marked offline with its age, then goes live', async () => {
  const report = await sampleReport();
  // The server's absence is logged by the browser itself (refused requests and sockets).
  const allowedError = /WebSocket|Failed to load resource|ERR_|net::/;
  await runScenario({ report, allowedError }, async ({ page, server }) => {
    await page.goto(`${server.url}/`);
    await page.waitForSelector('.conn--live');
    await page.waitForSelector('.card');
    assert.equal(await page.locator('[data-offline-saved-at]').count(), 0, 'no offline mark while live');

    // Saved after the quiet period (10 s) in an idle moment, bounded to one record.
    let saved = null;
    for (let i = 0; i < 300 && !saved; i += 1) {
      saved = await savedRecord(page);
      if (!saved) await sleep(100);
    }
    assert.ok(saved, 'the state was saved in IndexedDB');
    assert.equal(saved.repos, report.repos.length);

    await shellKept(page);
    await server.kill();
    const banner = page.locator('[data-offline-saved-at]');
    // A new visit to a repository's address opens too, not only a reload of the page that was open.
    const first = report.repos[0].name;
    await page.goto(`${server.url}/audit/${encodeURIComponent(first)}`);
    await banner.waitFor({ timeout: 15_000 });
    await page.getByRole('heading', { name: first, exact: true }).waitFor({ timeout: 5_000 });
    await page.goto(`${server.url}/`);
    await banner.waitFor({ timeout: 15_000 });
    const text = await banner.innerText();
    assert.match(text, /Offline — showing the state saved (just now|\d+ s ago|\d+ min ago)\./, `the mark says the age (${text})`);
    // Written again as the page went away (pagehide: the server already gone, so with the time the
    // state was last known current), still one record: the age shown is its own.
    const shown = await savedRecord(page);
    assert.equal(shown.cursor, saved.cursor);
    assert.equal(Number(await banner.getAttribute('data-offline-saved-at')), shown.savedAt, 'the age is that of the saved state');
    assert.equal(await page.locator('article.card').count(), report.repos.length, 'the saved repositories are shown');
    assert.ok(await page.locator('.conn--reconnecting, .conn--offline').count(), 'the header says the server is not reached');

    // The server is back: the next attempt (the socket, or the fallback it has moved on to after
    // three failures, within the 30 s backoff cap) brings fresh data and the mark goes.
    await server.restart();
    await banner.waitFor({ state: 'detached', timeout: 45_000 });
    await page.waitForSelector('.conn--live, .conn--fallback', { timeout: 5_000 });
    assert.equal(await page.locator('article.card').count(), report.repos.length);
  });
});
