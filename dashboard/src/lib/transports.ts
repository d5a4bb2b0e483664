// The four ways to reach the server, behind one small interface: WebSocket, Server-Sent Events,
// long-poll and plain polling with ETag. Each only moves messages; the store decides what they mean.
// Browser classes are injected as factories so tests drive fake ones.
import type { ClientMessage, ServerMessage } from '../types/protocol';
import { CLOSE_CODES, parseRetryMs, SERVER_MESSAGE_TYPES } from '../types/protocol';
import { parseCursor } from './cursor';

/** Which transport carries the data. */
export type TransportKind = 'websocket' | 'sse' | 'long-poll' | 'polling';

/** Why a transport went down. */
export interface TransportDown {
  /** True when the transport has stopped and will not come back by itself. */
  terminal: boolean;
  /** Whether it was up before going down. */
  wasUp: boolean;
  /** WebSocket close code, when there was one. */
  code?: number;
  reason?: string;
  /** A delay the server asked for before reconnecting (1001 `retry-ms=N`). */
  retryAfterMs?: number;
  /** The server answered 401: the viewer's session is missing or has ended. */
  unauthorized?: boolean;
}

/** What a transport reports to its owner. */
export interface TransportHandlers {
  /** Contact with the server works (first time, or again after a non-terminal `down`). */
  up(): void;
  message(message: ServerMessage): void;
  down(info: TransportDown): void;
}

/** An open transport. */
export interface Transport {
  readonly kind: TransportKind;
  /** Sends a client message; false when this transport cannot (only the WebSocket can). */
  send(message: ClientMessage): boolean;
  /** Stops it; no handler is called afterwards. */
  close(): void;
}

/** The part of the browser's WebSocket the store uses. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean?: boolean }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** Makes a WebSocket for a URL. */
export type WebSocketFactory = (url: string) => WebSocketLike;

/** The part of the browser's EventSource the store uses. */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
  addEventListener(type: string, listener: (event: { data: unknown; lastEventId?: string }) => void): void;
  close(): void;
}

/** Makes an EventSource for a URL. */
export type EventSourceFactory = (url: string) => EventSourceLike;

/** The fetch function (the browser's, or a fake). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** Turns one frame or event payload into a server message; `null` when it is not one. */
export function decodeMessage(raw: unknown, eventType?: string, eventId?: string): ServerMessage | null {
  if (typeof raw !== 'string') return null;
  try {
    return asMessage(JSON.parse(raw), eventType, eventId);
  } catch {
    return null;
  }
}

/** Checks that a parsed value is a server message (an object with a string `type`). */
export function asMessage(value: unknown, eventType?: string, eventId?: string): ServerMessage | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const object = value as Record<string, unknown>;
  if (typeof object.type === 'string') return object as unknown as ServerMessage;
  // An SSE event whose data is only the payload: rebuild the message from `event:` and `id:`.
  if (eventType && eventType !== 'message') {
    const cursor = parseCursor(eventId);
    const message: Record<string, unknown> = { type: eventType, data: object };
    if (cursor) {
      message.epoch = cursor.epoch;
      message.seq = cursor.seq;
    }
    return message as unknown as ServerMessage;
  }
  return null;
}

const WS_CONNECTING = 0;
const WS_OPEN = 1;

