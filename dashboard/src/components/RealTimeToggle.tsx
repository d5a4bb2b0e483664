// RealTimeToggle: live updates, or polling every 5/10/30/60 s — the plan's rollback switch,
// remembered per browser (the store writes it to localStorage).
import { useId } from 'react';
import { shallowEqual, useLiveStore } from '../hooks/useWebSocket';
import { POLL_INTERVALS, type PollInterval } from '../lib/liveStore';

/** The real-time switch and the polling interval. */
export function RealTimeToggle() {
  const store = useLiveStore();
  const { mode, serverRealtime } = useLiveStore((s) => ({ mode: s.mode, serverRealtime: s.serverRealtime }), shallowEqual);
  const setMode = (next: typeof mode) => store.setMode(next);
  const selectId = useId();
  const live = mode.kind === 'live';
  const interval: PollInterval = mode.kind === 'polling' ? mode.intervalS : 10;

  return (
    <div className="rt" role="group" aria-label="Update mode">
      <button
        type="button"
        role="switch"
        aria-checked={live}
        className="switch"
        onClick={() => setMode(live ? { kind: 'polling', intervalS: interval } : { kind: 'live' })}
        title={serverRealtime ? undefined : 'The server has real-time updates switched off; the dashboard polls.'}
      >
        <span className="switch__track" aria-hidden="true">
          <span className="switch__thumb" />
        </span>
        <span className="switch__label">Real-time</span>
      </button>
      {!live && (
        <span className="rt__interval">
          <label htmlFor={selectId}>every</label>
          <select
            id={selectId}
            value={interval}
            onChange={(event) => setMode({ kind: 'polling', intervalS: Number(event.target.value) as PollInterval })}
          >
            {POLL_INTERVALS.map((seconds) => (
              <option key={seconds} value={seconds}>
                {seconds} s
              </option>
            ))}
          </select>
        </span>
      )}
    </div>
  );
}
