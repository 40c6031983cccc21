import type { MintedTokenCacheObserver } from '../exchange/minted-token-cache.ts';
import type { KeyReloadObserver } from '../keys/key-manager.ts';
import type { CacheObserver } from '../providers/caching-verifier.ts';
import type { ProviderCallObserver } from '../providers/http/provider-fetch.ts';
import type { ExchangeObserver } from './exchange-events.ts';

/** Every event the modules emit; metrics implement it, tests may add their own. */
export type TelemetryObserver = ExchangeObserver & ProviderCallObserver & CacheObserver & KeyReloadObserver & MintedTokenCacheObserver;

/** Calls each observer's hooks in turn (fan-out wired once in the composition root). */
export function combineObservers(...observers: (TelemetryObserver | undefined)[]): TelemetryObserver {
  const list = observers.filter((o): o is TelemetryObserver => o !== undefined);
  if (list.length === 1) return list[0]!;
  return {
    onExchange: (e) => {
      for (const o of list) o.onExchange?.(e);
    },
    onProviderCall: (e) => {
      for (const o of list) o.onProviderCall?.(e);
    },
    onCacheLookup: (p, r) => {
      for (const o of list) o.onCacheLookup?.(p, r);
    },
    onKeyReload: (r) => {
      for (const o of list) o.onKeyReload?.(r);
    },
    onMintedTokenLookup: (r) => {
      for (const o of list) o.onMintedTokenLookup?.(r);
    },
    onMintedTokenEviction: (r) => {
      for (const o of list) o.onMintedTokenEviction?.(r);
    },
  };
}
