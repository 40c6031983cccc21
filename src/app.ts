/**
 * The composition root: builds every module from the config, wires ports to implementations and
 * telemetry around them, starts the listeners and owns the lifecycle. No business logic lives here.
 */
import { buildClientAuthentication, type ClientAuthentication } from './clients/build.ts';
import { compileProviderPolicy } from './config/provider-policy.ts';
import type { Config } from './config/types.ts';
import { formatHostPort, parseHostPort } from './config/host-port.ts';
import { MINTED_CLAIMS, DEFAULT_PROFILE_CLAIMS } from './exchange/claims.ts';
import type { AccessPolicy } from './exchange/ports.ts';
import { TokenExchange } from './exchange/token-exchange.ts';
import { ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE } from './exchange/token-types.ts';
import { LruMintedTokenCache } from './exchange/minted-token-cache.ts';
import { createAdmission, type AdmissionRule } from './grpc/admission.ts';
import { createAuthApi } from './grpc/auth-api.ts';
import { createEdgeTxnTokenService } from './edge/txn-token-service.ts';
import type { EdgeTxnTokenSettings } from './edge/txn-token-edge.ts';
import { createExtAuthz, extAuthzService } from './grpc/ext-authz.ts';
import { createGrpcCredentials } from './grpc/credentials.ts';
import { HealthService } from './grpc/health.ts';
import { AUTH_SERVICE_NAME, EXT_AUTHZ_SERVICE_NAME, HEALTH_SERVICE_NAME, loadAuthProto } from './grpc/proto.ts';
import { createReflectionService } from './grpc/reflection.ts';
import { startGrpcServer, type GrpcServerOptions, type GrpcService } from './grpc/server.ts';
import { createForwardAuthRoute } from './http/forward-auth.ts';
import { createProbeRoutes } from './http/probe-routes.ts';
import { createPublicRoutes } from './http/public-routes.ts';
import { createRouter, type HttpRoute } from './http/router.ts';
import { createTokenEndpointRoutes, type RequestedTokenTypeHandler, TOKEN_EXCHANGE_GRANT } from './http/token-endpoint.ts';
import { TXN_TOKEN_TYPE } from './txn-tokens/constants.ts';
import { createTxnTokenIssuer } from './txn-tokens/build.ts';
import { createTxnTokenRequestHandler } from './txn-tokens/door.ts';
import type { TxnTokenIssuer } from './txn-tokens/issuer.ts';
import { isLoopbackHost } from './config/url-policy.ts';
import { startHttpServer } from './http/server.ts';
import { CompactJwtSigner } from './keys/jwt-signer.ts';
import { createKeyManager, type KeyManager } from './keys/key-manager.ts';
import type { CompiledPolicy } from './policy/index.ts';
import type { FetchFn } from './providers/http/provider-fetch.ts';
import { createProviderRegistry } from './providers/registry.ts';
import { createReadiness } from './readiness.ts';
import { createExchangeReporter, refusalOf, type Door } from './telemetry/exchange-events.ts';
import { traceUnaryService } from './telemetry/grpc-tracing.ts';
import type { Logger } from './telemetry/logger.ts';
import { createMetrics } from './telemetry/metrics.ts';
import { combineObservers, type TelemetryObserver } from './telemetry/observers.ts';
import { tracePolicy, traceSigner, traceVerifier } from './telemetry/traced-ports.ts';
import { tracingActive } from './telemetry/tracing-state.ts';
import pkg from '../package.json' with { type: 'json' };

export interface AppOptions {
  logger: Logger;
  /** Extra observer (tests); metrics are always collected. */
  observer?: TelemetryObserver | undefined;
  grpc?: Pick<GrpcServerOptions, 'interceptors'> | undefined;
  /** Injectable outbound fetch (tests). */
  fetch?: FetchFn | undefined;
}

