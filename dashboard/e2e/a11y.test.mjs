// Accessibility in Chromium, against the real binary over the sample report: axe-core on every view
// (the dashboard, a repository's page, the sign-in form, dark mode, a phone's width, History, and
// the Actions page signed in as operator) with no serious or critical violation, and what axe
// cannot see: how often the live regions speak per change, toasts that neither cover the focused
// element nor drop focus, charts out of the tab order, a visible focus ring on a pressed tile, a
// change highlight that is not the focus colour, the tab title per page and focus on the heading
// after a view change. Run: npm run build, build the binary, then
// GITOPS_LIVE_BIN=/path/to/gitops-live node --test --test-concurrency=1 e2e/a11y.test.mjs
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { launchBrowser, openPage, runScenario, sampleReport } from './harness.mjs';

const require = createRequire(import.meta.url);
const VIEWER_TOKEN = 'e2e-a11y-viewer-token-5e2b7d1c';
const OPERATOR_TOKEN = 'e2e-a11y-operator-token-9a4c3f6e';
const skipSignIn = process.env.GITOPS_LIVE_BIN ? false : 'sign-in needs the real binary: set GITOPS_LIVE_BIN';

let base;
let axeSource;
before(async () => {
  base = await sampleReport();
  axeSource = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
});

const cardSelector = (name) => `article[id="repo-${encodeURIComponent(name)}-0"]`;

/**
 * Runs axe on the page as it is and fails listing every serious or critical violation. The
 * script is evaluated through the DevTools protocol, which the page's CSP does not govern (an
 * injected <script> would be refused, and counted as a CSP violation).
 */
async function assertAxeClean(page, what) {
  // Colours mid-animation (a toast fading in) are not the page's colours: let finite animations end.
  await page.evaluate(() =>
    Promise.race([
      Promise.all(
        document
          .getAnimations()
          .filter((a) => a.effect?.getComputedTiming().endTime !== Infinity)
          .map((a) => a.finished.catch(() => {})),
      ),
      new Promise((r) => setTimeout(r, 5_000)),
    ]),
  );
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.slice(0, 8).map((n) => `${n.target.join(' ')}: ${n.failureSummary?.replace(/\s+/g, ' ')}`),
        count: v.nodes.length,
      }));
  });
  const text = violations
    .map((v) => `  ${v.impact} ${v.id} (${v.count}): ${v.help}\n${v.nodes.map((n) => `    - ${n}`).join('\n')}`)
    .join('\n');
  assert.equal(violations.length, 0, `axe on ${what}: serious or critical violations:\n${text}`);
}

/** Waits until the dashboard is live, its cards are in and the charts have drawn. */
async function dashboardReady(page) {
  await page.waitForSelector('.conn--live');
  await page.waitForSelector('article.card');
  await page.waitForSelector('.recharts-surface');
}

/** A copy of `report` with `name`'s status set to `status`. */
function withStatus(report, name, status) {
  const next = structuredClone(report);
  next.repos.find((r) => r.name === name).status = status;
  return next;
}

const clean = () => base.repos.filter((r) => r.status === 'clean').map((r) => r.name);

test('axe: the dashboard, a repository, History and a toast, in light and dark, on a desktop and a phone: no serious or critical violation', async () => {
  await runScenario({ report: base }, async ({ page, server }) => {
    const target = clean()[0];
    const pages = [
      ['light desktop', page],
      ['dark desktop', null, { colorScheme: 'dark' }],
      ['light phone (390×844)', null, { viewport: { width: 390, height: 844 } }],
      ['dark phone (390×844)', null, { viewport: { width: 390, height: 844 }, colorScheme: 'dark' }],
    ];
    let report = base;
    for (const [label, existing, options] of pages) {
      const browser = existing ? null : await launchBrowser(options);
      try {
        const p = existing ?? (await openPage(browser));
        await p.goto(`${server.url}/`);
        await dashboardReady(p);
        await assertAxeClean(p, `the dashboard (${label})`);
        // A change: a toast and a highlighted card.
        report = withStatus(report, target, report.repos.find((r) => r.name === target).status === 'clean' ? 'dirty' : 'clean');
        await server.writeReport(report);
        await p.waitForSelector('.toast');
        await p.waitForSelector(`${cardSelector(target)}[data-changed="true"]`);
        await assertAxeClean(p, `the dashboard with a toast (${label})`);
        await p.goto(`${server.url}/audit/${encodeURIComponent(target)}`);
        await p.waitForSelector(`${cardSelector(target)}.card--selected`);
        await p.waitForSelector('.recharts-surface');
        await assertAxeClean(p, `a repository's page (${label})`);
        await p.goto(`${server.url}/history`);
        await p.waitForSelector('#history-title');
        await p.waitForLoadState('networkidle');
        await assertAxeClean(p, `History (${label})`);
      } finally {
        await browser?.close();
      }
    }
  });
});

