// Fake transports for tests: a WebSocket and an EventSource driven by the test, a scripted fetch,
// and an in-memory storage. They are injected into the store; no global is replaced.
import type { EventSourceLike, WebSocketLike } from '../lib/transports';
import type { OperatorInfo, Report, ServerMessage, Session } from '../types/protocol';

/** A WebSocket whose server side the test plays. */
export class FakeWebSocket implements WebSocketLike {
  readyState = 0;
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onerror: WebSocketLike['onerror'] = null;
  readonly sent: string[] = [];
  closedByClient: { code?: number; reason?: string } | null = null;

  constructor(readonly url: string) {}

  /** The server accepts the connection. */
  accept(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** The server sends a message. */
  push(message: ServerMessage | Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  /** The connection ends from the server's side (or the network's: 1006). */
  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code, reason, wasClean: code !== 1006 });
  }

  send(data: string): void {
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.readyState = 3;
    this.closedByClient = { code, reason };
  }

  /** The client's messages, parsed. */
  messages(): Array<Record<string, unknown>> {
    return this.sent.map((text) => JSON.parse(text) as Record<string, unknown>);
  }

  /** The `since` the client connected with, or null. */
  since(): string | null {
    return new URL(this.url).searchParams.get('since');
  }
}

/** Collects every socket the store opens. */
export class FakeSocketServer {
  readonly sockets: FakeWebSocket[] = [];
  readonly create = (url: string): WebSocketLike => {
    const socket = new FakeWebSocket(url);
    this.sockets.push(socket);
    return socket;
  };

  get last(): FakeWebSocket {
    const socket = this.sockets.at(-1);
    if (!socket) throw new Error('no socket was opened');
    return socket;
  }
}

/** An EventSource whose stream the test plays. */
export class FakeEventSource implements EventSourceLike {
  readyState = 0;
  onopen: EventSourceLike['onopen'] = null;
  onerror: EventSourceLike['onerror'] = null;
  closed = false;
  private readonly listeners = new Map<string, Array<(event: { data: unknown; lastEventId?: string }) => void>>();

  constructor(readonly url: string) {}

  addEventListener(type: string, listener: (event: { data: unknown; lastEventId?: string }) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** Sends a message as the server does: `event: <type>`, `id: <cursor>`, data the message. */
  push(message: ServerMessage): void {
    const id = 'epoch' in message ? `${message.epoch}:${message.seq}` : '';
    for (const listener of this.listeners.get(message.type) ?? []) listener({ data: JSON.stringify(message), lastEventId: id });
  }

  fail(closed = false): void {
    this.readyState = closed ? 2 : 0;
    this.onerror?.({});
  }

  close(): void {
    this.closed = true;
    this.readyState = 2;
  }
}

/** Collects every EventSource the store opens. */
export class FakeEventSourceServer {
  readonly sources: FakeEventSource[] = [];
  readonly create = (url: string): EventSourceLike => {
    const source = new FakeEventSource(url);
    this.sources.push(source);
    return source;
  };
}

/** One recorded request. */
export interface FetchCall {
  url: URL;
  init: RequestInit | undefined;
}

/** A fetch answered by a test-supplied function of the URL; every call is recorded. */
export function scriptedFetch(answer: (url: URL, init: RequestInit | undefined) => Response | Promise<Response>) {
  const calls: FetchCall[] = [];
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const url = new URL(input);
    calls.push({ url, init });
    if (init?.signal?.aborted) throw new DOMException('aborted', 'AbortError');
    return answer(url, init);
  };
  return { fetch, calls };
}

/** A JSON response. */
/** The store's clock, timers and jitter on vitest's fake timers: always online, jitter fixed at 0.5. */
export function clockDeps() {
  return {
    random: () => 0.5,
    now: () => Date.now(),
    setTimeout: (callback: () => void, ms: number): unknown => setTimeout(callback, ms),
    clearTimeout: (handle: unknown) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    isOnline: () => true,
  };
}

export function json(body: unknown, init: ResponseInit = {}): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' }, ...init });
}

/** A storage kept in memory. */
export function memoryStorage(initial: Record<string, string> = {}) {
  const map = new Map(Object.entries(initial));
  return {
    map,
    getItem: (key: string) => map.get(key) ?? null,
    setItem: (key: string, value: string) => void map.set(key, value),
    removeItem: (key: string) => void map.delete(key),
  };
}

/** The epoch the tests use. */
export const EPOCH = '9f2c4a1b77d0e3aa';