/** Opens the WebSocket transport at `url` (already carrying `?since=`). */
export function openWebSocket(url: string, handlers: TransportHandlers, create: WebSocketFactory): Transport {
  let closed = false;
  let wasUp = false;
  let socket: WebSocketLike;
  try {
    socket = create(url);
  } catch {
    // A malformed URL or a blocked constructor: report it like a failed connection, later, so
    // the caller never re-enters itself.
    queueMicrotask(() => {
      if (!closed) handlers.down({ terminal: true, wasUp: false });
    });
    return { kind: 'websocket', send: () => false, close: () => void (closed = true) };
  }
  socket.onopen = () => {
    if (closed) {
      socket.close(CLOSE_CODES.normal, 'not needed');
      return;
    }
    wasUp = true;
    handlers.up();
  };
  socket.onmessage = (event) => {
    if (closed) return;
    const message = decodeMessage(event.data);
    if (message) handlers.message(message);
  };
  socket.onclose = (event) => {
    if (closed) return;
    closed = true;
    const retryAfterMs = parseRetryMs(event.reason);
    handlers.down({
      terminal: true,
      wasUp,
      code: event.code,
      reason: event.reason,
      ...(retryAfterMs !== null ? { retryAfterMs } : {}),
    });
  };
  socket.onerror = () => {
    // A close event always follows; it carries the code.
  };
  return {
    kind: 'websocket',
    send(message) {
      if (closed || socket.readyState !== WS_OPEN) return false;
      socket.send(JSON.stringify(message));
      return true;
    },
    close() {
      if (closed) return;
      closed = true;
      // Closing a socket that is still connecting makes the browser log an error; let it open
      // and close it then (onopen above).
      if (socket.readyState !== WS_CONNECTING) socket.close(CLOSE_CODES.normal, 'client closing');
    },
  };
}

const ES_CLOSED = 2;

/** How many errors in a row (without an open between) make the SSE transport give up. */
const SSE_MAX_ERRORS = 2;

/** Opens the Server-Sent Events transport at `url` (already carrying `?since=`). */
export function openEventSource(url: string, handlers: TransportHandlers, create: EventSourceFactory): Transport {
  let closed = false;
  let wasUp = false;
  let errorsInRow = 0;
  let source: EventSourceLike;
  const fail = () => {
    if (closed) return;
    closed = true;
    source.close();
    handlers.down({ terminal: true, wasUp });
  };
  try {
    source = create(url);
  } catch {
    queueMicrotask(() => {
      if (!closed) handlers.down({ terminal: true, wasUp: false });
    });
    return { kind: 'sse', send: () => false, close: () => void (closed = true) };
  }
  source.onopen = () => {
    if (closed) return;
    errorsInRow = 0;
    wasUp = true;
    handlers.up();
  };
  source.onerror = () => {
    if (closed) return;
    errorsInRow += 1;
    // The browser retries by itself (with Last-Event-ID) unless the stream is CLOSED; give up
    // after a couple of failed retries so the store can pick the next transport.
    if (source.readyState === ES_CLOSED || errorsInRow >= SSE_MAX_ERRORS || !wasUp) fail();
  };
  const onEvent = (type: string) => (event: { data: unknown; lastEventId?: string }) => {
    if (closed) return;
    const message = decodeMessage(event.data, type, event.lastEventId);
    if (message) handlers.message(message);
  };
  for (const type of [...SERVER_MESSAGE_TYPES, 'message']) source.addEventListener(type, onEvent(type));
  return {
    kind: 'sse',
    send: () => false,
    close() {
      if (closed) return;
      closed = true;
      source.close();
    },
  };
}

/** Options of the HTTP transports. */
export interface HttpTransportOptions {
  fetch: FetchLike;
  /** Absolute URL of the server root, e.g. `http://host:3070/`. */
  baseUrl: string;
  /** The client's cursor now (read at each request). */
  getCursor(): string | null;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** An HTTP request the server answered with an error status. */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    what: string,
  ) {
    super(`${what} answered ${status}`);
    this.name = 'HttpStatusError';
  }
}

/** Whether `error` is the server's 401 (no session, or an ended one). */
export function isUnauthorized(error: unknown): boolean {
  return error instanceof HttpStatusError && error.status === 401;
}

/** Reads `/api/audit`: the current `audit-update`, or `null` on 304 (the cursor is current). */
export async function fetchSnapshot(
  options: Pick<HttpTransportOptions, 'fetch' | 'baseUrl'>,
  cursor: string | null,
  signal?: AbortSignal,
): Promise<ServerMessage | null> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (cursor) headers['If-None-Match'] = `"${cursor}"`;
  const response = await options.fetch(new URL('/api/audit', options.baseUrl).href, {
    headers,
    cache: 'no-store',
    ...(signal ? { signal } : {}),
  });
  if (response.status === 304) return null;
  if (!response.ok) throw new HttpStatusError(response.status, 'GET /api/audit');
  const message = decodeMessage(await response.text());
  if (!message) throw new Error('GET /api/audit answered something that is not a message');
  return message;
}

