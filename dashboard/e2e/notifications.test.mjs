// Browser test of the operator's notifications against the real binary (GITOPS_LIVE_BIN; the fake
// server has no notifications): `serve --report … --operator-token-file … --notify-url
// http://127.0.0.1:<port>/hook --notify-secret-file …`, with a small HTTP server in this test as the
// webhook receiver (it answers 200 and keeps every body). The operator signs in, opens /actions and
// sends a test: the receiver gets a body whose `source[0].event` is `test`, and the delivery log on
// the page shows it delivered; the destination is shown redacted and signed, and neither the hook's
// path nor the secret reaches the page. Then the operator snoozes a repository from its page and
// sees "snoozed until", and the Actions page lists the snooze.
// Run: npm run build, build the binary, then
// GITOPS_LIVE_BIN=/path/to/gitops-live node --test --test-concurrency=1 e2e/notifications.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { freePort, runScenario, sampleReport } from './harness.mjs';

const OPERATOR_TOKEN = 'e2e-operator-token-5d7a2c91e04b';
const WEBHOOK_SECRET = 'e2e-webhook-secret-0f9e8d7c6b5a';
const skip = process.env.GITOPS_LIVE_BIN ? false : 'notifications need the real binary: set GITOPS_LIVE_BIN';

/**
 * A webhook receiver on a free port: 200 to every POST, bodies (parsed) and headers kept; while
 * `gone.on` is true, POSTs to /gone get 404 (a removed webhook: the server gives up at once).
 */
async function startReceiver() {
  const port = await freePort();
  const received = [];
  const gone = { on: true };
  const server = createServer((request, response) => {
    const chunks = [];
    let size = 0;
    request.on('data', (chunk) => {
      // Bounded: a test message is small; anything past 1 MB is not kept.
      size += chunk.length;
      if (size <= 1_000_000) chunks.push(chunk);
    });
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        body = { unparsed: text };
      }
      const status = request.url === '/gone' && gone.on ? 404 : 200;
      received.push({ method: request.method, path: request.url, headers: request.headers, body, status });
      response.writeHead(status, { 'Content-Type': 'text/plain' });
      response.end(status === 200 ? 'ok' : 'no such hook');
    });
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}/hook`,
    goneUrl: `http://127.0.0.1:${port}/gone`,
    gone,
    received,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(resolve);
      }),
  };
}

