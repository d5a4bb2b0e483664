// Browser tests of viewer sign-in, against the real binary with a viewer token file (the fake
// server has no sign-in). Run: npm run build, build the binary, then
// GITOPS_LIVE_BIN=/path/to/gitops-live node --test --test-concurrency=1 e2e/auth.test.mjs
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario, sampleReport } from './harness.mjs';

const TOKEN = 'e2e-viewer-token-6f1d2c9a8b7e';
const skip = process.env.GITOPS_LIVE_BIN ? false : 'viewer sign-in needs the real binary: set GITOPS_LIVE_BIN';

let base;
before(async () => {
  base = await sampleReport();
});

/** Runs `body` against a server that asks viewers for TOKEN; checks CSP and that the only console errors are refusals. */
function scenario(options, body) {
  const server = {
    files: { 'viewer-token': `${TOKEN}\n` },
    args: ['--viewer-token-file', '{dir}/viewer-token', ...(options.args ?? [])],
  };
  // Chromium logs every 401/429 answer and the WebSocket a 401 refused; nothing else may be logged.
  const allowedError = /status of (401|429)|WebSocket connection to .* failed: .*(401|ERR_)/;
  return runScenario({ report: base, server, allowedError }, body);
}

const tokenField = '#signin-token';
const cardStatus = (page, name) => page.getAttribute(`article[id="repo-${encodeURIComponent(name)}-0"]`, 'data-status');

async function signIn(page, token) {
  await page.fill(tokenField, token);
  await page.click('button[type=submit]');
}

/** The page's own `fetch` of `path`: its status. */
const statusOf = (page, path) => page.evaluate(async (p) => (await fetch(p, { cache: 'no-store' })).status, path);

test('a viewer signs in with the token, sees live data, stays signed in across a reload and signs out', { skip }, async () => {
  await scenario({}, async ({ page, server, browser }) => {
    await page.goto(`${server.url}/`);
    await page.waitForSelector(tokenField);
    // The form, focused, and no repository data anywhere on the page or in storage.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'signin-token');
    assert.equal(await page.getAttribute(tokenField, 'type'), 'password');
    assert.equal(await page.locator('article.card').count(), 0);
    const html = await page.content();
    for (const repo of base.repos.slice(0, 10)) assert.ok(!html.includes(`repo-${repo.name}`), `no trace of ${repo.name}`);
    assert.equal(await page.evaluate(() => localStorage.getItem('gitops-live:state')), null);
    assert.equal(await statusOf(page, '/api/audit'), 401);
    await page.evaluate(() => {
      window.__noReload = true;
    });

    await signIn(page, 'not-the-token-at-all');
    await page.waitForSelector('.signin__error:has-text("That token was not accepted")');
    assert.equal(await page.inputValue(tokenField), '');

    await signIn(page, TOKEN);
    await page.waitForSelector('.conn--live');
    await page.waitForSelector('article.card');
    assert.equal(await page.locator('article.card').count(), base.repos.length);
    assert.equal(await page.evaluate(() => window.__noReload), true, 'signed in without a reload');

    // The session is an HttpOnly cookie: the browser holds it, the page's script cannot read it.
    const cookies = await browser.context.cookies(server.url);
    const session = cookies.find((c) => c.name === 'gitops_live_session');
    assert.ok(session, 'the browser holds the session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.ok(!(await page.evaluate(() => document.cookie)).includes('gitops_live_session'));
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    assert.ok(!stored.includes(TOKEN), 'the token is stored nowhere');

    // A report file write reaches the page.
    const next = structuredClone(base);
    next.repos.find((r) => r.name === 'halo').status = 'clean';
    await server.writeReport(next);
    await page.waitForFunction(() => document.querySelector('article[id="repo-halo-0"]')?.getAttribute('data-status') === 'clean');

    await page.reload();
    await page.waitForSelector('.conn--live');
    await page.waitForSelector('article.card');
    assert.equal(await cardStatus(page, 'halo'), 'clean');
    assert.equal(await page.locator(tokenField).count(), 0);

    await page.click('button:has-text("Sign out")');
    await page.waitForSelector(tokenField);
    assert.equal(await page.locator('article.card').count(), 0);
    assert.equal(await page.locator('.signin__note').count(), 0, 'no "session ended" note after signing out');
    assert.equal(await statusOf(page, '/api/audit'), 401);
    assert.equal(await page.evaluate(() => localStorage.getItem('gitops-live:state')), null, 'the saved report is gone');
    assert.equal(
      (await browser.context.cookies(server.url)).find((c) => c.name === 'gitops_live_session'),
      undefined,
    );
  });
});

test('a session that expires while live brings the form back with a note', { skip }, async () => {
  await scenario({ args: ['--viewer-session-ttl', '3s'] }, async ({ page, server }) => {
    await page.goto(`${server.url}/`);
    await signIn(page, TOKEN);
    await page.waitForSelector('.conn--live');
    await page.waitForSelector('article.card');
    // The server closes the socket with 4001 when the session expires; the page asks and signs out.
    await page.waitForSelector('.signin__note:has-text("Your session ended; sign in again")', { timeout: 15_000 });
    assert.equal(await page.locator('article.card').count(), 0);
    await signIn(page, TOKEN);
    await page.waitForSelector('.conn--live');
  });
});

test('too many wrong tokens are refused for a while, and the page says how long', { skip }, async () => {
  await scenario({}, async ({ page, server }) => {
    await page.goto(`${server.url}/`);
    await page.waitForSelector(tokenField);
    const answer = () => page.waitForResponse((r) => r.url().endsWith('/api/session') && r.request().method() === 'POST');
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const answered = answer();
      await signIn(page, `wrong-${attempt}`);
      assert.equal((await answered).status(), 401);
      await page.waitForSelector('.signin__error:has-text("That token was not accepted")');
    }
    // Even the right token is refused now.
    const answered = answer();
    await signIn(page, TOKEN);
    assert.equal((await answered).status(), 429);
    const text = await page.locator('.signin__error').filter({ hasText: 'Too many attempts' }).innerText();
    assert.match(text, /^Too many attempts; try again in \d+ s\.$/);
    assert.equal(await page.locator('article.card').count(), 0);
  });
});
