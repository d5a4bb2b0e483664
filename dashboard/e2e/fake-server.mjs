// A stand-in for the gitops-live binary, for working on the dashboard before (or without) the real
// server: it serves dist/ with the production CSP and speaks docs/protocol.md on /ws, /api/audit,
// /api/events (SSE), /api/updates (long-poll) and /api/ws/status, driven by a report file it watches.
// It is deliberately small and not a reference implementation: the browser tests run against the
// real binary when GITOPS_LIVE_BIN is set. Like the binary, it refuses WebSocket upgrades and POSTs
// whose Origin is not its own (403, counted in /metrics) and takes an admin token from
// GITOPS_ADMIN_TOKEN for POST /api/ws/trigger-update.
//
// Usage: node e2e/fake-server.mjs --report path/to/GitRepoReport.json [--port 3070] [--dist dist]
//        [--realtime off] [--no-ws] [--no-sse] [--history 1000]
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync, existsSync, statSync, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, basename, extname, join, resolve, normalize } from 'node:path';
import { WebSocketServer } from 'ws';

const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};

const reportPath = resolve(option('report', 'e2e/fixtures/GitRepoReport.json'));
const distDir = resolve(option('dist', 'dist'));
const port = Number(option('port', '3070'));
const historyLimit = Number(option('history', '1000'));
const realtime = option('realtime', 'on') !== 'off';
const allowWs = realtime && !flag('no-ws');
const allowSse = realtime && !flag('no-sse');
const adminToken = process.env.GITOPS_ADMIN_TOKEN?.trim() || null;

const CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'";
const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
};

// ---- State --------------------------------------------------------------------------------------

const epoch = randomBytes(8).toString('hex');
const startedAt = Date.now();
let seq = 0;
let report = null;
let history = []; // { seq, text, type }
let source = {
  path: reportPath,
  state: 'waiting',
  last_loaded: null,
  last_error: null,
  watch: 'watching',
  watch_note: null,
};
const sockets = new Set();
const sseClients = new Set();
let waiters = []; // long-poll: { since, respond }

const cursor = () => `${epoch}:${seq}`;
const escapePointer = (key) => key.replace(/~/g, '~0').replace(/\//g, '~1');
const meta = (r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'repos'));

function normalise(value) {
  if (Array.isArray(value)) return { repos: value.map((r) => ({ ...r, status: r.status ?? (r.uncommittedChanges ? 'dirty' : 'clean') })) };
  if (value && typeof value === 'object' && Array.isArray(value.repos)) return value;
  throw new Error('not a report: expected an object with a repos array, or an array');
}

function keyed(repos) {
  const seen = new Map();
  const out = new Map();
  for (const repo of repos) {
    const dup = seen.get(repo.name) ?? 0;
    seen.set(repo.name, dup + 1);
    out.set(`${repo.name}\u0000${dup}`, { dup, repo });
  }
  return out;
}

function repoOps(before, after) {
  const ops = [];
  for (const [key, value] of Object.entries(after)) {
    if (!(key in before)) ops.push({ op: 'add', path: `/${escapePointer(key)}`, value });
    else if (JSON.stringify(before[key]) !== JSON.stringify(value)) ops.push({ op: 'replace', path: `/${escapePointer(key)}`, value });
  }
  for (const key of Object.keys(before)) if (!(key in after)) ops.push({ op: 'remove', path: `/${escapePointer(key)}` });
  return ops;
}

function diff(oldReport, newReport) {
  const changes = [];
  const before = keyed(oldReport.repos);
  const after = keyed(newReport.repos);
  for (const [key, { dup, repo }] of after) {
    const previous = before.get(key);
    const base = { name: repo.name, ...(dup ? { dup } : {}) };
    if (!previous) changes.push({ ...base, change: 'added', new_status: repo.status, repo });
    else {
      const ops = repoOps(previous.repo, repo);
      if (ops.length) changes.push({ ...base, change: 'changed', old_status: previous.repo.status, new_status: repo.status, ops });
    }
  }
  for (const [key, { dup, repo }] of before) {
    if (!after.has(key)) changes.push({ name: repo.name, ...(dup ? { dup } : {}), change: 'removed', old_status: repo.status });
  }
  const metaChanged = JSON.stringify(meta(oldReport)) !== JSON.stringify(meta(newReport));
  return { changes, meta: metaChanged ? meta(newReport) : null };
}

function statusMessage() {
  return {
    type: 'connection-status',
    data: {
      server_time: new Date().toISOString(),
      uptime_s: Math.floor((Date.now() - startedAt) / 1000),
      realtime,
      clients: { ws: sockets.size, sse: sseClients.size, long_poll: waiters.length },
      cursor: report ? cursor() : null,
      report: source,
    },
  };
}

function snapshotMessage() {
  return { type: 'audit-update', epoch, seq, data: report };
}