/** A small report in the shape of docs/protocol.md. */
export function sampleReport(): Report {
  return {
    timestamp: '2025-06-20T03:00:00Z',
    health_status: 'red',
    summary: { total: 3, missing: 1, extra: 0, dirty: 1, mismatched: 0, clean: 1 },
    repos: [
      {
        name: 'halo',
        status: 'missing',
        clone_url: 'https://github.com/alice/halo.git',
        dashboard_link: '/audit/halo?action=clone',
        mitigation: 'clone_missing',
      },
      { name: 'kitshn', status: 'clean', local_path: '/srv/git/kitshn', file_status: 'complete' },
      { name: 'esphome', status: 'dirty', local_path: '/srv/git/esphome', mitigation: 'commit_or_discard' },
    ],
    mitigation_actions: { clone_missing: 'Clone missing repositories from GitHub', commit_or_discard: 'Commit or discard local changes' },
    local_git_root: '/srv/git',
    github_user: 'alice',
  };
}

/** An `audit-update` message. */
export function auditUpdate(seq: number, report: Report = sampleReport(), epoch = EPOCH): ServerMessage {
  return { type: 'audit-update', epoch, seq, data: report };
}

/** What a server that cannot act says about the operator. */
export const NO_OPERATOR: OperatorInfo = {
  available: false,
  reason: 'the server reads a report file; it does not act',
  sign_in: false,
  signed_in: false,
  expires_at: null,
};

/** The token the fake server signs viewers in with. */
export const VIEWER_TOKEN = 'correct-horse-battery-staple';

/**
 * A fetch playing a server with viewer sign-in: `/api/session` (GET, POST with the token, DELETE)
 * and `/api/audit` / `/api/updates` / `/api/ws/status` answering 401 unless signed in. The test
 * flips `state` to play a session ending, a server without sign-in, or one too old to know it.
 */
export function authServer(initial: Partial<AuthServerState> = {}) {
  const state: AuthServerState = { required: true, signedIn: false, absent: false, retryAfterS: null, unreachable: false, ...initial };
  const session = (): Session => ({
    required: state.required,
    methods: ['token'],
    authenticated: !state.required || state.signedIn,
    user: null,
    expires_at: state.required && state.signedIn ? '2026-01-01T12:00:00Z' : null,
    operator: NO_OPERATOR,
  });
  const scripted = scriptedFetch((url, init) => {
    const method = init?.method ?? 'GET';
    if (url.pathname === '/api/session') {
      if (state.absent) return new Response('not found', { status: 404 });
      if (method === 'POST') {
        if (state.unreachable) throw new TypeError('Failed to fetch');
        if (state.retryAfterS !== null) {
          return json(
            { error: 'too-many-attempts', message: 'too many attempts' },
            { status: 429, headers: { 'Retry-After': String(state.retryAfterS) } },
          );
        }
        const body = JSON.parse(String(init?.body)) as { token?: unknown };
        if (body.token !== VIEWER_TOKEN) return json({ error: 'bad-token', message: 'wrong token' }, { status: 401 });
        state.signedIn = true;
        return json(session());
      }
      if (method === 'DELETE') state.signedIn = false;
      return state.hold ? state.hold.then(() => json(session())) : json(session());
    }
    if (state.required && !state.signedIn)
      return json({ error: 'unauthenticated', message: 'sign in: POST /api/session' }, { status: 401 });
    if (url.pathname === '/api/audit') return json(auditUpdate(1), { headers: { ETag: `"${EPOCH}:1"` } });
    if (url.pathname === '/api/updates') return json([]);
    return new Response('not found', { status: 404 });
  });
  return {
    ...scripted,
    state,
    /** The requests to `path`, as `METHOD path`. */
    requests: (path: string) => scripted.calls.filter((c) => c.url.pathname === path).map((c) => `${c.init?.method ?? 'GET'} ${path}`),
  };
}

/** What the fake sign-in server does. */
export interface AuthServerState {
  /** Whether viewers must sign in. */
  required: boolean;
  signedIn: boolean;
  /** `/api/session` answers 404 (a server from before viewer sign-in). */
  absent: boolean;
  /** Sign-in attempts answer 429 with this `Retry-After`. */
  retryAfterS: number | null;
  /** Sign-in attempts fail as a request to a server that is gone does. */
  unreachable: boolean;
  /** While set, `GET /api/session` answers only when this settles. */
  hold?: Promise<void>;
}