/** Opens the long-poll transport: `GET /api/updates?since=<cursor>` in a loop. */
export function openLongPoll(handlers: TransportHandlers, options: HttpTransportOptions): Transport {
  let closed = false;
  let wasUp = false;
  const abort = new AbortController();
  let pause: unknown = null;

  const fail = (unauthorized = false) => {
    if (closed) return;
    closed = true;
    handlers.down({ terminal: true, wasUp, ...(unauthorized ? { unauthorized } : {}) });
  };
  const cycle = async () => {
    while (!closed) {
      const startedAt = Date.now();
      let messages: unknown;
      try {
        const cursor = options.getCursor();
        if (!cursor) {
          const snapshot = await fetchSnapshot(options, null, abort.signal);
          messages = snapshot ? [snapshot] : [];
        } else {
          const url = new URL('/api/updates', options.baseUrl);
          url.search = `since=${cursor}`;
          const response = await options.fetch(url.href, { cache: 'no-store', signal: abort.signal });
          if (!response.ok) return fail(response.status === 401);
          messages = JSON.parse(await response.text());
        }
      } catch (error) {
        return fail(isUnauthorized(error));
      }
      if (closed) return;
      if (!Array.isArray(messages)) return fail();
      if (!wasUp) {
        wasUp = true;
        handlers.up();
      }
      for (const raw of messages) {
        if (closed) return;
        const message = asMessage(raw);
        if (message) handlers.message(message);
      }
      // An empty answer that came back at once would make this loop spin: breathe first.
      if (messages.length === 0 && Date.now() - startedAt < 500) {
        await new Promise<void>((resolve) => {
          pause = options.setTimeout(resolve, 1000);
        });
      }
    }
  };
  void cycle();
  return {
    kind: 'long-poll',
    send: () => false,
    close() {
      if (closed) return;
      closed = true;
      abort.abort();
      if (pause !== null) options.clearTimeout(pause);
    },
  };
}

/** Opens the polling transport: `GET /api/audit` with `If-None-Match` every `intervalMs`. */
export function openPolling(handlers: TransportHandlers, options: HttpTransportOptions & { intervalMs: number }): Transport {
  let closed = false;
  let healthy: boolean | null = null;
  let saidUnauthorized = false;
  let timer: unknown = null;
  let inFlight: AbortController | null = null;

  const tick = async () => {
    timer = null;
    inFlight = new AbortController();
    try {
      const message = await fetchSnapshot(options, options.getCursor(), inFlight.signal);
      if (closed) return;
      if (healthy !== true) {
        healthy = true;
        saidUnauthorized = false;
        handlers.up();
      }
      if (message) handlers.message(message);
    } catch (error) {
      if (closed) return;
      // Said once per failing spell, and once more when the failure turns into a 401 (a server
      // that was down comes back asking for a session).
      const unauthorized = isUnauthorized(error);
      if (healthy !== false || (unauthorized && !saidUnauthorized)) {
        const wasUp = healthy === true;
        healthy = false;
        saidUnauthorized = unauthorized;
        handlers.down({ terminal: false, wasUp, ...(unauthorized ? { unauthorized } : {}) });
      }
    } finally {
      inFlight = null;
    }
    if (!closed) timer = options.setTimeout(() => void tick(), options.intervalMs);
  };
  void tick();
  return {
    kind: 'polling',
    send: () => false,
    close() {
      if (closed) return;
      closed = true;
      inFlight?.abort();
      if (timer !== null) options.clearTimeout(timer);
    },
  };
}

/** `ws:`/`wss:` URL of `/ws` on the page's origin, with the cursor when there is one. */
export function webSocketUrl(baseUrl: string, cursor: string | null): string {
  const url = new URL('/ws', baseUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = cursor ? `since=${cursor}` : '';
  return url.href;
}

/** `/api/events` on the page's origin, with the cursor when there is one. */
export function eventSourceUrl(baseUrl: string, cursor: string | null): string {
  const url = new URL('/api/events', baseUrl);
  url.search = cursor ? `since=${cursor}` : '';
  return url.href;
}
