import { describe, expect, it } from 'vitest';
import { backoffCeiling, backoffDelay, DEFAULT_BACKOFF, seededRandom } from './backoff';

describe('backoff', () => {
  it('doubles the ceiling per failure up to the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 20].map((n) => backoffCeiling(n))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('draws every delay within [min, ceiling) (full jitter)', () => {
    const random = seededRandom(7);
    for (let attempt = 0; attempt < 12; attempt += 1) {
      for (let i = 0; i < 200; i += 1) {
        const delay = backoffDelay(attempt, random);
        expect(delay).toBeGreaterThanOrEqual(DEFAULT_BACKOFF.minMs);
        expect(delay).toBeLessThan(backoffCeiling(attempt));
      }
    }
  });

  it('spreads delays over the range rather than clustering', () => {
    const random = seededRandom(1);
    const delays = Array.from({ length: 1000 }, () => backoffDelay(5, random));
    expect(Math.min(...delays)).toBeLessThan(3000);
    expect(Math.max(...delays)).toBeGreaterThan(27000);
  });

  it('gives the same schedule for the same seed', () => {
    const schedule = (seed: number) => {
      const random = seededRandom(seed);
      return Array.from({ length: 8 }, (_, n) => backoffDelay(n, random));
    };
    expect(schedule(42)).toEqual(schedule(42));
    expect(schedule(42)).not.toEqual(schedule(43));
  });

  it('maps the random extremes to the ends of the range', () => {
    expect(backoffDelay(3, () => 0)).toBe(250);
    expect(backoffDelay(3, () => 0.999999)).toBe(7999);
  });
});
