// Screenshots of the operator's notifications for people to look at (not a test), against the real
// binary: the Actions page's Notifications section with a delivered test, a dead letter (a hook
// that answers 404) and a pending one (a port nobody listens on), a snooze; a repository's page
// before and after snoozing; and the section on a server without destinations. Light and dark.
// Usage: GITOPS_LIVE_BIN=… node e2e/notifications-screenshots.mjs <output-dir>   (needs `npm run build`)
import { createServer } from 'node:http';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, openPage, sampleReport, withServerAndBrowser } from './harness.mjs';

if (!process.env.GITOPS_LIVE_BIN) throw new Error('notifications need the real binary: set GITOPS_LIVE_BIN');
const out = process.argv[2] ?? 'screenshots';
await mkdir(out, { recursive: true });
const TOKEN = 'screenshot-operator-token-5678';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const port = await freePort();
const receiver = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(request.url === '/gone' ? 404 : 200);
    response.end();
  });
});
await new Promise((resolve) => receiver.listen(port, '127.0.0.1', resolve));
const nobody = await freePort();

async function signIn(page, url) {
  await page.goto(`${url}/`);
  await page.waitForSelector('article.card');
  await page.click('button:has-text("Sign in as operator")');
  await page.fill('#operator-token', TOKEN);
  await page.click('[role=dialog] button[type=submit]');
  await page.waitForSelector('.operator__badge');
}

try {
  for (const scheme of ['light', 'dark']) {
    const server = {
      files: { 'operator-token': TOKEN, secret: 'a-webhook-secret' },
      args: [
        '--operator-token-file',
        '{dir}/operator-token',
        '--notify-url',
        `http://127.0.0.1:${port}/hooks/T0123/abcdef`,
        '--notify-url',
        `http://127.0.0.1:${port}/gone`,
        '--notify-url',
        `http://127.0.0.1:${nobody}/relay`,
        '--notify-secret-file',
        '{dir}/secret',
      ],
    };
    await withServerAndBrowser(await sampleReport(), { server, browser: { colorScheme: scheme } }, async (live, browser) => {
      const page = await openPage(browser);
      await signIn(page, live.url);
      await page.goto(`${live.url}/audit/esphome`);
      await page.getByRole('group', { name: 'Snooze notifications' }).waitFor();
      await page.screenshot({ path: join(out, `notify-repo-${scheme}.png`) });
      await page.getByRole('button', { name: '1 day' }).click();
      await page.waitForSelector('.snooze__note');
      await page.screenshot({ path: join(out, `notify-repo-snoozed-${scheme}.png`) });
      await page.click('a.topbar__link:has-text("Actions")');
      await page.waitForSelector('.notify__destination');
      await page.click('button:has-text("Send test to all")');
      await page.waitForSelector('.notify__delivery[data-state="dead"]');
      // Let the unreachable one fail once and the log be read again.
      await sleep(12_000);
      await page.locator('section.notify').screenshot({ path: join(out, `notify-section-${scheme}.png`) });
    });
  }
  await withServerAndBrowser(
    await sampleReport(),
    { server: { files: { 'operator-token': TOKEN }, args: ['--operator-token-file', '{dir}/operator-token'] } },
    async (live, browser) => {
      const page = await openPage(browser);
      await signIn(page, live.url);
      await page.click('a.topbar__link:has-text("Actions")');
      await page.waitForSelector('.notify__off');
      await page.locator('section.notify').screenshot({ path: join(out, 'notify-off.png') });
    },
  );
} finally {
  receiver.closeAllConnections?.();
  await new Promise((resolve) => receiver.close(resolve));
}
