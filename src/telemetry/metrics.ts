import { ServerInterceptingCall, status as GrpcStatus, type ServerInterceptor } from '@grpc/grpc-js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { OUTCOMES } from '../errors.ts';
import type { TelemetryObserver } from './observers.ts';

/** Latency buckets (seconds) for GetJWT and gRPC handling: cache hits are sub-millisecond. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const GRPC_CODE_NAMES = Object.fromEntries(
  Object.entries(GrpcStatus)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v, k]),
) as Record<number, string>;

/** What the key gauges read at scrape time. */
interface KeyStatusSource {
  status(): { publishedKeys: number; signingKeys: number; signingSince: number | undefined; lastReloadError: string | undefined };
}

export interface Metrics {
  registry: Registry;
  observer: TelemetryObserver;
  /** go-grpc-prometheus compatible server metrics for every service on the server. */
  grpcInterceptor: ServerInterceptor;
  /** Publishes keyring state (gauges computed at scrape time). */
  watchKeys(keys: KeyStatusSource): void;
  /** Publishes provider reachability and cache sizes at scrape time. */
  watchProviders(providers: readonly { id: string; reachable: () => boolean; cacheSize: () => number }[]): void;
  /** Publishes whether the replay cache of client assertions answers (issue 21). */
  watchReplayCache(cache: { up: () => boolean }, store: string): void;
  exposition(): Promise<{ contentType: string; body: string }>;
}

/**
 * Prometheus metrics. Label values come only from configuration and fixed sets (outcomes, endpoints,
 * gRPC codes): a request cannot create a series.
 */
