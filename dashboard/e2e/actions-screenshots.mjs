// Screenshots of the operator's actions for people to look at (not a test), against the real
// binary over real git repositories: the sign-in dialog, cards with their actions, the changes
// view, the commit, discard, delete and clone dialogs, the batch dialog and the Actions page, in
// light and dark and at phone width.
// Usage: GITOPS_LIVE_BIN=… node e2e/actions-screenshots.mjs <output-dir>   (needs `npm run build`)
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { launchBrowser, openPage, withServerAndBrowser } from './harness.mjs';

if (!process.env.GITOPS_LIVE_BIN) throw new Error('actions need the real binary: set GITOPS_LIVE_BIN');
const out = process.argv[2] ?? 'screenshots';
await mkdir(out, { recursive: true });
const TOKEN = 'screenshot-operator-token-1234';
const run = promisify(execFile);
const env = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
const git = (cwd, ...args) => run('git', ['-c', 'user.name=Alice', '-c', 'user.email=alice@example.invalid', ...args], { cwd, env });

async function repo(root, name, { dirty = false, remote = `https://github.com/alice/${name}.git` } = {}) {
  const dir = join(root, name);
  await mkdir(dir);
  await git(dir, 'init', '-q', '-b', 'main');
  await writeFile(join(dir, 'README'), `# ${name}\n`);
  const lines = Array.from({ length: 40 }, (_, i) => `line ${i + 1} of the configuration`);
  await writeFile(join(dir, 'config.yaml'), `${lines.join('\n')}\n`);
  await git(dir, 'add', '.');
  await git(dir, 'commit', '-q', '-m', 'initial import');
  await git(dir, 'remote', 'add', 'origin', remote);
  if (dirty) {
    lines[4] = 'line 5 changed: replicas 3';
    lines.splice(20, 2, 'line 21 rewritten', 'a new line 22', 'and another');
    await writeFile(join(dir, 'config.yaml'), `${lines.join('\n')}\n`);
    await writeFile(join(dir, 'notes.md'), 'todo: tidy this up\n');
    await writeFile(join(dir, 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 0, 0, 0]));
  }
}

const root = await mkdtemp(join(tmpdir(), 'gitops-live-shots-root-'));
try {
  await repo(root, 'esphome', { dirty: true });
  await repo(root, 'kitshn');
  await repo(root, 'scratch');
  await repo(root, 'homelab', { remote: 'https://github.com/someone-else/homelab.git' });
  const server = {
    files: { 'operator-token': TOKEN, 'expected.txt': 'alice/esphome\nalice/kitshn\nalice/homelab\nalice/halo\nalice/tandoor\n' },
    args: ['--audit-root', root, '--audit-expected', '{dir}/expected.txt', '--operator-token-file', '{dir}/operator-token'],
  };
  await withServerAndBrowser(null, { server }, async (live, browser) => {
    const page = await openPage(browser);
    const shot = (name, fullPage = false) => page.screenshot({ path: join(out, `${name}.png`), fullPage });
    await page.goto(`${live.url}/`);
    await page.waitForSelector('article.card');
    await page.click('button:has-text("Sign in as operator")');
    await page.waitForSelector('[role=dialog]');
    await shot('actions-signin');
    await page.fill('#operator-token', TOKEN);
    await page.click('[role=dialog] button[type=submit]');
    await page.waitForSelector('.operator__badge');
    await page.waitForSelector('button[data-action]');
    await shot('actions-dashboard', true);

    const card = (name) => page.locator(`article[id="repo-${name}-0"]`);
    await card('esphome').locator('button[data-action="changes"]').click();
    await page.waitForSelector('.diff__file');
    await shot('actions-changes');
    await page.keyboard.press('Escape');

    await card('esphome').locator('button[data-action="commit"]').click();
    await page.waitForSelector('.action-preview');
    await shot('actions-commit');
    await page.keyboard.press('Escape');

    await card('esphome').locator('button[data-action="discard"]').click();
    await page.waitForSelector('.action-preview');
    await page.fill('[role=dialog] input[type=text]', 'espho');
    await shot('actions-discard');
    await page.keyboard.press('Escape');

    await card('scratch').locator('button[data-action="delete"]').click();
    await page.waitForSelector('.action-preview');
    await shot('actions-delete');
    await page.fill('[role=dialog] input[type=text]', 'scratch');
    await page.click('[role=dialog] .dialog__footer button:has-text("Delete")');
    await page.waitForSelector('.action-result, .action-error', { timeout: 20_000 }).catch(() => {});
    await shot('actions-delete-done');
    await page.keyboard.press('Escape');

    await card('homelab').locator('button[data-action="fix-remote"]').click();
    await page.waitForSelector('.action-preview, .action-error');
    await shot('actions-fix-remote');
    await page.keyboard.press('Escape');

    await card('halo').locator('button[data-action="clone"]').click();
    await page.waitForSelector('.action-preview, .action-error');
    await shot('actions-clone');
    await page.keyboard.press('Escape');

    await page.click('button:has-text("Clone / fix several")');
    await page.waitForSelector('.batch__group');
    await page.locator('.batch__group').first().locator('.batch__all input').check();
    await shot('actions-batch');
    await page.locator('.batch__group').first().locator('button.button--primary').click();
    await page.waitForSelector('.batch__results');
    await shot('actions-batch-results');
    await page.keyboard.press('Escape');

    await page.click('.topbar__nav a:has-text("Actions")');
    await page.waitForSelector('.log__entry');
    await page
      .locator('.log__output summary')
      .first()
      .click()
      .catch(() => {});
    await shot('actions-page', true);

    // Dark and narrow.
    const dark = await launchBrowser({ colorScheme: 'dark', viewport: { width: 390, height: 844 } });
    try {
      const phone = await openPage(dark);
      await phone.goto(`${live.url}/`);
      await phone.waitForSelector('article.card');
      await phone.click('button:has-text("Sign in as operator")');
      await phone.fill('#operator-token', TOKEN);
      await phone.click('[role=dialog] button[type=submit]');
      await phone.waitForSelector('button[data-action]');
      await phone.locator('article[id="repo-esphome-0"] button[data-action="changes"]').click();
      await phone.waitForSelector('.diff__file');
      await phone.screenshot({ path: join(out, 'actions-changes-dark-phone.png') });
      await phone.keyboard.press('Escape');
      await phone.locator('article[id="repo-esphome-0"] button[data-action="discard"]').click();
      await phone.waitForSelector('.action-preview');
      await phone.screenshot({ path: join(out, 'actions-discard-dark-phone.png') });
    } finally {
      await dark.close();
    }
  });
} finally {
  await rm(root, { recursive: true, force: true });
}
