import { describe, expect, it } from 'vitest';
import { formatAge, formatAgo, formatReportAge, parseTimestamp } from './time';

describe('parseTimestamp', () => {
  it('reads RFC 3339 and the hyphenated form producers write', () => {
    expect(parseTimestamp('2025-06-20T03:00:00Z')?.toISOString()).toBe('2025-06-20T03:00:00.000Z');
    expect(parseTimestamp('2026-02-11T03-00-00Z')?.toISOString()).toBe('2026-02-11T03:00:00.000Z');
    expect(parseTimestamp('2026-02-11T03:00:00+02:00')?.toISOString()).toBe('2026-02-11T01:00:00.000Z');
  });

  it('refuses what is not a timestamp', () => {
    for (const text of ['', 'yesterday', '12', undefined, null, '2026-13-45T99:99:99Z']) expect(parseTimestamp(text)).toBeNull();
  });
});

describe('formatAge', () => {
  it('rounds to the largest sensible unit', () => {
    expect(formatAge(500)).toBe('just now');
    expect(formatAge(42_000)).toBe('42 s');
    expect(formatAge(5 * 60_000)).toBe('5 min');
    expect(formatAge(3 * 3_600_000)).toBe('3 h');
    expect(formatAge(3 * 86_400_000)).toBe('3 d');
    expect(formatAgo(42_000)).toBe('42 s ago');
    expect(formatAgo(0)).toBe('just now');
  });
});

describe('formatReportAge', () => {
  it('says "just now" without "old", and ignores clock skew under a minute', () => {
    expect(formatReportAge(500)).toBe('just now');
    expect(formatReportAge(-400)).toBe('just now');
    expect(formatReportAge(-30_000)).toBe('just now');
    expect(formatReportAge(42_000)).toBe('42 s old');
    expect(formatReportAge(5 * 60_000)).toBe('5 min old');
    expect(formatReportAge(-5 * 60_000)).toBe('in the future');
  });
});
