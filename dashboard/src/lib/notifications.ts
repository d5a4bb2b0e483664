// The operator's view of the server's notifications (docs/protocol.md, "Notifications (the
// operator's view)"): where they go (redacted by the server), the delivery log, a test message, a
// dead letter retried, and a repository snoozed or woken. The same sign-in and the same request
// rules as actions (`operatorRequest`: JSON bodies, the session cookie, refusals as `ActionError`).
// Without destinations the server answers `404 notifications-off` to every one of these.
//
// The shapes come from `bins/gitops-live/src/notifications.rs` (`Service::overview`) and
// `crates/transport/src/notify.rs`; they are not in the generated protocol types.
import { ActionError, operatorRequest, repoPath, type ActionsOptions } from './actions';

/** One destination, as the server shows it: its secrets are already `***`. */
export interface NotifyDestination {
  /** `<kind>-<8 hex digits>`: stable, never the URL. */
  id: string;
  /** `webhook`, `ntfy`, `gotify`, `apprise`, `slack`, `discord`, `mattermost`, `email`, ... */
  kind: string;
  /** The destination with every secret replaced by `***`. */
  target: string;
  /** Whether webhook bodies are signed (X-Gitops-Signature-256). */
  signed: boolean;
}

/** Where a delivery stands. `requeued`: a dead letter that was retried (a new delivery follows). */
export type DeliveryState = 'pending' | 'delivered' | 'dead' | 'requeued' | (string & {});

/** One message to one destination. */
export interface NotifyDelivery {
  id: number;
  /** A destination's `id`. */
  destination: string;
  state: DeliveryState;
  attempts: number;
  created_at: string;
  ended_at: string | null;
  last_error: string | null;
  /** The message's title or subject, when it has one. */
  title: string | null;
}

/** A repository that is not notified about until `until` (RFC 3339). */
export interface Snooze {
  repo: string;
  until: string;
}

/** `GET /api/notifications`. */
export interface NotificationsOverview {
  destinations: NotifyDestination[];
  /** Newest first, at most 100. */
  deliveries: NotifyDelivery[];
  snoozes: Snooze[];
  dashboard_url: string | null;
}

/** `POST /api/notifications/test`. */
export interface TestQueued {
  queued: Array<{ destination: string; id: number }>;
}

/** `POST`/`DELETE /api/repos/<name>/snooze`; `until` is null after a wake. */
export interface SnoozeAnswer {
  repo: string;
  until: string | null;
}

/** The snoozes the dashboard offers, as the server's `for` spans. */
export const SNOOZE_CHOICES: ReadonlyArray<{ span: string; label: string }> = [
  { span: '1h', label: '1 h' },
  { span: '4h', label: '4 h' },
  { span: '1d', label: '1 day' },
  { span: '7d', label: '1 week' },
];

/** The API, bound to a server. */
export interface NotificationsClient {
  overview(signal?: AbortSignal): Promise<NotificationsOverview>;
  /** A test message to one destination, or to every one. */
  sendTest(destination?: string): Promise<TestQueued>;
  /** A dead delivery back in the queue. */
  retry(id: number): Promise<{ queued: number }>;
  /** No notification about `repo` for `span` (`1h`, `4h`, `1d`, `7d`). */
  snooze(repo: string, span: string): Promise<SnoozeAnswer>;
  /** Ends a snooze. */
  wake(repo: string): Promise<SnoozeAnswer>;
}

/** Whether the server has no destination configured (every endpoint answers this). */
export function isNotificationsOff(error: unknown): boolean {
  return error instanceof ActionError && error.status === 404 && error.code === 'notifications-off';
}

/** Makes the client. */
export function notificationsClient(options: ActionsOptions): NotificationsClient {
  return {
    overview: (signal) => operatorRequest<NotificationsOverview>(options, 'GET', '/api/notifications', undefined, signal),
    sendTest: (destination) => operatorRequest<TestQueued>(options, 'POST', '/api/notifications/test', destination ? { destination } : {}),
    retry: (id) => operatorRequest<{ queued: number }>(options, 'POST', `/api/notifications/${encodeURIComponent(String(id))}/retry`, {}),
    snooze: (repo, span) => operatorRequest<SnoozeAnswer>(options, 'POST', repoPath(repo, 'snooze'), { for: span }),
    wake: (repo) => operatorRequest<SnoozeAnswer>(options, 'DELETE', repoPath(repo, 'snooze')),
  };
}

/** The client for this page's server. */
export function browserNotificationsClient(): NotificationsClient {
  return notificationsClient({ fetch: (input, init) => window.fetch(input, init), baseUrl: window.location.href });
}

/** The snooze on `repo` that still runs at `now` (ms), if any. */
export function activeSnooze(snoozes: readonly Snooze[], repo: string, now: number): Snooze | null {
  for (const snooze of snoozes) {
    if (snooze.repo !== repo) continue;
    const until = Date.parse(snooze.until);
    if (Number.isNaN(until) || until > now) return snooze;
  }
  return null;
}
