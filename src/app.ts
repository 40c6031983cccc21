import type { Config } from './config/load.ts';
import { TokenExchange } from './exchange/get-jwt.ts';
import { createAuthApi, type GetJwtObserver } from './grpc/auth-api.ts';
import { startGrpcServer, type GrpcServerHandle, type GrpcServerOptions } from './grpc/server.ts';
import { createGrpcCredentials } from './grpc/credentials.ts';
import { startHttpServer, type HttpServerHandle } from './http/server.ts';
import { createKeyManager, CompactJwtSigner, type KeyManager, type KeyReloadObserver } from './keys/index.ts';
import type { FetchFn } from './providers/provider-fetch.ts';
import { createProviderRegistry, type ProviderRegistry } from './providers/index.ts';
import type { ProviderCallObserver } from './providers/types.ts';
import type { CacheObserver } from './providers/caching-verifier.ts';
import type { Logger } from './telemetry/logger.ts';
import { createMetrics, type Metrics } from './telemetry/metrics.ts';
import { traceUnaryService } from './telemetry/grpc-tracing.ts';
import { tracingActive } from './telemetry/tracing-state.ts';
import pkg from '../package.json' with { type: 'json' };

export type AppObserver = GetJwtObserver & ProviderCallObserver & CacheObserver & KeyReloadObserver;

export interface AppOptions {
  logger: Logger;
  /** Extra observer (tests); metrics are always collected. */
  observer?: AppObserver | undefined;
  grpc?: GrpcServerOptions | undefined;
  /** Injectable outbound fetch (tests). */
  fetch?: FetchFn | undefined;
}

export interface App {
  grpcPort: number;
  httpPort: number;
  keys: KeyManager;
  providers: ProviderRegistry;
  metrics: Metrics;
  grpc: GrpcServerHandle;
  http: HttpServerHandle;
  /** True when config is valid, a signing key is loaded and listeners are up. */
  isReady(): boolean;
  /** Graceful stop: NOT_SERVING, refuse new calls, let in-flight ones finish within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Wires keys → providers → exchange → gRPC/HTTP adapters and starts listening. */
export async function startApp(config: Config, options: AppOptions): Promise<App> {
  const { logger } = options;
  for (const warning of config.warnings) logger.warn({ warning }, `CONFIG WARNING: ${warning}`);
  const metrics = createMetrics({ providerIds: config.providers.map((p) => p.id), version: pkg.version });
  const observer = combineObservers(metrics.observer, options.observer);

  const keys = await createKeyManager(config.keys, logger, observer);
  const providers = createProviderRegistry(config, { observer, fetch: options.fetch });
  void providers.warmUp();
  metrics.watchKeys(keys.store);
  metrics.watchProviders(providers.all().map((p) => ({ id: p.config.id, ready: p.ready, cacheSize: p.cacheSize })));
  const exchange = new TokenExchange({
    providers,
    signer: new CompactJwtSigner(keys.store),
    settings: { issuer: config.issuer, audience: config.audience, tokenTtl: config.tokenTtl, subjectTemplate: config.subjectTemplate, limits: config.limits },
  });

  let accepting = true;
  let listening = false;
  const api = createAuthApi({
    exchange,
    logger,
    providerIds: new Set(config.providers.map((p) => p.id)),
    maxConcurrentCalls: config.grpc.maxConcurrentCalls,
    defaultDeadline: config.grpc.defaultDeadline,
    observer,
    isAccepting: () => accepting,
  });
  const grpcCredentials = createGrpcCredentials(config.grpc.tls);
  const grpc = await startGrpcServer(config.grpc, api, {
    ...(tracingActive() ? { wrapService: traceUnaryService } : {}),
    credentials: grpcCredentials.credentials,
    ...options.grpc,
    interceptors: [metrics.grpcInterceptor, ...(options.grpc?.interceptors ?? [])],
  });
  const issuer = config.issuer.replace(/\/$/, '');
  const http = await startHttpServer(config.http.listen, {
    issuer: config.issuer,
    jwksUri: config.jwksUri ?? `${issuer}/.well-known/jwks.json`,
    jwks: () => keys.store.jwks(),
    jwksMaxAge: config.keys.jwksMaxAge,
    signingAlgorithms: () => [...new Set(keys.store.jwks().keys.map((k) => k.alg!))],
    live: () => true,
    ready: () => {
      const status = keys.store.status();
      return {
        ready: isReady(),
        checks: {
          signingKey: status.signingKid !== undefined,
          publishedKeys: status.publishedKeys,
          lastKeyReloadError: status.lastReloadError ?? null,
          accepting,
          // Informational: provider reachability does not gate readiness (an IdP outage must not
          // empty the Service); it is reported per provider instead.
          providers: Object.fromEntries(providers.all().map((p) => [p.config.id, p.ready() ? 'reachable' : 'unknown_or_unreachable'])),
        },
      };
    },
    metrics: () => metrics.exposition(),
  }, config.http.tls);
  listening = true;

  const isReady = () => listening && accepting && keys.store.currentSigningKey() !== undefined;
  const syncHealth = () => grpc.setServing(isReady());
  syncHealth();
  keys.store.onChange(syncHealth);
  // Signing keys may become usable later (publish lead time): re-evaluate periodically.
  const healthTimer = setInterval(syncHealth, 1_000);
  healthTimer.unref();

  logger.info({ grpc: `${config.grpc.listen.replace(/:\d+$/, '')}:${grpc.port}`, http: `${config.http.listen.replace(/:\d+$/, '')}:${http.port}`, providers: config.providers.map((p) => p.id), issuer: config.issuer }, 'authjwt started');

  let stopping: Promise<void> | undefined;
  return {
    grpcPort: grpc.port,
    httpPort: http.port,
    keys,
    providers,
    metrics,
    grpc,
    http,
    isReady,
    stop(graceMs = config.shutdownGrace) {
      stopping ??= (async () => {
        accepting = false;
        clearInterval(healthTimer);
        grpc.setServing(false);
        logger.info({ inFlight: api.inFlight(), graceMs }, 'shutting down: health NOT_SERVING, draining in-flight calls');
        await grpc.stop(graceMs);
        grpcCredentials.close();
        await http.close();
        keys.close();
        listening = false;
        logger.info('authjwt stopped');
      })();
      return stopping;
    },
  };
}

/** Calls each observer's hooks in turn. */
function combineObservers(...observers: (AppObserver | undefined)[]): AppObserver {
  const list = observers.filter((o): o is AppObserver => o !== undefined);
  return {
    onGetJwt: (e) => list.forEach((o) => o.onGetJwt?.(e)),
    onProviderCall: (e) => list.forEach((o) => o.onProviderCall?.(e)),
    onCacheLookup: (p, r) => list.forEach((o) => o.onCacheLookup?.(p, r)),
    onReload: (r) => list.forEach((o) => o.onReload?.(r)),
  };
}
