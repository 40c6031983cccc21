/**
 * Polling instead of fixed sleeps: tests wait for the condition they need (a log line, a reload, a
 * span), bounded in time, so a slow or busy machine makes them slower, never flaky.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitForOptions {
  /** What is awaited, for the timeout message. */
  what?: string;
  /** Give up after this many milliseconds (default 5 000). */
  timeout?: number;
  /** Milliseconds between two checks (default 50). */
  interval?: number;
}

type Ready<T> = Exclude<T, false | null | undefined>;

/**
 * Calls `condition` until it returns something other than `false`, `null` or `undefined`, and returns
 * that value. Throws when `timeout` passes first; an exception from `condition` propagates at once.
 */
export async function waitFor<T>(condition: () => T | Promise<T>, options: WaitForOptions = {}): Promise<Ready<T>> {
  const { what = 'a condition', timeout = 5_000, interval = 50 } = options;
  const end = Date.now() + timeout;
  for (;;) {
    const value = await condition();
    if (value !== false && value !== null && value !== undefined) return value as Ready<T>;
    if (Date.now() >= end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}
