// RepositoryCard: one repository — status badge, local path, URLs, the mitigation text from the
// report's mitigation_actions, any other fields the producer wrote, and a brief highlight when it
// changes live.
import { memo, useEffect, useState } from 'react';
import { ExternalLink, FolderGit2 } from 'lucide-react';
import { StatusIndicator } from './StatusIndicator';
import { Link } from './Link';
import { repoHref } from '../lib/routes';
import type { Repo } from '../types/protocol';

const SHOWN_FIELDS = new Set([
  'name',
  'status',
  'clone_url',
  'local_path',
  'remote_url',
  'expected_url',
  'dashboard_link',
  'mitigation',
  'file_status',
]);

const FILE_STATUS_WORDS: Record<string, string> = {
  complete: 'Complete',
  missing_files: 'Missing files',
  missing_readme: 'Missing README',
  unknown: 'Unknown',
};

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
}

function isUrl(text: string): boolean {
  return /^https?:\/\//i.test(text);
}

function UrlValue({ value }: { value: string }) {
  if (value === '') return <span className="muted">(none)</span>;
  if (!isUrl(value)) return <code>{value}</code>;
  return (
    <a href={value} target="_blank" rel="noreferrer noopener" className="url">
      <code>{value}</code>
      <ExternalLink aria-hidden="true" size={14} />
      <span className="visually-hidden"> (opens in a new tab)</span>
    </a>
  );
}

function formatExtra(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

function RepositoryCardImpl({ repo, dup, mitigationText, changedAt, selected, action, highlightMs = 2500 }: RepositoryCardProps) {
  const [flashing, setFlashing] = useState(false);
  useEffect(() => {
    if (changedAt === undefined) return;
    const remaining = highlightMs - (Date.now() - changedAt);
    if (remaining <= 0) return;
    setFlashing(true);
    const timer = window.setTimeout(() => setFlashing(false), remaining);
    return () => window.clearTimeout(timer);
  }, [changedAt, highlightMs]);

  const extras = Object.entries(repo).filter(([key]) => !SHOWN_FIELDS.has(key));
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

      {(mitigationText || repo.mitigation) && <p className="card__mitigation">{mitigationText ?? repo.mitigation}</p>}
      {selected && action && (
        <p className="card__action" role="note">
          Suggested action: <strong>{action.replace(/_/g, ' ')}</strong>
        </p>
      )}

      <dl className="card__fields">
        {repo.local_path !== undefined && (
          <>
            <dt>Local path</dt>
            <dd>
              <code>{repo.local_path}</code>
            </dd>
          </>
        )}
        {repo.clone_url !== undefined && (
          <>
            <dt>Clone URL</dt>
            <dd>
              <UrlValue value={repo.clone_url} />
            </dd>
          </>
        )}
        {repo.remote_url !== undefined && (
          <>
            <dt>Remote</dt>
            <dd>
              <UrlValue value={repo.remote_url} />
            </dd>
          </>
        )}
        {repo.expected_url !== undefined && (
          <>
            <dt>Expected</dt>
            <dd>
              <UrlValue value={repo.expected_url} />
            </dd>
          </>
        )}
        {repo.file_status !== undefined && (
          <>
            <dt>Files</dt>
            <dd>{FILE_STATUS_WORDS[repo.file_status] ?? repo.file_status}</dd>
          </>
        )}
        {extras.map(([key, value]) => (
          <FieldRow key={key} name={key} value={formatExtra(value)} />
        ))}
      </dl>
    </article>
  );
}

function FieldRow({ name, value }: { name: string; value: string }) {
  return (
    <>
      <dt>{name}</dt>
      <dd>
        <code>{value}</code>
      </dd>
    </>
  );
}

/** Memoised: a live change re-renders only the cards whose repository object changed. */
export const RepositoryCard = memo(RepositoryCardImpl);
