import { fileJwkSet, inlineJwkSet } from '../../clients/jwk-set.ts';
import type { ReplayCache } from '../../clients/ports.ts';
import { MemoryReplayCache, RedisReplayCache } from '../../clients/replay-cache.ts';
import type { Config, ProviderConfig } from '../../config/types.ts';
import { SelfSignedVerifier } from './self-signed-verifier.ts';

/**
 * A `selfSigned` provider's configuration → its verifier: the registry's one line for the kind. The
 * workloads' JWK Sets are read now (a missing or invalid one fails the start); files are re-read every
 * `reloadInterval` (a bad update keeps the last good keys, `onKeysReload` hears it). The `jti` replay cache
 * is `replayStore`: `memory` (this process, one per provider: with several replicas a token can be used
 * once per replica within its short lifetime) or `redis` (the client-authentication Redis, shared by every
 * replica; docs/workload-identity.md).
 */
export function selfSignedVerifierFor(
  p: ProviderConfig,
  config: Pick<Config, 'clockTolerance' | 'issuer'> & {
    tokenEndpoint?: Pick<Config['tokenEndpoint'], 'clientAuthentication'> | undefined;
    clientAuthSecrets?: Config['clientAuthSecrets'] | undefined;
  },
  deps: {
    clock?: (() => number) | undefined;
    onKeysReload?: ((event: { path: string; ok: boolean; keys?: number; error?: string }) => void) | undefined;
    /** Redis connection changes of `replayStore: redis` (logged, throttled by the caller). */
    onReplayCacheEvent?: ((event: { kind: 'ready' | 'error' | 'reconnecting'; error?: string }) => void) | undefined;
  } = {},
): { verifier: SelfSignedVerifier; close(): Promise<void> } {
  const s = p.selfSigned!;
  const sources = s.workloads.map((w) => {
    try {
      return w.jwksFile !== undefined
        ? fileJwkSet(w.jwksFile, 'client', w.reloadInterval, deps.onKeysReload)
        : inlineJwkSet(w.jwks, 'client');
    } catch (error) {
      throw new Error(`provider ${p.id}: workload ${JSON.stringify(w.id)}: keys: ${(error as Error).message}`, { cause: error });
    }
  });
  let replay: ReplayCache | undefined;
  if (s.replayProtection && s.replayStore === 'redis') {
    // The client-authentication Redis (schema-checked to be configured), under its own key prefix.
    const r = config.tokenEndpoint!.clientAuthentication.replayCache.redis!;
    const redis = new RedisReplayCache({
      url: r.url,
      username: r.username,
      password: config.clientAuthSecrets?.redisPassword?.reveal(),
      caFile: r.caFile,
      keyPrefix: `${r.keyPrefix}self_signed:`,
      connectTimeout: r.connectTimeout,
      commandTimeout: r.commandTimeout,
      onEvent: deps.onReplayCacheEvent,
    });
    redis.start();
    replay = redis;
  } else if (s.replayProtection) {
    replay = new MemoryReplayCache({ maxEntries: s.maxReplayEntries, clock: deps.clock });
  }
  const verifier = new SelfSignedVerifier({
    audience: s.audience ?? config.issuer,
    algorithms: s.algorithms,
    maxTokenLifetime: s.maxTokenLifetime,
    clockTolerance: config.clockTolerance,
    workloads: s.workloads.map((w, i) => ({ id: w.id, keys: sources[i]!, subjects: w.subjects, scopes: w.scopes })),
    replay,
    clock: deps.clock,
  });
  return {
    verifier,
    close: async () => {
      for (const source of sources) source.close();
      await replay?.close();
    },
  };
}
