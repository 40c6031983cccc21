import type { ProviderReachability } from './providers/registry.ts';

/**
 * Readiness: the process may serve when its listeners are up, it is not draining and a key can sign.
 * Provider reachability is reported but never gates readiness: an IdP outage must not empty the
 * Service (the other providers still work, and callers get UNAVAILABLE with a reason).
 * Re-evaluated on events — key-store changes (reloads, a key activating after its lead time) and
 * lifecycle changes — never by polling.
 */
export interface ReadinessSources {
  signing(): { signingKid: string | undefined; publishedKeys: number; lastReloadError: string | undefined };
  /** Subscribes to key-store changes; returns an unsubscribe function. */
  onKeysChange(listener: () => void): () => void;
  providers(): readonly { id: string; reachability(): ProviderReachability }[];
}

export interface Readiness {
  isReady(): boolean;
  /** The /readyz body: no file paths or secrets (error codes only; the log has the rest). */
  report(): { ready: boolean; checks: Record<string, unknown> };
  setListening(listening: boolean): void;
  setAccepting(accepting: boolean): void;
  /** Calls `listener(ready)` whenever readiness may have changed. */
  onChange(listener: (ready: boolean) => void): void;
  close(): void;
}

export function createReadiness(sources: ReadinessSources): Readiness {
  let listening = false;
  let accepting = true;
  const listeners = new Set<(ready: boolean) => void>();
  const isReady = () => listening && accepting && sources.signing().signingKid !== undefined;
  const emit = () => {
    const ready = isReady();
    for (const l of listeners) l(ready);
  };
  const unsubscribe = sources.onKeysChange(emit);
  return {
    isReady,
    report() {
      const s = sources.signing();
      return {
        ready: isReady(),
        checks: {
          signingKey: s.signingKid !== undefined,
          publishedKeys: s.publishedKeys,
          lastKeyReloadError: s.lastReloadError ?? null,
          accepting,
          // Informational only (see above).
          providers: Object.fromEntries(sources.providers().map((p) => [p.id, p.reachability()])),
        },
      };
    },
    setListening(value) {
      listening = value;
      emit();
    },
    setAccepting(value) {
      accepting = value;
      emit();
    },
    onChange(listener) {
      listeners.add(listener);
      listener(isReady());
    },
    close: unsubscribe,
  };
}
