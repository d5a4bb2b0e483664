// Browser test of the operator's actions against the real binary (GITOPS_LIVE_BIN; the fake
// server cannot act): `serve --audit-root` over real git repositories made with the git CLI, an
// operator token file. The operator signs in on page A, reads a dirty repository's changes and
// commits them; a second browser (page B, a viewer) sees the card turn clean without a reload and
// has no action buttons; a page from another origin that posts to the action endpoint (fetch with
// credentials, and a plain form) changes nothing.
// Run: npm run build, build the binary, then
// GITOPS_LIVE_BIN=/path/to/gitops-live node --test --test-concurrency=1 e2e/actions.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, launchBrowser, openPage, runScenario } from './harness.mjs';

const run = promisify(execFile);
const OPERATOR_TOKEN = 'e2e-operator-token-3c8e1f0a9d2b';
const skip = process.env.GITOPS_LIVE_BIN ? false : 'actions need the real binary: set GITOPS_LIVE_BIN';

/** git with a fixed identity and no system or global configuration. */
async function git(cwd, ...args) {
  const env = {
    ...process.env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'E2E',
    GIT_AUTHOR_EMAIL: 'e2e@example.invalid',
    GIT_COMMITTER_NAME: 'E2E',
    GIT_COMMITTER_EMAIL: 'e2e@example.invalid',
  };
  const { stdout } = await run('git', args, { cwd, env });
  return stdout;
}

/** A repository with one commit (README and app.txt), its origin set to a GitHub-like URL. */
async function makeRepo(root, name) {
  const dir = join(root, name);
  await mkdir(dir);
  await git(dir, 'init', '-q', '-b', 'main');
  await writeFile(join(dir, 'README'), `# ${name}\n`);
  await writeFile(join(dir, 'app.txt'), 'one\ntwo\nthree\n');
  await git(dir, 'add', '.');
  await git(dir, 'commit', '-q', '-m', 'first');
  await git(dir, 'remote', 'add', 'origin', `https://github.com/e2e/${name}.git`);
  return dir;
}

/** Makes `dir` dirty: a changed tracked file and a new one. */
async function makeDirty(dir) {
  await writeFile(join(dir, 'app.txt'), 'one\nTWO\nthree\nfour\n');
  await writeFile(join(dir, 'notes.md'), 'new notes\n');
}

const card = (name) => `article[id="repo-${encodeURIComponent(name)}-0"]`;

/** A page on another origin that tries to act: fetch with credentials, then a form post. */
function attackerPage(target) {
  return `<!doctype html><html><body>
<form id="f" method="POST" action="${target}" target="sink" enctype="text/plain"><input name='{"message":"forged","x":"' value='"}'></form>
<iframe name="sink"></iframe>
<script>
window.results = [];
fetch(${JSON.stringify(target)}, { method: 'POST', credentials: 'include', headers: { 'Content-Type': 'application/json' }, body: '{"message":"forged"}' })
  .then((r) => window.results.push('fetch ' + r.status), (e) => window.results.push('fetch error ' + e.name))
  .finally(() => { document.getElementById('f').submit(); window.results.push('form sent'); });
</script></body></html>`;
}

async function startAttacker(html) {
  const port = await freePort();
  const server = createServer((request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(html);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(resolve)) };
}

