// StatusIndicator: the health light of the report and the status badge of one repository.
import { statusLabel, statusTone } from '../lib/status';

type Props = { kind: 'health'; value: string | undefined; size?: 'normal' | 'large'; stale?: boolean } | { kind: 'repo'; value: string };

const HEALTH_WORDS: Record<string, string> = { green: 'Healthy', yellow: 'Needs attention', red: 'Action required' };

/** A coloured, labelled indicator; colour is never the only signal (the text says it too). */
export function StatusIndicator(props: Props) {
  if (props.kind === 'health') {
    const known = props.value === 'green' || props.value === 'yellow' || props.value === 'red';
    const tone = known ? props.value : 'unknown';
    const health = props.value === undefined ? 'Unknown' : (HEALTH_WORDS[props.value] ?? props.value);
    // A stale report's health is old news: the light says so instead of looking current.
    const word = props.stale ? `${health}, but stale` : health;
    return (
      <span
        className={`health health--${tone} health--${props.size ?? 'normal'}${props.stale ? ' health--stale' : ''}`}
        role="img"
        aria-label={`Health: ${props.value ?? 'unknown'} (${word})`}
      >
        <span className="health__light" aria-hidden="true" />
        <span className="health__text" aria-hidden="true">
          {word}
        </span>
      </span>
    );
  }
  const tone = statusTone(props.value);
  return (
    <span className={`badge badge--${tone}`} title={tone === 'unknown' ? 'A status this dashboard does not know' : undefined}>
      <span className="badge__dot" aria-hidden="true" />
      {statusLabel(props.value)}
      {tone === 'unknown' && <span className="visually-hidden"> (unknown status)</span>}
    </span>
  );
}