function record(type, data) {
  seq += 1;
  const message = { type, epoch, seq, data };
  const text = JSON.stringify(message);
  history.push({ seq, text, type });
  if (history.length > historyLimit) history = history.slice(-historyLimit);
  return text;
}

/** The resume answer for a cursor, as an array of message texts (docs/protocol.md, Resume). */
function resumeAnswer(since) {
  if (!report) return [];
  const match = /^"?([0-9a-f]{16}):(\d+)"?$/.exec(since ?? '');
  if (!match || match[1] !== epoch) return [JSON.stringify(snapshotMessage())];
  const from = Number(match[2]);
  if (from === seq) return [];
  if (from > seq) return [JSON.stringify(snapshotMessage())];
  const missed = history.filter((h) => h.seq > from);
  if (missed.length !== seq - from) return [JSON.stringify(snapshotMessage())];
  return missed.map((h) => h.text);
}

function broadcastState(texts) {
  for (const socket of sockets) for (const text of texts) socket.send(text);
  for (const client of sseClients) for (const text of texts) writeSse(client, text);
  const pending = waiters;
  waiters = [];
  for (const waiter of pending) waiter.respond(resumeAnswer(waiter.since));
}

function broadcastStatus() {
  const text = JSON.stringify(statusMessage());
  for (const socket of sockets) socket.send(text);
  for (const client of sseClients) client.write(`event: connection-status\ndata: ${text}\n\n`);
}

function writeSse(client, text) {
  const message = JSON.parse(text);
  const id = message.epoch ? `id: ${message.epoch}:${message.seq}\n` : '';
  client.write(`${id}event: ${message.type}\ndata: ${text}\n\n`);
}

// ---- The report file --------------------------------------------------------------------------

async function load() {
  let text;
  try {
    text = await readFile(reportPath, 'utf8');
  } catch (error) {
    return fail(`cannot read ${reportPath}: ${error.code ?? error.message}`);
  }
  let next;
  try {
    next = normalise(JSON.parse(text));
  } catch (error) {
    return fail(`invalid report: ${error.message}`);
  }
  const wasFailing = source.state !== 'ok';
  source = { ...source, state: 'ok', last_loaded: new Date().toISOString(), last_error: null };
  if (!report) {
    report = next;
    record('audit-update', report);
    broadcastState([JSON.stringify(snapshotMessage())]);
  } else {
    const { changes, meta: newMeta } = diff(report, next);
    report = next;
    const texts = [];
    for (const change of changes) texts.push(record('repo-status-change', change));
    if (newMeta) texts.push(record('health-metrics-update', newMeta));
    if (texts.length) broadcastState(texts);
  }
  if (wasFailing) broadcastStatus();
}

function fail(message) {
  const wasOk = source.state !== 'error';
  source = {
    ...source,
    state: report ? 'error' : 'waiting',
    last_error: { message, since: source.last_error?.since ?? new Date().toISOString() },
  };
  if (wasOk) broadcastStatus();
}

let debounce = null;
const schedule = () => {
  clearTimeout(debounce);
  debounce = setTimeout(() => void load(), 30);
};
try {
  watch(dirname(reportPath), (_event, name) => {
    if (!name || name === basename(reportPath)) schedule();
  });
} catch (error) {
  source = { ...source, watch: 'polling', watch_note: `cannot watch the directory: ${error.message}` };
  setInterval(schedule, 1000);
}
await load();

// ---- HTTP -------------------------------------------------------------------------------------

let originRefused = 0;

