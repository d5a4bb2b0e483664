// Time helpers: the report's timestamps (RFC 3339, or the producers' hyphenated "T03-00-00Z") and ages.

/** Parses an RFC 3339 timestamp, or the hyphenated time some producers write; `null` when unreadable. */
export function parseTimestamp(raw: string | null | undefined): Date | null {
  if (!raw) return null;
  const hyphenated = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:?\d{2})?$/.exec(raw.trim());
  const text = hyphenated ? `${hyphenated[1]}T${hyphenated[2]}:${hyphenated[3]}:${hyphenated[4]}${hyphenated[5] ?? 'Z'}` : raw.trim();
  // Only accept ISO-like text: Date.parse accepts far more, differently per browser.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(text)) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : new Date(ms);
}

/** A short age: "just now", "42 s", "5 min", "3 h", "2 d". */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms)) return 'unknown';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h`;
  return `${Math.floor(h / 24)} d`;
}

/** "5 min ago" / "just now". */
export function formatAgo(ms: number): string {
  const age = formatAge(ms);
  return age === 'just now' || age === 'unknown' ? age : `${age} ago`;
}

/** Clock differences between the producer's machine and the reader's that are not worth a word. */
const CLOCK_SKEW_MS = 60_000;

/** The report's age beside its time: "just now", "5 min old", or "in the future" past clock skew. */
export function formatReportAge(ms: number): string {
  if (ms < -CLOCK_SKEW_MS) return 'in the future';
  const age = formatAge(Math.max(0, ms));
  return age === 'just now' || age === 'unknown' ? age : `${age} old`;
}

/** A date and time in the reader's locale, with seconds. */
export function formatDateTime(date: Date): string {
  return date.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}
