import type { CallerKind } from '../exchange/ports.ts';
import type { Config, ProviderConfig } from '../config/types.ts';
import { ASYMMETRIC_JWS_ALGORITHMS } from '../config/schema.ts';
import type { FetchFn } from '../providers/http/provider-fetch.ts';
import type { Logger } from '../telemetry/logger.ts';
import { createClientAuthenticator, type RegisteredClient } from './client-authenticator.ts';
import { fileJwkSet, inlineJwkSet } from './jwk-set.ts';
import type { ClientAuthenticator, ReplayCache } from './ports.ts';
import { MemoryReplayCache, RedisReplayCache } from './replay-cache.ts';
import { createTrustSource, type TrustSourceConfig } from './trust-sources.ts';

export interface ClientAuthentication {
  authenticator: ClientAuthenticator;
  /** The replay cache of private_key_jwt assertions, when a client uses them (metrics). */
  replayCache: ReplayCache | undefined;
}

/**
 * Builds the token endpoint's client authentication from the configuration (composition root helper):
 * registered clients and their keys (files watched), trust sources, the replay cache (Redis connects in
 * the background). Key and bundle reloads, and Redis connection changes, are logged (Redis errors at
 * most every 10 s).
 */
export function buildClientAuthentication(config: Config, deps: { logger: Logger; fetch?: FetchFn | undefined }): ClientAuthentication {
  const { logger } = deps;
  const a = config.tokenEndpoint.clientAuthentication;
  const audiences = a.audiences ?? [config.issuer, ...(config.tokenEndpoint.url ? [config.tokenEndpoint.url] : [])];
  const onReload = (event: { path: string; ok: boolean; keys?: number; error?: string }) => {
    if (event.ok) logger.info({ file: event.path, keys: event.keys }, 'client authentication keys reloaded');
    else
      logger.warn(
        { file: event.path, error: event.error },
        'client authentication keys could not be reloaded: the last good keys stay in use',
      );
  };
  const clients: RegisteredClient[] = a.clients.map((c) => ({
    id: c.id,
    tlsClientAuth: c.tlsClientAuth,
    federated: c.federated,
    privateKeyJwt: c.privateKeyJwt
      ? c.privateKeyJwt.jwksFile !== undefined
        ? fileJwkSet(c.privateKeyJwt.jwksFile, 'client', c.privateKeyJwt.reloadInterval, onReload)
        : inlineJwkSet(c.privateKeyJwt.jwks, 'client')
      : undefined,
  }));
  const providers = new Map<string, ProviderConfig>(config.providers.map((p) => [p.id, p]));
  const trustSources = a.trustSources.map((s) =>
    createTrustSource(
      s as TrustSourceConfig,
      { defaultAudiences: audiences, clockTolerance: config.clockTolerance, fetch: deps.fetch, onReload },
      providers,
    ),
  );

  let replayCache: ReplayCache | undefined;
  if (clients.some((c) => c.privateKeyJwt)) {
    const store = a.replayCache.store;
    if (store === 'memory') replayCache = new MemoryReplayCache({ maxEntries: a.replayCache.maxEntries });
    else {
      const r = a.replayCache.redis!;
      let lastErrorLog = 0;
      const redis = new RedisReplayCache({
        url: r.url,
        username: r.username,
        password: config.clientAuthSecrets.redisPassword?.reveal(),
        caFile: r.caFile,
        keyPrefix: r.keyPrefix,
        connectTimeout: r.connectTimeout,
        commandTimeout: r.commandTimeout,
        onEvent: (event) => {
          if (event.kind === 'ready') logger.info('replay cache (redis) connected');
          else if (Date.now() - lastErrorLog >= 10_000) {
            lastErrorLog = Date.now();
            logger.warn(
              { event: event.kind, error: event.error },
              'replay cache (redis) unavailable: private_key_jwt assertions are refused until it answers',
            );
          }
        },
      });
      redis.start();
      replayCache = redis;
    }
  }

  const authenticator = createClientAuthenticator({
    methods: (a.methods ?? ['none']) as CallerKind[],
    clients,
    trustSources,
    privateKeyJwt: {
      audiences,
      algorithms: a.algorithms ?? [...ASYMMETRIC_JWS_ALGORITHMS],
      maxLifetime: a.maxAssertionLifetime,
      replay: replayCache,
    },
    clockTolerance: config.clockTolerance,
  });
  return { authenticator, replayCache };
}