test('axe: the sign-in form, in light and dark: no serious or critical violation', { skip: skipSignIn }, async () => {
  const server = { files: { 'viewer-token': `${VIEWER_TOKEN}\n` }, args: ['--viewer-token-file', '{dir}/viewer-token'] };
  const allowedError = /status of (401|429)|WebSocket connection to .* failed: .*(401|ERR_)/;
  await runScenario({ report: base, server, allowedError }, async ({ page, server: live }) => {
    await page.goto(`${live.url}/`);
    await page.waitForSelector('#signin-token');
    await assertAxeClean(page, 'the sign-in form');
    await page.fill('#signin-token', 'not-the-token');
    await page.click('button[type=submit]');
    await page.waitForSelector('.signin__error');
    await assertAxeClean(page, 'the sign-in form with its error');
    const dark = await launchBrowser({ colorScheme: 'dark' });
    try {
      const p = await openPage(dark);
      await p.goto(`${live.url}/`);
      await p.waitForSelector('#signin-token');
      await assertAxeClean(p, 'the sign-in form (dark)');
      // Signed in, focus lands on the page's heading instead of dropping to the body.
      await p.fill('#signin-token', VIEWER_TOKEN);
      await p.click('button[type=submit]');
      await dashboardReady(p);
      await p.waitForFunction(() => document.activeElement?.id === 'overview-title');
    } finally {
      await dark.close();
    }
  });
});

test('axe: the Actions page signed in as operator, in light and dark: no serious or critical violation', { skip: skipSignIn }, async () => {
  const server = { files: { 'operator-token': `${OPERATOR_TOKEN}\n` }, args: ['--operator-token-file', '{dir}/operator-token'] };
  const allowedError = /status of (401|404)/;
  await runScenario({ report: base, server, allowedError }, async ({ page, server: live, browser }) => {
    await page.goto(`${live.url}/`);
    await dashboardReady(page);
    await page.click('button:has-text("Sign in as operator")');
    const dialog = page.getByRole('dialog', { name: 'Sign in as operator' });
    await assertAxeClean(page, 'the operator sign-in dialog');
    await dialog.locator('#operator-token').fill(OPERATOR_TOKEN);
    await dialog.locator('button[type=submit]').click();
    await page.waitForSelector('.operator__badge');
    await page.click('nav[aria-label=Pages] a:has-text("Actions")');
    await page.waitForSelector('h1:has-text("Actions")');
    await page.waitForLoadState('networkidle');
    await assertAxeClean(page, 'the Actions page');
    // The same in dark, in a page sharing the operator's cookie.
    const cookies = await browser.context.cookies(live.url);
    const dark = await launchBrowser({ colorScheme: 'dark' });
    try {
      await dark.context.addCookies(cookies);
      const p = await openPage(dark);
      await p.goto(`${live.url}/actions`);
      await p.waitForSelector('h1:has-text("Actions")');
      await p.waitForLoadState('networkidle');
      await assertAxeClean(p, 'the Actions page (dark)');
    } finally {
      await dark.close();
    }
  });
});

/**
 * Starts recording what the page's live regions would say: each time a region's text changes to
 * something non-empty, one announcement (the region's text then).
 */
