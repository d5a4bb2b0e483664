// Reconnect delays: capped exponential backoff with full jitter (RFC 6455 §7.2.3 asks for a random
// first delay and truncated exponential backoff after; full jitter spreads a herd of reconnecting tabs).

/** Backoff parameters, in milliseconds. */
export interface BackoffConfig {
  /** The ceiling of the first attempt's delay. */
  baseMs: number;
  /** No delay ceiling grows past this. */
  capMs: number;
  /** Every delay is at least this, so a flapping server is not hammered. */
  minMs: number;
}

/** The defaults: first retry within 1 s, doubling, capped at 30 s. */
export const DEFAULT_BACKOFF: BackoffConfig = { baseMs: 1000, capMs: 30_000, minMs: 250 };

/** The delay ceiling for the n-th consecutive failure (0-based). */
export function backoffCeiling(attempt: number, config: BackoffConfig = DEFAULT_BACKOFF): number {
  const exponent = Math.min(Math.max(0, attempt), 30);
  return Math.max(config.minMs, Math.min(config.capMs, config.baseMs * 2 ** exponent));
}

/** Full jitter: a delay drawn uniformly from [minMs, ceiling) with the given random source in [0, 1). */
export function backoffDelay(attempt: number, random: () => number, config: BackoffConfig = DEFAULT_BACKOFF): number {
  const ceiling = backoffCeiling(attempt, config);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(config.minMs + r * (ceiling - config.minMs));
}

/** A small seeded generator (mulberry32) for reproducible jitter in tests and benchmarks. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
