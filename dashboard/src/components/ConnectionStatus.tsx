// ConnectionStatus: live / reconnecting in N s / fallback transport / polling / offline, the round
// trip of the last ping, the age of the last update, and a Reconnect button.
import { RefreshCw, Wifi, WifiOff, Radio } from 'lucide-react';
import { useWebSocket } from '../hooks/useWebSocket';
import { useNow } from '../hooks/useNow';
import { formatAgo } from '../lib/time';
import type { TransportKind } from '../lib/transports';

const TRANSPORT_WORDS: Record<TransportKind, string> = {
  websocket: 'WebSocket',
  sse: 'Server-Sent Events',
  'long-poll': 'long-poll',
  polling: 'polling',
};

function seconds(ms: number): number {
  return Math.max(0, Math.ceil(ms / 1000));
}

/** The connection's state in words, for the header. */
export function ConnectionStatus() {
  const connection = useWebSocket();
  const now = useNow(1000);
  const retryIn = connection.retryAt !== null ? seconds(connection.retryAt - now) : null;
  const retryText = retryIn === null ? null : retryIn > 0 ? `in ${retryIn} s` : 'now';

  let label: string;
  let detail: string | null = null;
  // Kept out of the live region, so screen readers hear the phase change, not every second.
  let countdown: string | null = null;
  switch (connection.phase) {
    case 'live':
      label = 'Live';
      detail = 'WebSocket';
      break;
    case 'connecting':
      label = 'Connecting…';
      break;
    case 'reconnecting':
      label = 'Reconnecting';
      countdown = retryText && retryText !== 'now' ? retryText : '…';
      break;
    case 'fallback':
      label = `Fallback: ${connection.transport ? TRANSPORT_WORDS[connection.transport] : 'HTTP'}`;
      detail = retryText ? `WebSocket retry ${retryText}` : null;
      break;
    case 'polling':
      label = connection.mode.kind === 'polling' ? `Polling every ${connection.mode.intervalS} s` : 'Polling (server has real-time off)';
      break;
    case 'offline':
      label = 'Offline';
      detail = connection.mode.kind === 'live' && retryText ? `retry ${retryText}` : 'server unreachable';
      break;
  }

  const Icon = connection.phase === 'live' ? Wifi : connection.phase === 'offline' ? WifiOff : Radio;
  const spinning = connection.phase === 'connecting' || (connection.phase === 'reconnecting' && retryText === 'now');

  return (
    <section className={`conn conn--${connection.phase}`} aria-label="Connection">
      <span className="conn__main">
        <Icon aria-hidden="true" size={16} className={spinning ? 'spin' : undefined} />
        <span className="conn__label" data-phase={connection.phase}>
          <span role="status" aria-live="polite">
            {label}
          </span>
          {countdown && <span className="conn__countdown">{countdown === '…' ? countdown : ` ${countdown}`}</span>}
        </span>
      </span>
      <span className="conn__meta">
        {detail && <span>{detail}</span>}
        {connection.phase === 'live' && connection.rttMs !== null && (
          <span title="Round-trip time of the last ping">
            <span className="visually-hidden">Round trip </span>
            {connection.rttMs} ms
          </span>
        )}
        {connection.lastUpdateAt !== null && (
          <span title="When the data last changed or was confirmed current">updated {formatAgo(now - connection.lastUpdateAt)}</span>
        )}
        {connection.source === 'saved' && <span className="conn__saved">showing saved data</span>}
      </span>
      <button
        type="button"
        className="button button--ghost conn__reconnect"
        onClick={connection.reconnect}
        title={connection.mode.kind === 'polling' ? 'Poll now' : 'Reconnect now'}
      >
        <RefreshCw aria-hidden="true" size={14} />
        <span>{connection.mode.kind === 'polling' ? 'Refresh' : 'Reconnect'}</span>
      </button>
    </section>
  );
}