async function recordAnnouncements(page) {
  await page.evaluate(() => {
    const LIVE = '[aria-live]:not([aria-live=off]), [role=status], [role=alert], [role=log]';
    const said = [];
    const last = new Map();
    window.__announcements = said;
    const observer = new MutationObserver((records) => {
      const regions = new Set();
      for (const record of records) {
        const node = record.target.nodeType === Node.ELEMENT_NODE ? record.target : record.target.parentElement;
        const region = node?.closest(LIVE);
        if (region) regions.add(region);
        for (const added of record.addedNodes) {
          if (added.nodeType === Node.ELEMENT_NODE && added.matches(LIVE)) regions.add(added);
        }
      }
      for (const region of regions) {
        const text = region.textContent.trim();
        if (text && text !== last.get(region)) said.push(text);
        last.set(region, text);
      }
    });
    observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

test('each status change is announced once, bursts merged, without the toasts or their buttons', async () => {
  await runScenario({ report: base }, async ({ page, server }) => {
    await page.goto(`${server.url}/`);
    await dashboardReady(page);
    await recordAnnouncements(page);
    // Six changes, one a little more often than every half second (the demo makes one a second).
    const names = clean().slice(0, 6);
    let report = base;
    for (const name of names) {
      report = withStatus(report, name, 'dirty');
      await server.writeReport(report);
      await page.waitForSelector(`${cardSelector(name)}[data-status="dirty"]`);
      await page.waitForTimeout(400);
    }
    // Wait until every change has been accounted for (bounded), then a little more for stragglers.
    // A long burst is said as "6 repositories changed: a, b, c, d, e and 1 more": a change is
    // accounted for by its name or by "and N more".
    const accounted = (texts) =>
      texts.reduce((sum, t) => sum + names.filter((n) => t.includes(n)).length + Number(/and (\d+) more/.exec(t)?.[1] ?? 0), 0);
    for (let i = 0; i < 50 && accounted(await page.evaluate(() => window.__announcements)) < names.length; i++) {
      await page.waitForTimeout(200);
    }
    await page.waitForTimeout(3_000);
    const said = await page.evaluate(() => window.__announcements);
    assert.ok(accounted(said) >= names.length, `every change is announced: ${JSON.stringify(said)}`);
    assert.ok(
      said.some((t) => t.includes(names[0])),
      `${names[0]} is named: ${JSON.stringify(said)}`,
    );
    assert.ok(
      said.length <= 3,
      `six changes in about four seconds make at most three announcements, not ${said.length}: ${JSON.stringify(said)}`,
    );
    for (const text of said) assert.ok(!/dismiss/i.test(text), `no button names in an announcement: ${text}`);
    const characters = said.reduce((sum, t) => sum + t.length, 0);
    assert.ok(characters < 600, `${characters} characters of speech for six changes: ${JSON.stringify(said)}`);
  });
});

test('toasts: named Dismiss buttons; focus returns on dismiss; the timer waits while a toast has focus', async () => {
  await runScenario({ report: base }, async ({ page, server }) => {
    await page.goto(`${server.url}/`);
    await dashboardReady(page);
    const [first, second] = clean();
    await page.focus('input[type=search]');
    let report = withStatus(base, first, 'dirty');
    await server.writeReport(report);
    const dismiss = page.getByRole('button', { name: `Dismiss notification: ${first} changed` });
    await dismiss.waitFor();
    // Focus into the toast (as a keyboard user reaching it would), then dismiss it with the keyboard.
    await dismiss.focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('.toast').length === 0);
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('type')), 'search', 'focus returns to the search box');

    // A focused toast outlives its lifetime (8 s) and goes once focus leaves.
    report = withStatus(report, second, 'dirty');
    await server.writeReport(report);
    const next = page.getByRole('button', { name: `Dismiss notification: ${second} changed` });
    await next.waitFor();
    await next.focus();
    await page.waitForTimeout(9_500);
    assert.equal(await page.locator('.toast').count(), 1, 'the focused toast is still there after its lifetime');
    await page.keyboard.press('Shift+Tab');
    assert.notEqual(await page.evaluate(() => document.activeElement?.tagName), 'BODY');
    await page.waitForFunction(() => document.querySelectorAll('.toast').length === 0, null, { timeout: 15_000 });
    assert.notEqual(await page.evaluate(() => document.activeElement?.tagName), 'BODY', 'focus stays where it was');
  });
});