export function createMetrics(options: { providerIds: readonly string[]; version: string }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });

  new Gauge({
    name: 'authjwt_build_info',
    help: 'Build information; value is always 1.',
    labelNames: ['version', 'node_version'],
    registers: [registry],
  })
    .labels(options.version, process.versions.node)
    .set(1);

  const requests = new Counter({
    name: 'authjwt_getjwt_requests_total',
    help: 'GetJWT calls by provider and outcome.',
    labelNames: ['provider', 'outcome'],
    registers: [registry],
  });
  const exchanges = new Counter({
    name: 'authjwt_exchange_requests_total',
    help: 'Exchanges by front door (getjwt, ext_authz, forward_auth, token_endpoint), provider and outcome; reused counts minted-token cache hits.',
    labelNames: ['door', 'provider', 'outcome', 'reused'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'authjwt_getjwt_duration_seconds',
    help: 'GetJWT handling time by provider and outcome.',
    labelNames: ['provider', 'outcome'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const providerRequests = new Counter({
    name: 'authjwt_provider_requests_total',
    help: 'HTTP calls to providers by endpoint and result (2xx, 3xx, 4xx, 5xx, timeout, error).',
    labelNames: ['provider', 'endpoint', 'result'],
    registers: [registry],
  });
  const providerDuration = new Histogram({
    name: 'authjwt_provider_request_duration_seconds',
    help: 'Duration of HTTP calls to providers.',
    labelNames: ['provider', 'endpoint'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const metadataFetches = new Counter({
    name: 'authjwt_provider_metadata_fetches_total',
    help: 'Fetches of provider discovery documents and JWKS by result.',
    labelNames: ['provider', 'document', 'result'],
    registers: [registry],
  });
  const cacheRequests = new Counter({
    name: 'authjwt_verification_cache_requests_total',
    help: 'Verification cache lookups: hit, miss, or shared (joined an in-flight verification).',
    labelNames: ['provider', 'result'],
    registers: [registry],
  });
  // issue 21: the token endpoint's callers, by configured client id (a bounded set) — never a request value.
  const callers = new Counter({
    name: 'authjwt_token_endpoint_callers_total',
    help: 'Token endpoint requests by caller (a configured client id; _anonymous: client authentication none; _unauthenticated: it failed), client authentication method and outcome.',
    labelNames: ['caller', 'method', 'outcome'],
    registers: [registry],
  });
  const keyReloads = new Counter({
    name: 'authjwt_key_reloads_total',
    help: 'Key directory reload attempts by result (success, failure, unchanged).',
    labelNames: ['result'],
    registers: [registry],
  });
  const lastReload = new Gauge({
    name: 'authjwt_key_last_successful_reload_timestamp_seconds',
    help: 'Unix time of the last successful key reload.',
    registers: [registry],
  });

  const serverLabels = ['grpc_type', 'grpc_service', 'grpc_method'];
  const started = new Counter({
    name: 'grpc_server_started_total',
    help: 'Total number of RPCs started on the server.',
    labelNames: serverLabels,
    registers: [registry],
  });
  const handled = new Counter({
    name: 'grpc_server_handled_total',
    help: 'Total number of RPCs completed on the server, regardless of success or failure.',
    labelNames: [...serverLabels, 'grpc_code'],
    registers: [registry],
  });
  const handling = new Histogram({
    name: 'grpc_server_handling_seconds',
    help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
    labelNames: serverLabels,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });

  // Pre-create every series with value 0 so rates and ratios have data from the first scrape.
  // A cache lookup happens on every exchange: its children are resolved once per provider, not by
  // labels() (which hashes its arguments) per lookup.
  type CacheResult = 'hit' | 'miss' | 'shared';
  const cacheChildren = new Map<string, Record<CacheResult, Counter.Internal>>();
  const cacheChildrenOf = (provider: string) => {
    let children = cacheChildren.get(provider);
    if (!children) {
      children = {
        hit: cacheRequests.labels(provider, 'hit'),
        miss: cacheRequests.labels(provider, 'miss'),
        shared: cacheRequests.labels(provider, 'shared'),
      };
      cacheChildren.set(provider, children);
    }
    return children;
  };
  for (const provider of options.providerIds) {
    for (const outcome of OUTCOMES) requests.labels(provider, outcome).inc(0);
    for (const child of Object.values(cacheChildrenOf(provider))) child.inc(0);
  }
  for (const result of ['success', 'failure', 'unchanged']) keyReloads.labels(result).inc(0);
  const callerChildren = new Map<string, Counter.Internal>();

  // Labeled children are looked up once per label set (label values are bounded, so is the map):
  // prom-client's labels() hashes its arguments on every call, which shows on the hot path.
  const getJwtChildren = new Map<string, { count: Counter.Internal; time: Histogram.Internal<string> }>();
  const exchangeChildren = new Map<string, Counter.Internal>();
  const observer: TelemetryObserver = {
    onExchange(event) {
      const { door, provider, outcome, durationSeconds, reused } = event;
      const exchangeKey = `${door}\0${provider}\0${outcome}\0${reused === true}`;
      let exchange = exchangeChildren.get(exchangeKey);
      if (!exchange) {
        exchange = exchanges.labels(door, provider, outcome, String(reused === true));
        exchangeChildren.set(exchangeKey, exchange);
      }
      exchange.inc();
      if (door === 'token_endpoint') {
        const caller = event.caller ?? '_unauthenticated';
        const method = event.clientAuth ?? '';
        const key = `${caller}\0${method}\0${outcome}`;
        let child = callerChildren.get(key);
        if (!child) {
          child = callers.labels(caller, method, outcome);
          callerChildren.set(key, child);
        }
        child.inc();
      }
      if (door !== 'getjwt') return;
      const key = `${provider}\0${outcome}`;
      let child = getJwtChildren.get(key);
      if (!child) {
        child = { count: requests.labels(provider, outcome), time: duration.labels(provider, outcome) };
        getJwtChildren.set(key, child);
      }
      child.count.inc();
      child.time.observe(durationSeconds);
    },
    onProviderCall({ provider, endpoint, result, durationSeconds }) {
      providerRequests.labels(provider, endpoint, result).inc();
      providerDuration.labels(provider, endpoint).observe(durationSeconds);
      if (endpoint === 'jwks' || endpoint === 'discovery')
        metadataFetches.labels(provider, endpoint, result === '2xx' ? 'success' : 'failure').inc();
    },
    onCacheLookup(provider, result) {
      cacheChildrenOf(provider)[result].inc();
    },
    onKeyReload(result) {
      keyReloads.labels(result).inc();
      if (result === 'success') lastReload.set(Date.now() / 1000);
    },
  };

  // Per method (a fixed set: the services on this server), children resolved once. Only the status
  // hook is installed: each interceptor hook is a per-call layer in grpc-js, visible on the hot path.
  const methodChildren = new Map<
    string,
    { started: Counter.Internal; handling: Histogram.Internal<string>; labels: string[]; handled: Map<number, Counter.Internal> }
  >();
  const childrenFor = (path: string, requestStream: boolean, responseStream: boolean) => {
    let c = methodChildren.get(path);
    if (!c) {
      const [, service = 'unknown', name = 'unknown'] = /^\/([^/]+)\/([^/]+)$/.exec(path) ?? [];
      const type = requestStream ? (responseStream ? 'bidi_stream' : 'client_stream') : responseStream ? 'server_stream' : 'unary';
      const labels = [type, service, name];
      c = { started: started.labels(...labels), handling: handling.labels(...labels), labels, handled: new Map() };
      methodChildren.set(path, c);
    }
    return c;
  };
  const grpcInterceptor: ServerInterceptor = (method, call) => {
    const c = childrenFor(method.path, method.requestStream, method.responseStream);
    const begin = performance.now();
    c.started.inc();
    return new ServerInterceptingCall(call, {
      sendStatus(status, next) {
        let h = c.handled.get(status.code);
        if (!h) {
          h = handled.labels(...c.labels, GRPC_CODE_NAMES[status.code] ?? 'Unknown');
          c.handled.set(status.code, h);
        }
        h.inc();
        c.handling.observe((performance.now() - begin) / 1000);
        next(status);
      },
    });
  };

  return {
    registry,
    observer,
    grpcInterceptor,
    watchKeys(keys) {
      const s = () => keys.status();
      new Gauge({
        name: 'authjwt_keys_published',
        help: 'Keys published in the JWKS.',
        registers: [registry],
        collect() {
          this.set(s().publishedKeys);
        },
      });
      new Gauge({
        name: 'authjwt_keys_signing',
        help: 'Keys allowed to sign now (0 = cannot mint tokens).',
        registers: [registry],
        collect() {
          this.set(s().signingKeys);
        },
      });
      new Gauge({
        name: 'authjwt_signing_key_age_seconds',
        help: 'Time since the current signing key became active (or was first loaded).',
        registers: [registry],
        collect() {
          const since = s().signingSince;
          this.set(since === undefined ? 0 : Math.max(0, (Date.now() - since) / 1000));
        },
      });
      new Gauge({
        name: 'authjwt_key_reload_failing',
        help: '1 while the last key reload failed (the last good keyring is in use).',
        registers: [registry],
        collect() {
          this.set(s().lastReloadError ? 1 : 0);
        },
      });
    },
    watchProviders(providers) {
      new Gauge({
        name: 'authjwt_provider_up',
        help: 'Provider reachability as last observed (OIDC: discovery succeeded). Does not affect readiness.',
        labelNames: ['provider'],
        registers: [registry],
        collect() {
          for (const p of providers) this.labels(p.id).set(p.reachable() ? 1 : 0);
        },
      });
      new Gauge({
        name: 'authjwt_verification_cache_entries',
        help: 'Entries in the verification cache.',
        labelNames: ['provider'],
        registers: [registry],
        collect() {
          for (const p of providers) this.labels(p.id).set(p.cacheSize());
        },
      });
    },
    watchReplayCache(cache, store) {
      new Gauge({
        name: 'authjwt_replay_cache_up',
        help: 'The replay cache of private_key_jwt assertions answers (1) or not (0: such assertions are refused). store: redis or memory.',
        labelNames: ['store'],
        registers: [registry],
        collect() {
          this.labels(store).set(cache.up() ? 1 : 0);
        },
      });
    },
    async exposition() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