/** Waits (bounded) until `check()` is true. */
async function until(check, what, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; round < 1_000 && Date.now() < deadline; round += 1) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test(
  'the operator sends a test notification from /actions, sees it delivered, and snoozes a repository from its page',
  { skip },
  async () => {
    const receiver = await startReceiver();
    try {
      const server = {
        files: { 'operator-token': `${OPERATOR_TOKEN}\n`, 'webhook-secret': `${WEBHOOK_SECRET}\n` },
        args: [
          '--operator-token-file',
          '{dir}/operator-token',
          '--notify-url',
          receiver.url,
          '--notify-url',
          receiver.goneUrl,
          '--notify-secret-file',
          '{dir}/webhook-secret',
        ],
      };
      await runScenario({ report: await sampleReport(), server }, async ({ page, server: live }) => {
        await page.goto(`${live.url}/`);
        await page.waitForSelector('.conn--live');
        await page.click('button:has-text("Sign in as operator")');
        const signIn = page.getByRole('dialog', { name: 'Sign in as operator' });
        await signIn.locator('#operator-token').fill(OPERATOR_TOKEN);
        await signIn.locator('button[type=submit]').click();
        await page.waitForSelector('.operator__badge');

        // The Actions page: two destinations in the order given, redacted and signed.
        await page.click('a.topbar__link:has-text("Actions")');
        const section = page.locator('section.notify');
        const destinations = section.locator('.notify__destination');
        await destinations.first().waitFor();
        assert.equal(await destinations.count(), 2);
        const destination = destinations.first();
        assert.equal(await destination.locator('.notify__kind').innerText(), 'webhook');
        const target = await destination.locator('.notify__target').innerText();
        assert.match(target, /^http:\/\/127\.0\.0\.1:\d+\/\*\*\*$/, `the target is redacted: ${target}`);
        assert.equal(await destination.locator('.notify__signed').count(), 1, 'the signed badge');
        assert.equal(await section.locator('.notify__delivery').count(), 0, 'nothing sent yet');

        // Send test: the receiver gets it, and the log says delivered.
        await destination.getByRole('button', { name: /Send test/ }).click();
        await until(() => receiver.received.length > 0, 'the webhook receiver to get the test');
        const [first] = receiver.received;
        assert.equal(first.method, 'POST');
        assert.equal(first.path, '/hook');
        assert.equal(first.body.source?.[0]?.event, 'test', JSON.stringify(first.body));
        assert.match(String(first.headers['x-gitops-signature-256']), /^sha256=[0-9a-f]{64}$/, 'the body is signed');
        const delivered = section.locator('.notify__delivery[data-state="delivered"]');
        await delivered.first().waitFor({ timeout: 20_000 });
        assert.equal(await section.locator('.notify__delivery').count(), 1);
        assert.equal(await delivered.locator('strong').innerText(), first.body.title, 'the log shows the message title');
        assert.equal(receiver.received.filter((r) => r.path === '/gone').length, 0, 'Send test went to one destination');

        // Send test to all: the second destination answers 404, so its delivery is dead at once;
        // once the hook is back, Retry delivers it.
        await section.getByRole('button', { name: 'Send test to all' }).click();
        const dead = section.locator('.notify__delivery[data-state="dead"]');
        await dead.first().waitFor({ timeout: 20_000 });
        assert.match(await dead.locator('.notify__detail--danger').innerText(), /^Given up after 1 attempt.*404/);
        await until(() => receiver.received.filter((r) => r.path === '/hook').length === 2, 'the second test on /hook');
        receiver.gone.on = false;
        await dead.getByRole('button', { name: /^Retry/ }).click();
        // The store's queue puts the same delivery back (pending, then delivered); the in-memory
        // one (--state-dir none) lists it as requeued and queues a copy. Either way it arrives.
        await until(() => receiver.received.some((r) => r.path === '/gone' && r.status === 200), 'the retried delivery');
        await section.locator('.notify__delivery[data-state="delivered"]').nth(2).waitFor({ timeout: 20_000 });
        assert.equal(await section.locator('.notify__delivery[data-state="dead"]').count(), 0, 'no dead letter left');

        // No secret and no hook path reaches the page.
        const html = await page.content();
        assert.ok(!html.includes(WEBHOOK_SECRET), 'the secret is not on the page');
        assert.ok(!html.includes('/hook'), 'the hook path is not on the page');

        // Snooze a repository from its page.
        await page.goto(`${live.url}/audit/esphome`);
        const choices = page.getByRole('group', { name: 'Snooze notifications' });
        await choices.waitFor();
        assert.deepEqual(await choices.getByRole('button').allInnerTexts(), ['1 h', '4 h', '1 day', '1 week']);
        await choices.getByRole('button', { name: '4 h' }).click();
        const note = page.locator('.snooze:not(.snooze--card) .snooze__note');
        await note.waitFor();
        assert.match(await note.innerText(), /Notifications snoozed until .+/);
        const until4h = Date.parse(await note.locator('time').getAttribute('datetime'));
        const hours = (until4h - Date.now()) / 3_600_000;
        assert.ok(hours > 3.5 && hours < 4.5, `snoozed for about 4 h (${hours.toFixed(3)} h)`);
        // The card says it too.
        await page.locator('article .snooze--card .snooze__note').first().waitFor();

        // The Actions page lists the snooze; Wake ends it.
        await page.click('a.topbar__link:has-text("Actions")');
        const snoozed = page.locator('section.notify .notify__snooze[data-repo="esphome"]');
        await snoozed.waitFor();
        await snoozed.getByRole('button', { name: 'Wake esphome' }).click();
        await page.getByText('No repository is snoozed.').waitFor();
        const overview = await page.evaluate(async () => (await fetch('/api/notifications', { cache: 'no-store' })).json());
        assert.deepEqual(overview.snoozes, [], 'the server has no snooze left');
      });
    } finally {
      await receiver.close();
    }
  },
);
