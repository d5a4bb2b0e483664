// A clock for ages and countdowns: the current time, refreshed every `intervalMs`.
import { useEffect, useState } from 'react';

/** The current time (ms), updated every `intervalMs`. */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), intervalMs);
    return () => window.clearInterval(timer);
  }, [intervalMs]);
  return now;
}
