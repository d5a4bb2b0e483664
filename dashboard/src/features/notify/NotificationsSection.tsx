// The Actions page's "Notifications" section: the destinations (kind, the target as the server
// redacted it, a "signed" badge) each with "Send test", "Send test to all", the delivery log (newest
// first; pending with its attempts and last error, delivered, dead with its error and "Retry"),
// and the repositories snoozed, each with "Wake". Read again after each of these and every 10 s
// while the page is open. A server without destinations gets a word on how to add one.
import { useEffect, useRef, useState } from 'react';
import { BellOff, CircleAlert, LoaderCircle, RotateCcw, Send, ShieldCheck } from 'lucide-react';
import { Link } from '../../components/Link';
import { repoHref } from '../../lib/routes';
import { formatDateTime } from '../../lib/time';
import type { NotifyDelivery, NotifyDestination, Snooze } from '../../lib/notifications';
import { useNotify, usePolling, useWantNotify } from './state';

/** How often the open section reads the log again. */
const REFRESH_MS = 10_000;
/** A test is usually delivered within a moment: the log is read again this soon after one. */
const FOLLOW_UP_MS = 2_000;

function when(text: string | null): string {
  if (!text) return '';
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : formatDateTime(date);
}

/** The target as the server redacted it, without the " (signed)" it appends: the badge says that. */
function shownTarget(destination: NotifyDestination): string {
  return destination.signed ? destination.target.replace(/ \(signed\)$/, '') : destination.target;
}

function Destinations({ destinations, busy, onTest }: { destinations: NotifyDestination[]; busy: boolean; onTest: (id?: string) => void }) {
  if (destinations.length === 0) return <p className="empty">No destination.</p>;
  return (
    <ul className="pathlist notify__destinations" aria-label="Destinations">
      {destinations.map((destination) => (
        <li key={destination.id} className="pathlist__item notify__destination" data-destination={destination.id}>
          <span className="notify__kind">{destination.kind}</span>
          <code className="notify__target">{shownTarget(destination)}</code>
          {destination.signed && (
            <span className="notify__signed" title="Webhook bodies carry X-Gitops-Signature-256">
              <ShieldCheck aria-hidden="true" size={13} /> signed
            </span>
          )}
          <button type="button" className="button button--small" disabled={busy} onClick={() => onTest(destination.id)}>
            <Send aria-hidden="true" size={13} /> Send test <span className="visually-hidden">{`to ${destination.id}`}</span>
          </button>
        </li>
      ))}
    </ul>
  );
}

function DeliveryRow({
  delivery,
  kindOf,
  busy,
  onRetry,
}: {
  delivery: NotifyDelivery;
  kindOf: string;
  busy: boolean;
  onRetry: (id: number) => void;
}) {
  const state = delivery.state;
  return (
    <li className={`log__entry notify__delivery notify__delivery--${state}`} data-id={delivery.id} data-state={state}>
      <div className="log__head">
        <span className={`log__result notify__state--${state}`}>{state}</span>
        <strong>{delivery.title ?? `Message #${delivery.id}`}</strong>
        <span className="muted">
          to <code>{delivery.destination}</code>
          {kindOf && ` (${kindOf})`}
        </span>
        <span className="muted log__meta">
          #{delivery.id} · <time dateTime={delivery.created_at}>{when(delivery.created_at)}</time>
          {delivery.ended_at && state === 'delivered' && <> · delivered {when(delivery.ended_at)}</>}
        </span>
      </div>
      {state === 'pending' && (delivery.attempts > 0 || delivery.last_error) && (
        <p className="log__summary notify__detail">
          {delivery.attempts} attempt{delivery.attempts === 1 ? '' : 's'} so far
          {delivery.last_error ? `; last error: ${delivery.last_error}` : ''}
        </p>
      )}
      {state === 'dead' && (
        <div className="notify__dead">
          <p className="log__summary notify__detail notify__detail--danger">
            Given up after {delivery.attempts} attempt{delivery.attempts === 1 ? '' : 's'}
            {delivery.last_error ? `: ${delivery.last_error}` : ''}
          </p>
          <button type="button" className="button button--small" disabled={busy} onClick={() => onRetry(delivery.id)}>
            <RotateCcw aria-hidden="true" size={13} /> Retry <span className="visually-hidden">{`delivery #${delivery.id}`}</span>
          </button>
        </div>
      )}
      {state === 'requeued' && <p className="log__summary muted">Retried: a new delivery follows.</p>}
    </li>
  );
}

