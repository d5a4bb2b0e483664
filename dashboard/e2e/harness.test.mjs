// Tests of the browser-test harness itself: a run whose prerequisites are missing, or whose
// browser does not start, ends by itself with a message saying what is wrong, and leaves neither
// a server process nor a temporary folder behind. Each case runs the harness in a child process
// (as `node --test` would) with its own TMPDIR, bounded by a timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dashboardDir } from './harness.mjs';

/** How long a case may run before it counts as hung (a bound, not a timing goal). */
const HUNG_AFTER_MS = 60_000;

/** Runs one scenario through the harness in a child process; resolves with how it ended. */
function runHarness(env) {
  const script = `
    import { runScenario } from ${JSON.stringify(join(dashboardDir, 'e2e/harness.mjs'))};
    await runScenario({ report: { repos: [{ name: 'halo', status: 'clean' }] } }, async () => {});
  `;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      // The child leads its own process group: end it and anything it started.
      process.kill(-child.pid, 'SIGKILL');
    }, HUNG_AFTER_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, hung, output });
    });
  });
}

/** Whether `pid` is a live process (a zombie awaiting its reaper is not). */
async function alive(pid) {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * A stand-in for the server binary that writes its PID to `pidFile` and then becomes the real
 * server (the binary of GITOPS_LIVE_BIN, or node running the fake server), keeping that PID.
 */
async function serverWrapper(dir, pidFile) {
  const wrapper = join(dir, 'server-wrapper.sh');
  const real = process.env.GITOPS_LIVE_BIN ?? process.execPath;
  await writeFile(wrapper, `#!/bin/sh\necho $$ >> '${pidFile}'\nexec '${real}' "$@"\n`);
  await chmod(wrapper, 0o755);
  const args = process.env.GITOPS_LIVE_BIN
    ? (process.env.GITOPS_LIVE_ARGS ?? 'serve --report {report} --bind 127.0.0.1:{port} --state-dir {dir}/state')
    : `${join(dashboardDir, 'e2e/fake-server.mjs')} --report {report} --port {port} --dist {dist}`;
  return { GITOPS_LIVE_BIN: wrapper, GITOPS_LIVE_ARGS: args };
}

async function withScratch(body) {
  const scratch = await mkdtemp(join(tmpdir(), 'gitops-live-harness-test-'));
  const temp = join(scratch, 'tmp');
  await mkdir(temp);
  try {
    await body(scratch, temp);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

test('a missing chromium fails at once, says what to install, and starts nothing', async () => {
  await withScratch(async (scratch, temp) => {
    const pidFile = join(scratch, 'server.pids');
    const env = { ...(await serverWrapper(scratch, pidFile)), CHROMIUM: join(scratch, 'no-such-chromium'), TMPDIR: temp };
    const run = await runHarness(env);
    const pids = (await readFile(pidFile, 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
    try {
      assert.equal(run.hung, false, `the run ended by itself:\n${run.output}`);
      assert.notEqual(run.code, 0, 'the run failed');
      assert.match(run.output, /chromium is not at .*no-such-chromium/);
      assert.match(run.output, /apt-get install chromium/);
      assert.match(run.output, /set CHROMIUM/);
      assert.deepEqual(pids, [], 'no server was started');
      assert.deepEqual(await readdir(temp), [], 'no temporary folder was left');
    } finally {
      for (const pid of pids) if (await alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});

test('a missing server binary fails at once and says how to build it', async () => {
  await withScratch(async (scratch, temp) => {
    const run = await runHarness({ GITOPS_LIVE_BIN: join(scratch, 'no-such-gitops-live'), TMPDIR: temp });
    assert.equal(run.hung, false, `the run ended by itself:\n${run.output}`);
    assert.notEqual(run.code, 0);
    assert.match(run.output, /GITOPS_LIVE_BIN=.*no-such-gitops-live does not exist/);
    assert.match(run.output, /cargo build --release -p gitops-live/);
    assert.deepEqual(await readdir(temp), []);
  });
});

test('a browser that does not start: the run fails, and the server it started is stopped and its folders removed', async () => {
  await withScratch(async (scratch, temp) => {
    const pidFile = join(scratch, 'server.pids');
    // An executable that exits at once: present (the prerequisites pass), but no browser.
    const env = { ...(await serverWrapper(scratch, pidFile)), CHROMIUM: '/bin/false', TMPDIR: temp };
    const run = await runHarness(env);
    const pids = (await readFile(pidFile, 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
    try {
      assert.equal(run.hung, false, `the run ended by itself:\n${run.output}`);
      assert.notEqual(run.code, 0);
      assert.match(run.output, /chromium did not start \(\/bin\/false\)/);
      assert.equal(pids.length, 1, `the server was started once before the browser (${run.output})`);
      assert.equal(await alive(pids[0]), false, 'the server process was stopped');
      assert.deepEqual(await readdir(temp), [], 'the server folder and the browser profile were removed');
    } finally {
      // Should the harness have left it running, this test started it: stop it by its PID.
      for (const pid of pids) if (await alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