test('on a phone, a toast never covers the focused card element', async () => {
  await runScenario({ report: base, browser: { viewport: { width: 390, height: 844 } } }, async ({ page, server }) => {
    await page.goto(`${server.url}/`);
    await dashboardReady(page);
    await page.focus('input[type=search]');
    let report = base;
    let covered = [];
    let stops = 0;
    const names = clean();
    for (let i = 0; i < 60; i++) {
      // Keep a toast up: a change every ten stops.
      if (i % 10 === 0) {
        const name = names[(i / 10) % names.length];
        report = withStatus(report, name, report.repos.find((r) => r.name === name).status === 'clean' ? 'dirty' : 'clean');
        await server.writeReport(report);
        await page.waitForSelector('.toast');
      }
      await page.keyboard.press('Tab');
      const hit = await page.evaluate(() => {
        const el = document.activeElement;
        if (!el?.closest('article.card')) return null;
        const a = el.getBoundingClientRect();
        for (const toast of document.querySelectorAll('.toast')) {
          const b = toast.getBoundingClientRect();
          if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) return el.textContent || el.tagName;
        }
        return '';
      });
      if (hit !== null) stops += 1;
      if (hit) covered.push(hit);
    }
    assert.ok(stops > 20, `tabbed through the cards (${stops} card stops)`);
    assert.deepEqual(covered, [], `${covered.length} of ${stops} focused card elements were under a toast`);
  });
});

test('keyboard: charts are not tab stops, every stop before the search box is named and visible; a pressed tile shows the focus ring', async () => {
  await runScenario({ report: base }, async ({ page, server }) => {
    await page.goto(`${server.url}/`);
    await dashboardReady(page);
    await page.evaluate(() => document.activeElement?.blur());
    const stops = [];
    for (let i = 0; i < 80; i++) {
      await page.keyboard.press('Tab');
      const stop = await page.evaluate(() => {
        const el = document.activeElement;
        const rect = el.getBoundingClientRect();
        const name = (el.getAttribute('aria-label') ?? el.textContent ?? '').trim() || el.getAttribute('title') || '';
        return {
          tag: el.tagName,
          name,
          inCharts: Boolean(el.closest('.charts')),
          size: rect.width * rect.height,
          search: el.getAttribute('type') === 'search',
        };
      });
      if (stop.search) break;
      stops.push(stop);
    }
    assert.ok(stops.length < 80, 'the search box is reached');
    assert.deepEqual(
      stops.filter((s) => s.inCharts),
      [],
      'no chart element is a tab stop',
    );
    assert.deepEqual(
      stops.filter((s) => !s.name || s.size === 0),
      [],
      'every stop is named and has a size',
    );

    // The Total tile is pressed (no filter): focused from the keyboard it shows the focus colour.
    const focusColour = await page.evaluate(() => {
      const probe = document.createElement('span');
      probe.style.color = 'var(--focus)';
      document.body.append(probe);
      const colour = getComputedStyle(probe).color;
      probe.remove();
      return colour;
    });
    await page.focus('.tile--total');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab');
    const ring = await page.evaluate(() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      return {
        cls: el.className,
        pressed: el.getAttribute('aria-pressed'),
        colour: style.outlineColor,
        style: style.outlineStyle,
        width: style.outlineWidth,
      };
    });
    assert.match(ring.cls, /tile--total/);
    assert.equal(ring.pressed, 'true');
    assert.equal(ring.style, 'solid');
    assert.equal(ring.colour, focusColour, 'the focused pressed tile has the focus ring');
    assert.ok(parseFloat(ring.width) >= 2);
  });
});

