// Repository statuses and health: counts computed from the list, the health rule, and where the
// producer's own summary disagrees with the list.
import type { HealthStatus, Report, ReportSource, Repo, Summary } from '../types/protocol';

/** Whether the server audits a folder of clones itself (`serve --audit-root`) instead of reading a report file. */
export function isAuditSource(source: Pick<ReportSource, 'watch'> | null | undefined): boolean {
  return source?.watch === 'auditing';
}

/** The statuses producers are known to write, in display order. */
export const KNOWN_STATUSES = ['missing', 'dirty', 'mismatched', 'extra', 'clean'] as const;

/** A known status. */
export type KnownStatus = (typeof KNOWN_STATUSES)[number];

/** Whether a status is one of the known ones. */
export function isKnownStatus(status: string): status is KnownStatus {
  return (KNOWN_STATUSES as readonly string[]).includes(status);
}

/** The CSS class suffix for a status: the status itself when known, else `unknown`. */
export function statusTone(status: string): KnownStatus | 'unknown' {
  return isKnownStatus(status) ? status : 'unknown';
}

/** Human wording for each known status. */
export const STATUS_LABELS: Record<KnownStatus, string> = {
  missing: 'Missing',
  dirty: 'Dirty',
  mismatched: 'Mismatched',
  extra: 'Extra',
  clean: 'Clean',
};

/** A status as people read it; unknown statuses are shown as they are written. */
export function statusLabel(status: string): string {
  return isKnownStatus(status) ? STATUS_LABELS[status] : status === '' ? '(empty)' : status;
}

/** One status and how many repositories have it. */
export interface StatusCount {
  status: string;
  count: number;
}

/**
 * Counts repositories by status: every known status (also at zero), then each unknown status
 * that occurs, alphabetically.
 */
export function countByStatus(repos: readonly Repo[]): StatusCount[] {
  const counts = new Map<string, number>(KNOWN_STATUSES.map((s) => [s, 0]));
  for (const repo of repos) {
    const status = typeof repo.status === 'string' ? repo.status : String(repo.status);
    counts.set(status, (counts.get(status) ?? 0) + 1);
  }
  const known = KNOWN_STATUSES.map((status) => ({ status, count: counts.get(status) ?? 0 }));
  const unknown = [...counts.entries()]
    .filter(([status]) => !isKnownStatus(status))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, count]) => ({ status, count }));
  return [...known, ...unknown];
}

/** The health rule: red if any repo is missing, else yellow if any is dirty, extra or mismatched, else green. */
export function computeHealth(counts: readonly StatusCount[]): 'green' | 'yellow' | 'red' {
  const of = (status: string) => counts.find((c) => c.status === status)?.count ?? 0;
  if (of('missing') > 0) return 'red';
  if (of('dirty') + of('extra') + of('mismatched') > 0) return 'yellow';
  return 'green';
}

/** One count on which the producer's summary and the repository list disagree. */
export interface SummaryDisagreement {
  field: string;
  producer: number;
  computed: number;
}

/** The fields of the producer's summary that disagree with the counts computed from the list. */
export function summaryDisagreements(summary: Summary | undefined, repos: readonly Repo[]): SummaryDisagreement[] {
  if (!summary) return [];
  const counts = countByStatus(repos);
  const computed = (field: string) => (field === 'total' ? repos.length : (counts.find((c) => c.status === field)?.count ?? 0));
  const out: SummaryDisagreement[] = [];
  for (const field of ['total', ...KNOWN_STATUSES]) {
    const producer = summary[field];
    if (typeof producer !== 'number') continue;
    if (producer !== computed(field)) out.push({ field, producer, computed: computed(field) });
  }
  return out;
}

/** The report's health as the producer states it, or as computed when it states none. */
export function effectiveHealth(report: Report): { health: HealthStatus; computed: 'green' | 'yellow' | 'red' } {
  const computed = computeHealth(countByStatus(report.repos));
  return { health: report.health_status ?? computed, computed };
}
