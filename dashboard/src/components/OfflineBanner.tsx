// OfflineBanner: the server could not be reached, and what shows is the state this browser saved
// on an earlier visit (IndexedDB), plainly marked with its age. It goes as soon as the server
// answers (the state is then the server's, or confirmed by it).
import { WifiOff } from 'lucide-react';
import { shallowEqual, useLiveStore } from '../hooks/useWebSocket';
import { useNow } from '../hooks/useNow';
import type { LiveSnapshot } from '../lib/liveStore';
import { formatAgo, formatDateTime } from '../lib/time';

/** Whether the page shows a saved state because the server cannot be reached. */
export function showingSavedOffline(state: Pick<LiveSnapshot, 'source' | 'phase' | 'report'>): boolean {
  return state.report !== null && state.source === 'saved' && (state.phase === 'reconnecting' || state.phase === 'offline');
}

/** The banner, or nothing. */
export function OfflineBanner() {
  const state = useLiveStore((s) => ({ source: s.source, phase: s.phase, report: s.report, savedAt: s.lastUpdateAt }), shallowEqual);
  const now = useNow(10_000);
  if (!showingSavedOffline(state) || state.savedAt === null) return null;
  const savedAt = state.savedAt;
  return (
    <div className="banners">
      <div className="banner banner--warn" role="status" data-offline-saved-at={savedAt}>
        <WifiOff aria-hidden="true" size={18} />
        <div className="banner__body">
          <p className="banner__title">
            <strong>Offline — showing the state saved {formatAgo(now - savedAt)}.</strong>
          </p>
          <p className="banner__meta">
            The server cannot be reached. This is what this browser last saw ({formatDateTime(new Date(savedAt))}); it may be out of date.
            The page updates by itself when the server answers.
          </p>
        </div>
      </div>
    </div>
  );
}
