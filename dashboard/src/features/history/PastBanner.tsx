// The banner over a past point: plainly the past, read-only, when it was, how many changes came
// in live since it was opened, and the way back to live.
import { useEffect, useRef } from 'react';
import { GitCompareArrows, History as HistoryIcon, Radio } from 'lucide-react';
import { Link } from '../../components/Link';
import { useLiveStore } from '../../hooks/useWebSocket';
import { changesSince } from '../../lib/history';
import { compareHref } from '../../lib/historyState';
import { formatDateTime } from '../../lib/time';
import type { CursorText } from '../../types/protocol';
import type { PastLoad } from './usePastState';

interface Props {
  cursor: CursorText;
  load: PastLoad;
  /** The same page, live. */
  liveHref: string;
}

/** The "as of" banner with "Back to live". */
export function PastBanner({ cursor, load, liveHref }: Props) {
  const live = useLiveStore((s) => s.cursor);
  // The live cursor when this point was opened: what arrives after it is counted.
  const opened = useRef<{ at: CursorText; live: CursorText | null } | null>(null);
  if (opened.current?.at !== cursor) opened.current = { at: cursor, live };
  useEffect(() => {
    // A live state that arrives only after the point was opened (a cold start) is the baseline.
    if (opened.current && opened.current.live === null && live !== null) opened.current.live = live;
  }, [live]);
  const since = changesSince(opened.current.live, live);
  const time = load.status === 'ok' ? load.past.time : null;
  return (
    <div className="past-banner" role="region" aria-label="Past state">
      <HistoryIcon aria-hidden="true" size={18} />
      <p className="past-banner__text">
        {load.status === 'error' ? (
          <>
            <strong>This point cannot be shown.</strong> {load.failure.message}
          </>
        ) : (
          <>
            <strong>
              As of{' '}
              {time ? (
                <time dateTime={time.toISOString()}>{formatDateTime(time)}</time>
              ) : load.status === 'loading' ? (
                '…'
              ) : (
                <code>{cursor}</code>
              )}
            </strong>{' '}
            · read-only, not live
          </>
        )}
        <span className="past-banner__since" aria-live="polite">
          {since === null
            ? ' · the live state was replaced since (new server run)'
            : since > 0
              ? ` · ${since} live ${since === 1 ? 'change' : 'changes'} since`
              : ' · no live change since'}
        </span>
      </p>
      <div className="past-banner__actions">
        {live && live !== cursor && (
          <Link href={compareHref(cursor, live)} className="button button--ghost">
            <GitCompareArrows aria-hidden="true" size={16} /> Compare with now
          </Link>
        )}
        <Link href={liveHref} className="button button--primary">
          <Radio aria-hidden="true" size={16} /> Back to live
        </Link>
      </div>
    </div>
  );
}