test(
  'the operator commits a dirty repository from the dashboard; a viewer sees it turn clean live; another origin cannot act',
  { skip },
  async () => {
    const root = await mkdtemp(join(tmpdir(), 'gitops-live-e2e-root-'));
    let viewerBrowser = null;
    let attacker = null;
    try {
      const dirty = await makeRepo(root, 'dirty-repo');
      await makeDirty(dirty);
      const target = await makeRepo(root, 'dirty-target');
      await makeDirty(target);
      await makeRepo(root, 'clean-repo');
      const targetHead = (await git(target, 'rev-parse', 'HEAD')).trim();

      const server = {
        files: { 'operator-token': `${OPERATOR_TOKEN}\n`, 'expected.txt': 'e2e/dirty-repo\ne2e/dirty-target\ne2e/clean-repo\n' },
        args: [
          '--audit-root',
          root,
          '--audit-expected',
          '{dir}/expected.txt',
          '--operator-token-file',
          '{dir}/operator-token',
          '--commit-author',
          'Dashboard E2E <dashboard-e2e@example.invalid>',
        ],
      };
      // Chromium logs the refusals of the forged requests (CORS, 403, 415, and the refusal page the
      // server will not let be framed) as console errors.
      const allowedError = /CORS|status of (401|403|415)|Failed to fetch|ERR_FAILED|frame-ancestors/;
      await runScenario({ report: null, server, allowedError }, async ({ page, server: live, browser }) => {
        // Page A: the operator.
        await page.goto(`${live.url}/`);
        await page.waitForSelector('.conn--live');
        await page.waitForSelector(`${card('dirty-repo')}[data-status="dirty"]`);
        assert.equal(await page.locator('button[data-action]').count(), 0, 'no action before signing in');
        await page.click('button:has-text("Sign in as operator")');
        const signInDialog = page.getByRole('dialog', { name: 'Sign in as operator' });
        await signInDialog.locator('#operator-token').fill(OPERATOR_TOKEN);
        await signInDialog.locator('button[type=submit]').click();
        await page.waitForSelector('.operator__badge');
        const cookie = (await browser.context.cookies(live.url)).find((c) => c.name === 'gitops_live_operator');
        assert.ok(cookie, 'the operator cookie is set');
        assert.equal(cookie.httpOnly, true);
        assert.equal(cookie.sameSite, 'Strict');

        // Page B: a viewer in another browser (no operator cookie), open before the commit.
        viewerBrowser = await launchBrowser();
        const viewer = await openPage(viewerBrowser);
        await viewer.goto(`${live.url}/`);
        await viewer.waitForSelector('.conn--live');
        await viewer.waitForSelector(`${card('dirty-repo')}[data-status="dirty"]`);
        await viewer.evaluate(() => {
          window.__noReload = true;
        });
        assert.equal(await viewer.locator('button[data-action]').count(), 0, 'a viewer has no action buttons');
        assert.equal(await viewer.locator('.repo-actions').count(), 0);

        // The operator reads the changes, then commits them.
        const dirtyCard = page.locator(card('dirty-repo'));
        assert.deepEqual(await dirtyCard.locator('button[data-action]').allInnerTexts(), ['View changes', 'Commit…', 'Discard…']);
        assert.equal(await page.locator(`${card('clean-repo')} button[data-action]`).count(), 0);
        await dirtyCard.locator('button[data-action="changes"]').click();
        const changes = page.getByRole('dialog', { name: 'Changes in dirty-repo' });
        await changes.locator('.diff__file').first().waitFor();
        assert.deepEqual((await changes.locator('.diff__path').allInnerTexts()).sort(), ['app.txt', 'notes.md']);
        assert.ok((await changes.locator('.diff__line--add').allInnerTexts()).some((line) => line.includes('+TWO')));
        assert.ok((await changes.locator('.diff__line--del').allInnerTexts()).some((line) => line.includes('-two')));
        await changes.locator('button:has-text("Commit…")').click();
        const commit = page.getByRole('dialog', { name: 'Commit dirty-repo' });
        const message = commit.getByLabel('Commit message');
        await message.waitFor();
        assert.notEqual(await message.inputValue(), '', 'the message is pre-filled from the preview');
        await message.fill('Commit from the e2e test');
        await commit.locator('.dialog__footer button:has-text("Commit")').click();
        await commit.locator('.action-result--done').waitFor({ timeout: 20_000 });

        // Page B sees the card turn clean, live.
        await viewer.waitForSelector(`${card('dirty-repo')}[data-status="clean"]`, { timeout: 15_000 });
        assert.equal(await viewer.evaluate(() => window.__noReload), true, 'no reload');
        assert.equal((await git(dirty, 'log', '-1', '--format=%s%n%an')).trim(), 'Commit from the e2e test\nDashboard E2E');
        assert.equal((await git(dirty, 'status', '--porcelain')).trim(), '');

        // A page on another origin, in the operator's own browser (the cookie is there), tries to act.
        const endpoint = `${live.url}/api/repos/dirty-target/actions/commit`;
        attacker = await startAttacker(attackerPage(endpoint));
        const forged = await browser.context.newPage();
        const answers = [];
        forged.on('response', (response) => {
          if (response.url().includes('/api/repos/')) answers.push(`${response.request().method()} ${response.status()}`);
        });
        const formAnswered = forged.waitForResponse((r) => r.url() === endpoint && r.request().method() === 'POST', { timeout: 15_000 });
        await forged.goto(attacker.url);
        await forged.waitForFunction(() => window.results.includes('form sent'));
        const formAnswer = await formAnswered;
        assert.ok([403, 415].includes(formAnswer.status()), `the form post is refused (got ${formAnswer.status()})`);
        const results = await forged.evaluate(() => window.results);
        assert.ok(
          results.some((r) => r === 'fetch error TypeError' || r === 'fetch 403' || r === 'fetch 415'),
          `the fetch is refused: ${results.join(', ')}`,
        );
        assert.ok(!answers.some((a) => /^POST 2\d\d$/.test(a)), `no forged POST succeeded: ${answers.join(', ')}`);
        await forged.close();

        // Nothing changed: still dirty on disk and on the dashboard, and no commit in the log.
        assert.equal((await git(target, 'rev-parse', 'HEAD')).trim(), targetHead);
        assert.notEqual((await git(target, 'status', '--porcelain')).trim(), '');
        assert.equal(await page.getAttribute(card('dirty-target'), 'data-status'), 'dirty');
        const log = await page.evaluate(async () => (await fetch('/api/actions?repo=dirty-target', { cache: 'no-store' })).json());
        assert.deepEqual(
          log.actions.filter((a) => a.action === 'commit' && !a.dry_run),
          [],
          'no commit on dirty-target was logged',
        );
      });
    } finally {
      try {
        await viewerBrowser?.close();
        await attacker?.close();
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    }
  },
);
