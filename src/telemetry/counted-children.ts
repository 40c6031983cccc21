import type { Counter } from 'prom-client';

/** A counter child on the hot path: `inc()` adds 1. */
export interface CountedChild {
  inc(): void;
}

/**
 * Increments of prom-client counter children, kept as plain numbers and added to the children when the
 * counter is collected (every scrape and `get()` collects first; issue 24). prom-client hashes and
 * validates the label values on every `inc()`, even through a child from `labels()`: on a path taken
 * several times per request that showed in profiles. Names, labels and values on a scrape are the same.
 * Wire {@link flush} as the counter's `collect`.
 */
export class CountedChildren {
  readonly #slots: { child: Counter.Internal; pending: number }[] = [];

  /** A hot-path handle for `child` (call once per child, keep the handle). */
  of(child: Counter.Internal): CountedChild {
    const slot = { child, pending: 0 };
    this.#slots.push(slot);
    return {
      inc() {
        slot.pending++;
      },
    };
  }

  /** Adds what was counted since the last flush to the children. */
  flush(): void {
    for (const slot of this.#slots) {
      if (slot.pending === 0) continue;
      const n = slot.pending;
      slot.pending = 0;
      slot.child.inc(n);
    }
  }
}
