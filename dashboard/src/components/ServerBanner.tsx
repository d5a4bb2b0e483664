// ServerBanner: says so when the server's report source is failing (the data shown is the last
// good report) or its watcher fell back to polling, and since when.
import { TriangleExclamationPoint, Info } from 'lucide-react';
import { useLiveAudit } from '../hooks/useWebSocket';
import { useNow } from '../hooks/useNow';
import { formatAgo, formatDateTime, parseTimestamp } from '../lib/time';

function when(raw: string | null | undefined, now: number): string | null {
  const date = parseTimestamp(raw ?? undefined);
  return date ? `${formatDateTime(date)} (${formatAgo(now - date.getTime())})` : (raw ?? null);
}

/** Banners about the report source, from the server's `connection-status`. */
export function ServerBanner() {
  const { serverStatus, report } = useLiveAudit();
  const now = useNow(10_000);
  if (!serverStatus) return null;
  const source = serverStatus.report;
  const banners = [];

  if (source.state === 'error') {
    const since = when(source.last_error?.since, now);
    const loaded = when(source.last_loaded, now);
    banners.push(
      <div className="banner banner--error" role="alert" key="error">
        <TriangleExclamationPoint aria-hidden="true" size={18} />
        <div>
          <strong>The report could not be read.</strong> {source.last_error?.message ?? 'The last read failed.'}
          <span className="banner__meta">
            {source.path && (
              <>
                {' '}
                File <code>{source.path}</code>.
              </>
            )}
            {since && <> Failing since {since}.</>}{' '}
            {report ? <>Showing the last good report{loaded ? <>, loaded {loaded}</> : null}.</> : null}
          </span>
        </div>
      </div>,
    );
  }
  if (source.state === 'waiting') {
    banners.push(
      <div className="banner banner--info" role="status" key="waiting">
        <Info aria-hidden="true" size={18} />
        <div>
          <strong>Waiting for the first report.</strong> The server has not loaded <code>{source.path}</code> yet.
        </div>
      </div>,
    );
  }
  if (source.watch === 'polling') {
    banners.push(
      <div className="banner banner--warn" role="status" key="watch">
        <Info aria-hidden="true" size={18} />
        <div>
          <strong>The server watches the report by polling.</strong>{' '}
          {source.watch_note ?? 'File events are not available, so changes may show a little later.'}
        </div>
      </div>,
    );
  }
  if (banners.length === 0) return null;
  return <div className="banners">{banners}</div>;
}
