// RepositoryCard: one repository — status badge, the attention badges (unpushed, behind,
// detached, no upstream, stash), the mitigation text from the report's mitigation_actions, the few
// facts that matter in words, every other field behind "details", and a brief highlight when it
// changes live.
import { memo, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ExternalLink, FolderGit2 } from 'lucide-react';
import { StatusIndicator } from './StatusIndicator';
import { AttentionBadges } from './AttentionBadges';
import { Link } from './Link';
import { repoHref } from '../lib/routes';
import { attentionBadges, detailFacts, keyFacts, type Fact } from '../lib/repoFacts';
import type { Repo } from '../types/protocol';

/** The DOM id of a repository's card (for scrolling to it). */
export function repoCardId(name: string, dup: number): string {
  return `repo-${encodeURIComponent(name)}-${dup}`;
}

export interface RepositoryCardProps {
  repo: Repo;
  dup: number;
  /** The text of `mitigation_actions[repo.mitigation]`, when the report has it. */
  mitigationText: string | undefined;
  /** When the repository last changed live (ms), if recently. */
  changedAt: number | undefined;
  /** The repository the page is about (`/audit/:repo`). */
  selected?: boolean;
  /** The `?action=` of the link that led here, shown on the selected card. */
  action?: string | null;
  /** How long the live-change highlight lasts, ms. */
  highlightMs?: number;
  /** The current day number: a new day re-renders the card, so "3 days ago" stays true. */
  day?: number;
  /**
   * The operator's buttons for this repository (the app passes them only where acting is
   * possible: never over a past point). A stable function, so the memoised card is not redrawn.
   */
  actions?: ((repo: Repo, dup: number) => ReactNode) | undefined;
}

function FactValue({ fact }: { fact: Fact }) {
  const text = fact.code ? <code>{fact.value}</code> : fact.value;
  if (!fact.href) return <>{text}</>;
  return (
    <a href={fact.href} target="_blank" rel="noreferrer noopener" className="url">
      {text}
      <ExternalLink aria-hidden="true" size={14} />
      <span className="visually-hidden"> (opens in a new tab)</span>
    </a>
  );
}

function FactRows({ facts }: { facts: readonly Fact[] }) {
  return facts.map((fact) => (
    <div key={fact.key} className={fact.tone ? `fact fact--${fact.tone}` : 'fact'} data-fact={fact.key}>
      <dt>{fact.label}</dt>
      <dd>
        <FactValue fact={fact} />
      </dd>
    </div>
  ));
}

function RepositoryCardImpl({
  repo,
  dup,
  mitigationText,
  changedAt,
  selected,
  action,
  highlightMs = 2500,
  day,
  actions,
}: RepositoryCardProps) {
  const [flashing, setFlashing] = useState(false);
  useEffect(() => {
    if (changedAt === undefined) return;
    const remaining = highlightMs - (Date.now() - changedAt);
    if (remaining <= 0) return;
    setFlashing(true);
    const timer = window.setTimeout(() => setFlashing(false), remaining);
    return () => window.clearTimeout(timer);
  }, [changedAt, highlightMs]);

  // The ages are measured from Date.now(), which no dependency can name: a new `day` is what tells
  // the memo that "3 days ago" has become "4 days ago".
  // eslint-disable-next-line react-hooks/exhaustive-deps -- `day` invalidates the memo on purpose
  const facts = useMemo(() => keyFacts(repo, Date.now()), [repo, day]);
  const details = useMemo(() => detailFacts(repo), [repo]);
  const badges = useMemo(() => attentionBadges(repo), [repo]);
  const status = typeof repo.status === 'string' ? repo.status : String(repo.status);
  const headingId = `${repoCardId(repo.name, dup)}-name`;
  const classes = ['card', `card--${status.replace(/[^a-z0-9_-]/gi, '') || 'unknown'}`];
  if (flashing) classes.push('card--changed');
  if (selected) classes.push('card--selected');

  return (
    <article
      className={classes.join(' ')}
      id={repoCardId(repo.name, dup)}
      aria-labelledby={headingId}
      aria-current={selected ? 'true' : undefined}
      data-status={status}
      data-changed={flashing ? 'true' : undefined}
    >
      <header className="card__header">
        <h3 className="card__name" id={headingId}>
          <FolderGit2 aria-hidden="true" size={18} className="card__icon" />
          <Link href={repoHref(repo.name, repo.dashboard_link)}>{repo.name}</Link>
          {dup > 0 && (
            <span className="card__dup" title="Another repository in the report has the same name">
              #{dup + 1}
            </span>
          )}
        </h3>
        <StatusIndicator kind="repo" value={status} />
      </header>
      {flashing && <span className="visually-hidden">Changed just now.</span>}
      <AttentionBadges badges={badges} />

      {(mitigationText || repo.mitigation) && <p className="card__mitigation">{mitigationText ?? repo.mitigation}</p>}
      {selected && action && (
        <p className="card__action" role="note">
          Suggested action: <strong>{action.replace(/_/g, ' ')}</strong>
        </p>
      )}

      {actions?.(repo, dup)}

      {facts.length > 0 && (
        <dl className="card__fields">
          <FactRows facts={facts} />
        </dl>
      )}
      {details.length > 0 && (
        <details className="card__details">
          <summary>
            Details <span className="muted">({details.length})</span>
          </summary>
          <dl className="card__fields card__fields--details">
            <FactRows facts={details} />
          </dl>
        </details>
      )}
    </article>
  );
}

/** Memoised: a live change re-renders only the cards whose repository object changed. */
export const RepositoryCard = memo(RepositoryCardImpl);