export interface App {
  grpcPort: number;
  httpPort: number;
  /** Port of the internal HTTP listener, when a door on it is enabled. */
  internalHttpPort: number | undefined;
  keys: KeyManager;
  /** True when listeners are up, the service is not draining and a key can sign. */
  isReady(): boolean;
  /** Graceful stop: NOT_SERVING, refuse new calls, let in-flight ones finish within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Admission per method: health answers during drain and is never shed (probes); Watch and reflection streams count. */
const HEALTH_WATCH_RULE: AdmissionRule = { drain: true, shed: true, deadline: false, pool: 'streams' };
const HEALTH_RULE: AdmissionRule = { drain: false, shed: false, deadline: false };
const REFLECTION_RULE: AdmissionRule = { drain: true, shed: true, deadline: false };
const CALL_RULE: AdmissionRule = { drain: true, shed: true, deadline: true };
const HEALTH_PATH_PREFIX = `/${HEALTH_SERVICE_NAME}/`;
/** gRPC methods that are exchange doors (their admission refusals are counted as the door's requests). */
const GRPC_DOORS: ReadonlyMap<string, Door> = new Map([
  [`/${AUTH_SERVICE_NAME}/GetJWT`, 'getjwt'],
  [`/${EXT_AUTHZ_SERVICE_NAME}/Check`, 'ext_authz'],
]);
function admissionRuleFor(path: string): AdmissionRule {
  if (path.startsWith(HEALTH_PATH_PREFIX)) return path.endsWith('/Watch') ? HEALTH_WATCH_RULE : HEALTH_RULE;
  if (path.startsWith('/grpc.reflection.')) return REFLECTION_RULE;
  return CALL_RULE;
}

/** Logs a selfSigned provider's Redis replay-cache events: `ready` always, failures at most every 10 s. */
function throttledReplayCacheLog(logger: Logger) {
  let lastErrorLog = 0;
  return (event: { provider: string; kind: 'ready' | 'error' | 'reconnecting'; error?: string }) => {
    if (event.kind === 'ready') logger.info({ provider: event.provider }, 'self-signed replay cache (redis) connected');
    else if (Date.now() - lastErrorLog >= 10_000) {
      lastErrorLog = Date.now();
      logger.warn(
        { provider: event.provider, event: event.kind, error: event.error },
        'self-signed replay cache (redis) unavailable: self-signed JWTs are refused until it answers',
      );
    }
  };
}

export async function startApp(config: Config, options: AppOptions): Promise<App> {
  const { logger } = options;
  for (const warning of config.warnings) logger.warn({ warning }, `CONFIG WARNING: ${warning}`);
  const tracing = tracingActive();
  let accepting = true;
  const doors: Door[] = [
    'getjwt',
    ...(config.edge.extAuthz.enabled ? (['ext_authz'] as const) : []),
    ...(config.edge.forwardAuth.enabled ? (['forward_auth'] as const) : []),
    ...(config.tokenEndpoint.enabled ? (['token_endpoint'] as const) : []),
  ];
  const metrics = createMetrics({ providerIds: config.providers.map((p) => p.id), version: pkg.version, doors });
  const observer = combineObservers(metrics.observer, options.observer);

  const keys = await createKeyManager(config.keys, logger, observer);
  const policies = new Map<string, AccessPolicy>();
  config.providers.forEach((p, i) => {
    const compiled = compileProviderPolicy(p, `providers[${i}]`);
    if (!compiled) return;
    const rules = [...compiled.rules.map((r) => r.name), ...compiled.claimNames.map((n) => `claims.${n}`)];
    const policy = metrics.meterPolicy(accessPolicyOf(compiled), p.id, rules);
    policies.set(p.id, tracing ? tracePolicy(policy, p.id) : policy);
  });
  const providers = createProviderRegistry(config, {
    observer,
    fetch: options.fetch,
    policies,
    wrapVerifier: tracing ? traceVerifier : undefined,
    // issue 22: selfSigned providers' workload keys (files re-read; a bad update keeps the last good keys).
    onWorkloadKeysReload: ({ provider, path, ok, keys, error }) =>
      ok
        ? logger.info({ provider, file: path, keys }, 'workload keys reloaded')
        : logger.warn({ provider, file: path, error }, 'workload keys could not be reloaded: the last good keys stay in use'),
    onWorkloadReplayCacheEvent: throttledReplayCacheLog(logger),
  });
  void providers.warmUp();
  metrics.watchKeys(keys.store);
  metrics.watchProviders(providers.all());

  const signer = new CompactJwtSigner(keys.store);
  // Minted-token cache (issue 12): the edge doors reuse tokens; GetJWT only with mintedTokens.getJwt.
  const mintedTokens =
    config.mintedTokens.maxEntries > 0
      ? new LruMintedTokenCache({ maxEntries: config.mintedTokens.maxEntries, refreshMargin: config.mintedTokens.refreshMargin, observer })
      : undefined;
  if (mintedTokens) metrics.watchMintedTokens(mintedTokens);
  const exchange = new TokenExchange({
    providers,
    signer: tracing ? traceSigner(signer) : signer,
    settings: {
      issuer: config.issuer,
      subjectTemplate: config.subjectTemplate,
      tokenType: config.tokenType,
      limits: config.limits,
      delegationActor: config.tokenEndpoint.delegation.actor,
    },
    mintedTokens,
  });
  // issue 22: the Transaction Token Service (src/txn-tokens), when `txnTokens` is configured.
  const txnIssuer = config.txnTokens
    ? createTxnTokenIssuer(config.txnTokens, { signer: tracing ? traceSigner(signer) : signer, issuer: config.issuer })
    : undefined;
  const report = createExchangeReporter(logger, observer);
  const readiness = createReadiness({
    signing: () => keys.store.status(),
    onKeysChange: (listener) => keys.store.onChange(listener),
    providers: () => providers.all(),
  });

  // gRPC: AuthAPI, health, reflection; admission for all of them.
  const refused = throttledCounter((count, path, code) =>
    logger.warn({ refused: count, lastMethod: path, reason: code }, 'calls refused by admission (draining or overloaded)'),
  );
  const admission = createAdmission({
    maxConcurrentCalls: config.grpc.maxConcurrentCalls,
    maxStreams: config.grpc.maxWatchStreams,
    defaultDeadline: config.grpc.defaultDeadline,
    isAccepting: () => accepting,
    ruleFor: admissionRuleFor,
    onRefused: (path, error) => {
      refused(path, error.code);
      // A refused call at an exchange door is one of its requests (metrics only: the log line above is throttled).
      const door = GRPC_DOORS.get(path);
      if (door)
        observer.onExchange?.({
          door,
          provider: '_unknown',
          outcome: error.kind,
          durationSeconds: 0,
          reason: error.code,
          refused: refusalOf(error),
        });
    },
  });
  const health = new HealthService(['', AUTH_SERVICE_NAME, ...(config.edge.extAuthz.enabled ? [EXT_AUTHZ_SERVICE_NAME] : [])]);
  const authApiDefinition = loadAuthProto().auth.v1alpha1.AuthAPI.service;
  const providerIds = new Set(config.providers.map((p) => p.id));
  const authApi = createAuthApi({ exchange, providerIds, report, reuseMinted: config.mintedTokens.getJwt });

  // ---- Edge doors (issue 12): Envoy ext_authz on the gRPC port, forward-auth on an HTTP listener ----
  const edgeSettings = config.edge;
  const edgeTxnTokens = buildEdgeTxnTokens(config, exchange, txnIssuer, () => keys.store.jwks());
  const edgeGrpcServices: GrpcService[] = [];
  if (config.edge.extAuthz.enabled) {
    const { definition, encodeResponse } = extAuthzService();
    const extAuthz = createExtAuthz({
      exchange,
      settings: edgeSettings,
      onUnavailable: config.edge.extAuthz.onUnavailable,
      providerIds,
      report,
      encodeResponse,
      txnTokens: edgeTxnTokens,
    });
    edgeGrpcServices.push({ definition, implementation: tracing ? traceUnaryService(definition, extAuthz) : extAuthz });
  }
  const forwardAuthRoutes: HttpRoute[] = config.edge.forwardAuth.enabled
    ? [
        createForwardAuthRoute({
          path: config.edge.forwardAuth.path,
          exchange,
          settings: edgeSettings,
          timeout: config.edge.forwardAuth.timeout,
          maxConcurrent: config.edge.forwardAuth.maxConcurrent,
          providerIds,
          report,
          isAccepting: () => accepting,
          txnTokens: edgeTxnTokens,
        }),
      ]
    : [];
  const publicEdgeRoutes = config.edge.forwardAuth.listener === 'public' ? forwardAuthRoutes : [];
  const internalEdgeRoutes = config.edge.forwardAuth.listener === 'internal' ? forwardAuthRoutes : [];
  if (publicEdgeRoutes.length)
    logger.warn(
      { path: config.edge.forwardAuth.path, listen: config.http.listen },
      'CONFIG WARNING: forward-auth is served on the public HTTP listener (edge.forwardAuth.listener: public): that port must not be reachable from outside the cluster',
    );
  // ---- end edge doors ----

  const grpcCredentials = createGrpcCredentials(config.grpc.tls);
  const grpc = await startGrpcServer(
    config.grpc,
    [
      { definition: authApiDefinition, implementation: tracing ? traceUnaryService(authApiDefinition, authApi) : authApi },
      ...edgeGrpcServices,
    ],
    {
      credentials: grpcCredentials.credentials,
      // Metrics outermost (they see every status, admission's included), admission closest to the handlers.
      interceptors: [metrics.grpcInterceptor, ...(options.grpc?.interceptors ?? []), admission.interceptor],
      register: [
        (server) => health.addToServer(server),
        ...(config.grpc.reflection
          ? [(server: Parameters<typeof health.addToServer>[0]) => createReflectionService().addToServer(server)]
          : []),
      ],
    },
  );

  // issue 13: discovery members of the token endpoint, known once the internal listener is up.
  let tokenEndpointMetadata: Record<string, unknown> = {};

  const issuer = config.issuer.replace(/\/$/, '');
  const http = await startHttpServer(
    config.http.listen,
    createRouter([
      ...createPublicRoutes({
        issuer: config.issuer,
        jwksUri: config.jwksUri ?? `${issuer}/.well-known/jwks.json`,
        keys: {
          jwks: () => keys.store.jwks(),
          algorithms: () => [...new Set([...keys.store.jwks().keys.map((k) => k.alg!), ...(config.keys.advertisedAlgorithms ?? [])])],
        },
        jwksMaxAge: config.keys.jwksMaxAge,
        claims: [
          ...MINTED_CLAIMS,
          ...new Set([
            ...DEFAULT_PROFILE_CLAIMS,
            ...config.providers.flatMap((p) => [...Object.keys(p.claims), ...Object.keys(p.policy?.claims ?? {})]),
          ]),
        ],
        corsOrigins: config.http.cors.allowOrigins,
        discoveryExtras: () => tokenEndpointMetadata,
      }),
      ...createProbeRoutes({ ready: () => readiness.report(), metrics: () => metrics.exposition() }),
      ...publicEdgeRoutes,
    ]),
    config.http.tls,
  );

  // Internal HTTP doors (forward-auth, token endpoint): their own listener, started only when one is enabled.
  const internalRoutes: HttpRoute[] = [...internalEdgeRoutes];
  // --- issue 13: RFC 8693 token endpoint --------------------------------------------------------
  let clientAuthentication: ClientAuthentication | undefined;
  if (config.tokenEndpoint.enabled) {
    // issue 21: who the caller is (mTLS, client assertions, federated workload tokens, or none).
    clientAuthentication = buildClientAuthentication(config, { logger, fetch: options.fetch });
    if (clientAuthentication.replayCache)
      metrics.watchReplayCache(clientAuthentication.replayCache, config.tokenEndpoint.clientAuthentication.replayCache.store ?? 'memory');
    const subjectIssuers = new Map<string, string>();
    // issue 21: a Kubernetes provider's tokens are JWTs of its cluster issuer, like an OIDC provider's.
    const jwtIssuerOf = (p: Config['providers'][number]) => p.oidc?.issuer ?? p.kubernetes?.issuer;
    for (const p of config.providers) {
      const iss = jwtIssuerOf(p);
      if (iss !== undefined && !subjectIssuers.has(iss)) subjectIssuers.set(iss, p.id);
    }
    for (const p of config.providers) subjectIssuers.set(p.id, p.id);
    internalRoutes.push(
      ...createTokenEndpointRoutes({
        path: config.tokenEndpoint.path,
        exchange,
        subjectIssuers,
        clientAuthentication: clientAuthentication.authenticator,
        oidcProviders: new Set(config.providers.filter((p) => jwtIssuerOf(p) !== undefined).map((p) => p.id)),
        // issue 22: the providers that take `…:self_signed` subject tokens.
        selfSignedProviders: new Map(
          config.providers.flatMap((p) => (p.selfSigned ? [[p.id, { accessTokens: p.selfSigned.accessTokens }]] : [])),
        ),
        defaultProvider: config.tokenEndpoint.defaultProvider,
        providerIds,
        report,
        deadline: config.tokenEndpoint.deadline,
        maxConcurrentRequests: config.tokenEndpoint.maxConcurrentRequests,
        isAccepting: () => accepting,
        // issue 22: requested_token_type=…:txn_token (the draft's Txn-Token Request profile).
        requestedTokenTypes: txnIssuer
          ? new Map<string, RequestedTokenTypeHandler>([
              [ACCESS_TOKEN_TYPE, { issuedTokenType: ACCESS_TOKEN_TYPE, exchange: (input, o) => exchange.exchangeBearer(input, o) }],
              [
                TXN_TOKEN_TYPE,
                createTxnTokenRequestHandler({ issuer: txnIssuer, exchange, keys: () => keys.store.jwks(), tokenIssuer: config.issuer }),
              ],
            ])
          : undefined,
      }),
    );
  }
  // --- end issue 13 ------------------------------------------------------------------------------
  const internalHttp = internalRoutes.length
    ? await startHttpServer(config.internalHttp.listen, createRouter(internalRoutes), config.internalHttp.tls)
    : undefined;
  // --- issue 13: advertise the token endpoint where clients can reach it ------------------------
  if (config.tokenEndpoint.enabled && internalHttp) {
    const internalHost = parseHostPort(config.internalHttp.listen).host;
    const url =
      config.tokenEndpoint.url ??
      (isLoopbackHost(internalHost)
        ? `${config.internalHttp.tls ? 'https' : 'http'}://${formatHostPort(internalHost, internalHttp.port)}${config.tokenEndpoint.path}`
        : undefined);
    if (url) {
      const authenticator = clientAuthentication!.authenticator;
      tokenEndpointMetadata = {
        token_endpoint: url,
        grant_types_supported: [TOKEN_EXCHANGE_GRANT],
        // RFC 8414 §2: registered method names only (federated_jwt assertions travel as client_assertion, unregistered).
        token_endpoint_auth_methods_supported: authenticator.methods.filter((m) => m !== 'federated_jwt'),
        ...(authenticator.assertionAlgorithms.length
          ? { token_endpoint_auth_signing_alg_values_supported: authenticator.assertionAlgorithms }
          : {}),
      };
    }
    logger.info(
      {
        path: config.tokenEndpoint.path,
        advertised: url ?? null,
        subjectTokenTypes: [ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE],
        clientAuthentication: clientAuthentication?.authenticator.methods,
        delegation: config.tokenEndpoint.delegation.actor,
      },
      'RFC 8693 token endpoint enabled',
    );
  }
  // --- end issue 13 ------------------------------------------------------------------------------

  readiness.setListening(true);
  readiness.onChange((ready) => health.setServing(ready));

  const grpcAddress = parseHostPort(config.grpc.listen);
  const httpAddress = parseHostPort(config.http.listen);
  logger.info(
    {
      grpc: formatHostPort(grpcAddress.host, grpc.port),
      http: formatHostPort(httpAddress.host, http.port),
      providers: config.providers.map((p) => p.id),
      issuer: config.issuer,
    },
    'authjwt started',
  );

  let stopping: Promise<void> | undefined;
  return {
    grpcPort: grpc.port,
    httpPort: http.port,
    internalHttpPort: internalHttp?.port,
    keys,
    isReady: () => readiness.isReady(),
    stop(graceMs = config.shutdownGrace) {
      stopping ??= (async () => {
        accepting = false;
        readiness.setAccepting(false); // health NOT_SERVING, streamed to watchers
        health.close();
        logger.info({ inFlight: admission.inFlight(), graceMs }, 'shutting down: health NOT_SERVING, draining in-flight calls');
        await grpc.stop(graceMs);
        grpcCredentials.close();
        await http.close();
        await internalHttp?.close();
        await clientAuthentication?.authenticator.close();
        keys.close();
        await providers.close();
        readiness.setListening(false);
        readiness.close();
        logger.info('authjwt stopped');
      })();
      return stopping;
    },
  };
}

/**
 * issue 22: Transaction Tokens at the edge doors — the `edge.txnToken` settings and, with a `txnTokens`
 * section, the Transaction Token Service as the doors use it. The gateway requester is the configured
 * client (`edge.txnToken.requester`); its `req_wl` is the client's registered SPIFFE ID, else its id.
 */
function buildEdgeTxnTokens(
  config: Config,
  exchange: TokenExchange,
  issuer: TxnTokenIssuer | undefined,
  jwks: () => ReturnType<KeyManager['store']['jwks']>,
): EdgeTxnTokenSettings {
  const { mode, requester } = config.edge.txnToken;
  if (!issuer) return { mode };
  const client = config.tokenEndpoint.clientAuthentication.clients.find((c) => c.id === requester);
  return {
    mode,
    requester,
    service: createEdgeTxnTokenService({
      exchange,
      issuer,
      requester: client && {
        kind: 'edge',
        id: client.id,
        subject: client.id,
        issuer: '',
        spiffeId: client.tlsClientAuth?.spiffeId ?? '',
        namespace: '',
        serviceAccount: '',
      },
      keys: jwks,
      tokenIssuer: config.issuer,
    }),
  };
}

/** The exchange's AccessPolicy port over a compiled CEL policy (src/policy knows nothing of the exchange). */
function accessPolicyOf(policy: CompiledPolicy): AccessPolicy {
  return { needs: policy.needs, evaluate: (input) => policy.evaluate(input) };
}

/** Counts events and reports at most once per second (a flood of refused calls must not flood the log). */
function throttledCounter(report: (count: number, path: string, code: string) => void): (path: string, code: string) => void {
  let count = 0;
  let timer: NodeJS.Timeout | undefined;
  let last = { path: '', code: '' };
  return (path, code) => {
    count++;
    last = { path, code };
    if (timer) return;
    report(count, path, code);
    count = 0;
    timer = setTimeout(() => {
      timer = undefined;
      if (count > 0) report(count, last.path, last.code);
      count = 0;
    }, 1_000);
    timer.unref();
  };
}
