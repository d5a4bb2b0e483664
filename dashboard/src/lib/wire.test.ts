// The wire constants and the close-reason parser the dashboard takes from the Rust protocol crate
// (src/types/generated/protocol.ts). The parser cases are the ones the Rust twin is tested with
// (crates/protocol/src/close.rs): both languages must read every reason the same way.
import { describe, expect, it } from 'vitest';
import {
  CLOSE_CODES,
  formatRetryReason,
  MAX_RETRY_MS,
  MESSAGE_TYPES,
  parseRetryMs,
  SERVER_MESSAGE_TYPES,
  STATE_MESSAGE_TYPES,
} from '../types/protocol';

describe('parseRetryMs', () => {
  it('reads the delay from the reasons seen', () => {
    expect(parseRetryMs('server restarting; retry-ms=1234')).toBe(1234);
    expect(parseRetryMs('retry-ms=5')).toBe(5);
    expect(parseRetryMs('retry-ms=20; then more')).toBe(20);
    expect(parseRetryMs('retry-ms=007')).toBe(7);
    expect(parseRetryMs(formatRetryReason(MAX_RETRY_MS))).toBe(MAX_RETRY_MS);
  });

  it('finds no delay in junk', () => {
    for (const reason of [
      '',
      'server restarting',
      'stalled: resume with your cursor',
      'retry-ms=',
      'retry-ms=soon',
      'retry-ms= 7',
      'retry-ms=-5',
      'retry_ms=5',
      'RETRY-MS=5',
      'retry-ms=9007199254740992',
      'retry-ms=99999999999999999999999',
      'retry-ms=x; retry-ms=5',
    ]) {
      expect(parseRetryMs(reason), reason).toBeNull();
    }
    expect(parseRetryMs(undefined)).toBeNull();
    expect(parseRetryMs(null)).toBeNull();
  });

  it('reads back what formatRetryReason writes, as the server writes it', () => {
    expect(formatRetryReason(1234)).toBe('server restarting; retry-ms=1234');
    for (const ms of [0, 1, 999, 2 ** 31, MAX_RETRY_MS]) expect(parseRetryMs(formatRetryReason(ms))).toBe(ms);
  });
});

describe('generated wire constants', () => {
  it('has the close codes the server sends', () => {
    expect(CLOSE_CODES).toMatchObject({
      normal: 1000,
      goingAway: 1001,
      protocolError: 1002,
      invalidData: 1007,
      policy: 1008,
      tooBig: 1009,
      stalled: 4000,
      sessionExpired: 4001,
    });
  });

  it('names every server message kind once, state-bearing ones first', () => {
    expect(SERVER_MESSAGE_TYPES).toEqual(Object.values(MESSAGE_TYPES));
    expect(new Set(SERVER_MESSAGE_TYPES).size).toBe(SERVER_MESSAGE_TYPES.length);
    expect(SERVER_MESSAGE_TYPES.slice(0, STATE_MESSAGE_TYPES.length)).toEqual([...STATE_MESSAGE_TYPES]);
  });
});