/** The repositories snoozed, each with Wake. */
function Snoozes({ snoozes, busy, onWake }: { snoozes: Snooze[]; busy: boolean; onWake: (repo: string) => void }) {
  if (snoozes.length === 0) return <p className="muted">No repository is snoozed.</p>;
  return (
    <ul className="pathlist" aria-label="Snoozed repositories">
      {snoozes.map((snooze) => (
        <li key={snooze.repo} className="pathlist__item notify__snooze" data-repo={snooze.repo}>
          <Link href={repoHref(snooze.repo, undefined)}>
            <code>{snooze.repo}</code>
          </Link>
          <span className="pathlist__note">
            until <time dateTime={snooze.until}>{when(snooze.until)}</time>
          </span>
          <button type="button" className="button button--small" disabled={busy} onClick={() => onWake(snooze.repo)}>
            Wake <span className="visually-hidden">{snooze.repo}</span>
          </button>
        </li>
      ))}
    </ul>
  );
}

/** The section; nothing without the provider or before the operator signs in. */
export function NotificationsSection() {
  const notify = useNotify();
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);
  const followUp = useRef<number | null>(null);
  useWantNotify();
  usePolling(REFRESH_MS);
  useEffect(() => () => window.clearTimeout(followUp.current ?? undefined), []);
  if (!notify || notify.state.status === 'idle') return null;
  const { state, change, reload } = notify;

  async function act(work: Parameters<typeof change>[0], done: string) {
    setBusy(true);
    setOutcome(null);
    const error = await change(work);
    setBusy(false);
    setOutcome(error ? { ok: false, text: error } : { ok: true, text: done });
    if (!error) {
      window.clearTimeout(followUp.current ?? undefined);
      followUp.current = window.setTimeout(() => void reload(), FOLLOW_UP_MS);
    }
  }

  const overview = state.status === 'ok' || state.status === 'error' ? state.overview : null;
  const kinds = new Map(overview?.destinations.map((d) => [d.id, d.kind]) ?? []);

  return (
    <section className="panel actions-page__section notify" aria-labelledby="notify-title">
      <h2 id="notify-title" className="actions-page__title">
        Notifications
      </h2>
      {state.status === 'loading' && (
        <p className="action-progress" role="status">
          <LoaderCircle aria-hidden="true" size={16} className="spin" /> Loading…
        </p>
      )}
      {state.status === 'off' && (
        <div className="notify__off" role="note">
          <BellOff aria-hidden="true" size={18} />
          <div>
            <p>
              <strong>Notifications are off:</strong> the server has no destination to send them to.
            </p>
            <p className="muted">
              Start it with <code>--notify-url &lt;URL&gt;</code> (a webhook, ntfy, Gotify, Slack, Discord, e-mail…; repeat it for more) or{' '}
              <code>--notify-url-file &lt;FILE&gt;</code>, as docs/operations.md describes.
            </p>
          </div>
        </div>
      )}
      {state.status === 'error' && (
        <p className="action-error" role="alert">
          <CircleAlert aria-hidden="true" size={16} /> <span>{state.error}</span>
        </p>
      )}
      {overview && (
        <>
          <div className="notify__head">
            <h3 className="panel__title">Destinations</h3>
            {overview.destinations.length > 1 && (
              <button
                type="button"
                className="button button--small"
                disabled={busy}
                onClick={() => void act((c) => c.sendTest(), 'A test message is queued for every destination.')}
              >
                <Send aria-hidden="true" size={13} /> Send test to all
              </button>
            )}
          </div>
          <Destinations
            destinations={overview.destinations}
            busy={busy}
            onTest={(id) => void act((c) => c.sendTest(id), `A test message is queued for ${id ?? 'every destination'}.`)}
          />
          {outcome && (
            <p className={outcome.ok ? 'notify__outcome' : 'action-error'} role={outcome.ok ? 'status' : 'alert'}>
              {!outcome.ok && <CircleAlert aria-hidden="true" size={16} />} <span>{outcome.text}</span>
            </p>
          )}
          <h3 className="panel__title">Snoozed repositories</h3>
          <Snoozes snoozes={overview.snoozes} busy={busy} onWake={(repo) => void act((c) => c.wake(repo), `${repo} is notified again.`)} />
          <h3 className="panel__title">Deliveries</h3>
          {overview.deliveries.length === 0 ? (
            <p className="empty">Nothing sent yet.</p>
          ) : (
            <ul className="log notify__log" aria-label="Deliveries">
              {overview.deliveries.map((delivery) => (
                <DeliveryRow
                  key={delivery.id}
                  delivery={delivery}
                  kindOf={kinds.get(delivery.destination) ?? ''}
                  busy={busy}
                  onRetry={(id) => void act((c) => c.retry(id), `Delivery #${id} is queued again.`)}
                />
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