/** Same rule as the binary: no Origin (not a browser), or an Origin whose host:port is the Host. */
function originAllowed(req) {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const authority = origin.replace(/^https?:\/\//, '');
  return authority !== origin && authority.toLowerCase() === String(req.headers.host ?? '').toLowerCase();
}

function triggerUpdate(req, res) {
  const json = { 'Content-Type': 'application/json' };
  if (!adminToken) return send(res, 403, JSON.stringify({ code: 'admin-disabled', message: 'no admin token' }), json);
  if (req.headers.authorization !== `Bearer ${adminToken}`)
    return send(res, 401, JSON.stringify({ code: 'unauthorized', message: 'send Authorization: Bearer <admin token>' }), json);
  void load();
  return send(res, 202, '{"triggered":true}', json);
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Security-Policy': CSP, 'Cache-Control': 'no-store', ...headers });
  res.end(body);
}

function serveStatic(req, res, pathname) {
  const file = normalize(join(distDir, decodeURIComponent(pathname)));
  const inside = file.startsWith(distDir);
  if (inside && existsSync(file) && statSync(file).isFile()) {
    return send(res, 200, readFileSync(file), { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream' });
  }
  const index = join(distDir, 'index.html');
  if (!existsSync(index))
    return send(res, 503, 'The dashboard is not built: run `npm run build` in dashboard/.', { 'Content-Type': 'text/plain' });
  return send(res, 200, readFileSync(index), { 'Content-Type': MIME['.html'] });
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://local');
  const path = url.pathname;
  if (req.method === 'POST' && !originAllowed(req)) {
    originRefused += 1;
    return send(res, 403, JSON.stringify({ code: 'origin', message: 'this origin may not use this server' }), {
      'Content-Type': 'application/json',
    });
  }
  if (req.method === 'POST' && path === '/api/ws/trigger-update') return triggerUpdate(req, res);
  if (path === '/metrics')
    return send(res, 200, `# TYPE gitops_live_origin_refused_total counter\ngitops_live_origin_refused_total ${originRefused}\n`, {
      'Content-Type': 'text/plain; version=0.0.4',
    });
  if (path === '/api/audit') {
    if (!report) return send(res, 503, JSON.stringify({ code: 'not-ready', message: 'no report yet' }));
    const etag = `"${cursor()}"`;
    if (req.headers['if-none-match'] === etag) return send(res, 304, undefined, { ETag: etag });
    return send(res, 200, JSON.stringify(snapshotMessage()), { 'Content-Type': 'application/json', ETag: etag });
  }
  if (path === '/audit') return send(res, 200, JSON.stringify(report), { 'Content-Type': 'application/json' });
  if (path === '/api/ws/status') return send(res, 200, JSON.stringify(statusMessage().data), { 'Content-Type': 'application/json' });
  // Like the real server without viewer sign-in: nobody needs to sign in.
  if (path === '/api/session') {
    const session = { required: false, methods: [], authenticated: true, user: null, expires_at: null };
    return send(res, 200, JSON.stringify(session), { 'Content-Type': 'application/json' });
  }
  if (path === '/api/updates') {
    if (!realtime) return send(res, 404, 'real-time updates are off');
    const since = url.searchParams.get('since');
    const answer = resumeAnswer(since);
    const respond = (texts) => send(res, 200, `[${texts.join(',')}]`, { 'Content-Type': 'application/json' });
    if (answer.length || !report) return respond(answer);
    const waiter = { since, respond };
    waiters.push(waiter);
    const timer = setTimeout(() => {
      waiters = waiters.filter((w) => w !== waiter);
      respond([]);
    }, 20_000);
    waiter.respond = (texts) => {
      clearTimeout(timer);
      respond(texts);
    };
    req.on('close', () => {
      clearTimeout(timer);
      waiters = waiters.filter((w) => w !== waiter);
    });
    return;
  }
  if (path === '/api/events') {
    if (!allowSse) return send(res, 404, 'no SSE here');
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', 'Content-Security-Policy': CSP });
    res.write(': hello\n\n');
    const since = req.headers['last-event-id'] ?? url.searchParams.get('since');
    res.write(`event: connection-status\ndata: ${JSON.stringify(statusMessage())}\n\n`);
    for (const text of since ? resumeAnswer(since) : report ? [JSON.stringify(snapshotMessage())] : []) writeSse(res, text);
    sseClients.add(res);
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), 15_000);
    req.on('close', () => {
      clearInterval(heartbeat);
      sseClients.delete(res);
    });
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed');
  return serveStatic(req, res, path);
});

const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://local');
  if (url.pathname !== '/ws' || !allowWs) {
    socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
    return;
  }
  if (!originAllowed(req)) {
    originRefused += 1;
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.send(JSON.stringify(statusMessage()));
    const since = url.searchParams.get('since');
    for (const text of since ? resumeAnswer(since) : report ? [JSON.stringify(snapshotMessage())] : []) ws.send(text);
    ws.on('message', (raw) => {
      let message;
      try {
        message = JSON.parse(String(raw));
      } catch {
        return ws.send(JSON.stringify({ type: 'error', data: { code: 'bad-message', message: 'not JSON' } }));
      }
      switch (message?.type) {
        case 'ping':
          return ws.send(
            JSON.stringify({
              type: 'pong',
              data: { ...(message.ts !== undefined ? { ts: message.ts } : {}), server_time: new Date().toISOString() },
            }),
          );
        case 'resume':
          for (const text of resumeAnswer(message.since)) ws.send(text);
          return;
        case 'request-update':
          if (report) ws.send(JSON.stringify(snapshotMessage()));
          return;
        case 'get-status':
          return ws.send(JSON.stringify(statusMessage()));
        default:
          return ws.send(JSON.stringify({ type: 'error', data: { code: 'unknown-type', message: `unknown type ${message?.type}` } }));
      }
    });
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`fake gitops-live on http://127.0.0.1:${port}/ epoch ${epoch} report ${reportPath}`);
});

const shutdown = () => {
  for (const socket of sockets) socket.close(1001, 'server shutting down; retry-ms=500');
  server.close();
  setTimeout(() => process.exit(0), 100);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