/** "rgb(1, 2, 3)", "rgba(...)" or "color(srgb r g b / a)" as [r, g, b] in 0..1. */
function rgbOf(text) {
  const srgb = /color\(srgb ([\d.]+) ([\d.]+) ([\d.]+)/.exec(text);
  if (srgb) return srgb.slice(1, 4).map(Number);
  const rgb = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(text);
  if (rgb) return rgb.slice(1, 4).map((n) => Number(n) / 255);
  return null;
}

test('the change highlight is not the focus colour; the tab title names the page; a view change focuses its heading', async () => {
  for (const colorScheme of ['light', 'dark']) {
    await runScenario({ report: base, browser: { colorScheme } }, async ({ page, server }) => {
      await page.goto(`${server.url}/`);
      await dashboardReady(page);
      const target = clean()[0];
      await server.writeReport(withStatus(base, target, 'dirty'));
      await page.waitForSelector(`${cardSelector(target)}[data-changed="true"]`);
      const colours = await page.evaluate((selector) => {
        const card = document.querySelector(selector);
        const probe = document.createElement('span');
        probe.style.color = 'var(--focus)';
        document.body.append(probe);
        const focus = getComputedStyle(probe).color;
        probe.remove();
        return { focus, highlight: getComputedStyle(card, '::after').boxShadow };
      }, cardSelector(target));
      const focus = rgbOf(colours.focus);
      const highlight = rgbOf(colours.highlight);
      assert.ok(focus && highlight, `colours read: ${JSON.stringify(colours)}`);
      const distance = Math.hypot(...focus.map((c, i) => c - highlight[i]));
      assert.ok(distance > 0.25, `${colorScheme}: the highlight (${colours.highlight}) is far from the focus colour (${colours.focus})`);

      if (colorScheme === 'dark') return;
      // The title names the repository; All repositories and History focus their heading.
      const overviewTitle = await page.title();
      await page.click(`${cardSelector(target)} h3 a`);
      await page.waitForFunction((name) => document.title.startsWith(`${name} — `), target);
      assert.notEqual(await page.title(), overviewTitle);
      assert.equal(await page.evaluate(() => document.activeElement?.closest('article')?.className.includes('card--selected')), true);
      await page.click('a:has-text("All repositories")');
      await page.waitForFunction(() => location.pathname === '/');
      await page.waitForFunction(() => document.activeElement?.id === 'overview-title');
      assert.equal(await page.title(), overviewTitle);
      await page.click('nav[aria-label=Pages] a:has-text("History")');
      await page.waitForFunction(() => document.activeElement?.id === 'history-title');
      assert.match(await page.title(), /^History — /);
    });
  }
});

test('a focused card keeps its place when its status changes', async () => {
  await runScenario({ report: base }, async ({ page, server }) => {
    await page.goto(`${server.url}/`);
    await dashboardReady(page);
    const target = clean()[2];
    const link = page.locator(`${cardSelector(target)} h3 a`);
    await link.focus();
    const before = await page.evaluate(
      (s) => [...document.querySelectorAll('.grid > article')].findIndex((a) => a.matches(s)),
      cardSelector(target),
    );
    await server.writeReport(withStatus(base, target, 'missing'));
    await page.waitForSelector(`${cardSelector(target)}[data-status="missing"]`);
    const after = await page.evaluate(
      (s) => [...document.querySelectorAll('.grid > article')].findIndex((a) => a.matches(s)),
      cardSelector(target),
    );
    assert.equal(after, before, 'the focused card stays where it was');
    assert.equal(await page.evaluate(() => document.activeElement?.closest('article')?.getAttribute('data-status')), 'missing');
  });
});

/** WCAG contrast of two "rgb(r, g, b)" colours. */
function contrast(a, b) {
  const luminance = (text) => {
    const [r, g, b] = rgbOf(text).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

test('chart axis labels have 4.5:1 contrast in light and dark (axe does not measure SVG text)', async () => {
  for (const colorScheme of ['light', 'dark']) {
    await runScenario({ report: base, browser: { colorScheme } }, async ({ page, server }) => {
      await page.goto(`${server.url}/`);
      await dashboardReady(page);
      const pairs = await page.evaluate(() =>
        [...document.querySelectorAll('.chart .recharts-cartesian-axis-tick-value')].map((text) => [
          getComputedStyle(text).fill,
          getComputedStyle(text.closest('.panel')).backgroundColor,
        ]),
      );
      assert.ok(pairs.length > 5, `tick labels found (${pairs.length})`);
      for (const [fill, background] of pairs) {
        const ratio = contrast(fill, background);
        assert.ok(ratio >= 4.5, `${colorScheme}: tick label ${fill} on ${background} is ${ratio.toFixed(2)}:1`);
      }
    });
  }
});
