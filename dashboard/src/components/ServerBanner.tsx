// ServerBanner: what the server says about its report source, from `connection-status`: the
// error that keeps the report from loading (where, since when, and whether a last good report is
// shown or there is none yet), that it is still waiting for the first report or audit, or that
// its watcher fell back to polling. With `serve --audit-root` the source is a folder of clones,
// and the banner says "audit", not "report file".
import { TriangleExclamationPoint, Info } from 'lucide-react';
import { useLiveStore } from '../hooks/useWebSocket';
import { useNow } from '../hooks/useNow';
import { isAuditSource } from '../lib/status';
import { formatAgo, formatDateTime, parseTimestamp } from '../lib/time';
import type { ReportSource } from '../types/protocol';

/** "16:11:49 (2 min ago)", the raw text when unreadable, or null. */
function when(raw: string | null | undefined, now: number): string | null {
  const date = parseTimestamp(raw ?? undefined);
  return date ? `${formatDateTime(date)} (${formatAgo(now - date.getTime())})` : (raw ?? null);
}

/**
 * The server's error message without its own note on what is served: servers up to 0.1 append
 * "; serving the last good report" even when there is none, and the banner says that part itself.
 */
export function errorText(message: string | null | undefined): string {
  const text = (message ?? '').replace(/[;,.]?\s*serving the last good report\.?\s*$/i, '').trim();
  return text || 'the last attempt failed';
}

function Where({ source }: { source: ReportSource }) {
  return isAuditSource(source) ? (
    <>
      Audit root <code>{source.path}</code>.
    </>
  ) : (
    <>
      Report file <code>{source.path}</code>.
    </>
  );
}

/** `86400` → "24 h", `300` → "5 min", `45` → "45 s". */
export function formatEvery(seconds: number): string {
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** Banners about the report source. */
export function ServerBanner() {
  const serverStatus = useLiveStore((s) => s.serverStatus);
  const now = useNow(10_000);
  if (!serverStatus) return null;
  const source = serverStatus.report;
  const audit = isAuditSource(source);
  const banners = [];
  const error = source.last_error;

  if (error && (source.state === 'error' || source.state === 'waiting')) {
    const since = when(error.since, now);
    const loaded = when(source.last_loaded, now);
    // `error` means the server serves a last good report (the page may still be loading it);
    // `waiting` means it has none.
    const good = source.state === 'error';
    banners.push(
      <div className="banner banner--error" role="alert" key="error" data-good-report={good ? 'shown' : 'none'}>
        <TriangleExclamationPoint aria-hidden="true" size={18} />
        <div className="banner__body">
          <p className="banner__title">
            <strong>
              {good
                ? audit
                  ? 'The last audit failed.'
                  : 'The report file could not be read.'
                : audit
                  ? 'No good audit yet.'
                  : 'No good report yet.'}
            </strong>
          </p>
          <p className="banner__error">{errorText(error.message)}</p>
          <p className="banner__meta">
            <Where source={source} />
            {since && <> Failing since {since}.</>}{' '}
            {good ? (
              <>
                Showing the last good {audit ? 'audit' : 'report'}
                {loaded ? <>, loaded {loaded}</> : null}.
              </>
            ) : (
              <>Nothing to show until {audit ? 'an audit succeeds' : 'a valid report is written there'}: the page updates by itself.</>
            )}
          </p>
        </div>
      </div>,
    );
  } else if (source.state === 'waiting') {
    banners.push(
      <div className="banner banner--info" role="status" key="waiting">
        <Info aria-hidden="true" size={18} />
        <div className="banner__body">
          <p className="banner__title">
            <strong>{audit ? 'The first audit is running.' : 'Waiting for the first report.'}</strong>
          </p>
          <p className="banner__meta">
            <Where source={source} /> {audit ? 'Its results show here when it finishes.' : 'The server has not loaded it yet.'}
          </p>
        </div>
      </div>,
    );
  }
  if (source.stale) {
    const since = when(source.stale.since, now);
    banners.push(
      <div className="banner banner--warn" role="status" key="stale" data-stale-since={source.stale.since}>
        <TriangleExclamationPoint aria-hidden="true" size={18} />
        <div className="banner__body">
          <p className="banner__title">
            <strong>{audit ? 'No audit has finished for a while.' : 'No new report has arrived for a while.'}</strong>
          </p>
          <p className="banner__meta">
            <Where source={source} /> The last one came {since ?? source.stale.since}; one is expected every{' '}
            {formatEvery(source.stale.expected_every_s)}. {audit ? 'Is the server overloaded?' : 'Is the audit job still running?'} What is
            shown may be out of date.
          </p>
        </div>
      </div>,
    );
  }
  if (source.watch === 'polling') {
    banners.push(
      <div className="banner banner--warn" role="status" key="watch">
        <Info aria-hidden="true" size={18} />
        <div className="banner__body">
          <p className="banner__title">
            <strong>The server watches the report by polling.</strong>
          </p>
          <p className="banner__meta">{source.watch_note ?? 'File events are not available, so changes may show a little later.'}</p>
        </div>
      </div>,
    );
  }
  if (banners.length === 0) return null;
  return <div className="banners">{banners}</div>;
}
