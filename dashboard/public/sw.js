// The dashboard's service worker: it keeps the app shell (the page and its scripts, styles and
// icons) so that the dashboard still opens when the server cannot be reached, and then shows the
// last state it saved in IndexedDB, marked offline with its age (lib/livePersistence.ts).
//
// It never touches data: /api/* (the snapshot, SSE, long-poll), /ws and every other request go to
// the network as if it were not there; where the browser can route them around the worker (the
// static routing API), the worker is not even started for them. Pages are asked of the network first (the cached copy is only a fallback, so a
// new build shows at once); the hashed files under /assets/ never change and come from the cache
// first. When the page's entry script changes (a new build), the old build's files are dropped.
const SHELL = 'gitops-live-shell-v1';
const PAGE = '/';
// Not /early.js: it only asks the server for data, useless without one, and must not wait for
// the worker to start.
const STATIC = new Set(['/favicon.svg', '/icon-maskable.svg', '/manifest.webmanifest']);

/** The dashboard's own addresses: the page is the answer to each of them (see routes.rs). */
function isPage(path) {
  return path === '/' || path === '/history' || path === '/actions' || path.startsWith('/audit/');
}

/** The entry script a page names: changes with every build. */
function entryOf(html) {
  const match = /<script[^>]+src="(\/assets\/[^"]+)"/.exec(html);
  return match ? match[1] : null;
}

/**
 * Stores the page and every file of its build: the files the page names, and the chunks its entry
 * script loads later (the charts), which the entry names as `assets/<name>`.
 */
async function precache() {
  const cache = await caches.open(SHELL);
  const response = await fetch(new Request(PAGE, { cache: 'no-store' }));
  if (!response.ok) return;
  const html = await response.clone().text();
  await cache.put(PAGE, response);
  const files = new Set(Array.from(html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g), (m) => m[1]));
  const entry = entryOf(html);
  if (entry) {
    const script = await (await fetch(entry)).text();
    for (const m of script.matchAll(/assets\/[A-Za-z0-9_.-]+\.(?:js|css)/g)) files.add(`/${m[0]}`);
  }
  await cache.addAll([...files, ...STATIC]);
}

self.addEventListener('install', (event) => {
  if (typeof event.addRoutes === 'function') {
    const network = (pathname) => ({ condition: { urlPattern: new URLPattern({ pathname }) }, source: 'network' });
    event.waitUntil(event.addRoutes([network('/api/*'), network('/ws'), network('/metrics'), network('/early.js')]).catch(() => {}));
    // Pages and the build's files: the network (the browser's own cache first) and this worker's
    // answer race, so nothing waits for the worker to start while the server is up, and the kept
    // copies still answer while it is down.
    const race = (condition) => ({ condition, source: 'race-network-and-fetch-handler' });
    const shell = [race({ requestMode: 'navigate' }), race({ urlPattern: new URLPattern({ pathname: '/assets/*' }) })];
    event.waitUntil(event.addRoutes(shell).catch(() => {}));
  }
  event.waitUntil(
    precache()
      .catch(() => {})
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name !== SHELL).map((name) => caches.delete(name))))
      // Pages ask the network while the worker starts, not after.
      .then(() => self.registration.navigationPreload?.enable())
      .catch(() => {})
      .then(() => self.clients.claim()),
  );
});

/** Keeps a fresh copy of the page; a new build replaces the old build's files. */
async function keepPage(response) {
  const cache = await caches.open(SHELL);
  const html = await response.clone().text();
  const old = await cache.match(PAGE);
  const oldEntry = old ? entryOf(await old.text()) : null;
  await cache.put(PAGE, response);
  if (oldEntry && entryOf(html) !== oldEntry) {
    const keys = await cache.keys();
    await Promise.all(keys.filter((r) => new URL(r.url).pathname.startsWith('/assets/')).map((r) => cache.delete(r)));
    await precache();
  }
}

async function page(request, preloaded) {
  try {
    const response = (await preloaded) ?? (await fetch(request));
    if (response.ok && (response.headers.get('content-type') ?? '').startsWith('text/html')) {
      await keepPage(response.clone()).catch(() => {});
    }
    return response;
  } catch (error) {
    const cached = await caches.match(PAGE);
    if (cached) return cached;
    throw error;
  }
}

/** Keeps a copy of a good answer, in the background. */
function keep(request, response) {
  if (!response.ok) return;
  const copy = response.clone();
  caches
    .open(SHELL)
    .then((cache) => cache.put(request, copy))
    .catch(() => {});
}

async function fromCacheFirst(request) {
  const cached = await caches.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  keep(request, response);
  return response;
}

async function fromNetworkFirst(request) {
  try {
    const response = await fetch(request);
    keep(request, response);
    return response;
  } catch (error) {
    const cached = await caches.match(request);
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === 'navigate') {
    if (isPage(url.pathname)) event.respondWith(page(request, event.preloadResponse));
    return;
  }
  if (url.pathname.startsWith('/assets/')) event.respondWith(fromCacheFirst(request));
  else if (STATIC.has(url.pathname)) event.respondWith(fromNetworkFirst(request));
});
