import { ServerInterceptingCall, status as GrpcStatus, type ServerInterceptor } from '@grpc/grpc-js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { OUTCOMES, type Outcome } from '../errors.ts';
import type { AccessPolicy } from '../exchange/ports.ts';
import { CountedChildren, type CountedChild } from './counted-children.ts';
import { REFUSALS, type Door, type Refusal } from './exchange-events.ts';
import type { TelemetryObserver } from './observers.ts';

/**
 * Latency buckets (seconds) of the exchanges and gRPC handling: cache hits are sub-millisecond; 0.25 is
 * the latency SLO's threshold (monitoring/slos.yaml) and must stay a bucket boundary.
 */
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
  watchProviders(
    providers: readonly { id: string; reachability: () => 'reachable' | 'unreachable' | 'unknown'; cacheSize: () => number }[],
  ): void;
  /** Publishes whether the replay cache of client assertions answers (issue 21). */
  watchReplayCache(cache: { up: () => boolean }, store: string): void;
  /** Publishes the minted-token cache's size at scrape time. */
  watchMintedTokens(cache: { readonly size: number }): void;
  /**
   * The provider's access policy, counting every decision by rule. `rules`: every rule name the policy
   * can report (its allow rules and `claims.<name>`), so the label values come from configuration only.
   */
  meterPolicy(policy: AccessPolicy, provider: string, rules: readonly string[]): AccessPolicy;
  exposition(): Promise<{ contentType: string; body: string }>;
}

/**
 * Prometheus metrics. Label values come only from configuration and fixed sets (outcomes, endpoints,
 * gRPC codes): a request cannot create a series.
 */
export function createMetrics(options: {
  providerIds: readonly string[];
  version: string;
  /** Enabled doors: their refusal counters exist at 0 from the start (other doors' appear on first use). */
  doors?: readonly Door[];
}): Metrics {
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

  // Counters incremented on every request (issue 24): counted in plain numbers, added at collection.
  const exchangesCounts = new CountedChildren();
  const mintedLookupsCounts = new CountedChildren();
  const cacheRequestsCounts = new CountedChildren();
  const startedCounts = new CountedChildren();
  const handledCounts = new CountedChildren();
  const exchangeDuration = new Histogram({
    name: 'authjwt_exchange_duration_seconds',
    help: 'Requests at every front door (getjwt, ext_authz, forward_auth, token_endpoint, ...), from arrival to answer, by door, provider and outcome; requests refused before the exchange included.',
    labelNames: ['door', 'provider', 'outcome'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const exchanges = new Counter({
    name: 'authjwt_exchange_requests_total',
    help: 'Exchanges by front door (getjwt, ext_authz, forward_auth, token_endpoint), provider and outcome; reused counts minted-token cache hits.',
    labelNames: ['door', 'provider', 'outcome', 'reused'],
    registers: [registry],
    collect: () => exchangesCounts.flush(),
  });
  const refusals = new Counter({
    name: 'authjwt_requests_refused_total',
    help: 'Requests a door answered without running the exchange: admission (draining, overloaded) or a request it could not read (no_token, malformed).',
    labelNames: ['door', 'reason'],
    registers: [registry],
  });
  // DEPRECATED (issue 23): the GetJWT-only names, served at scrape time as views of
  // authjwt_exchange_duration_seconds{door="getjwt"}: the same values by construction, and no work per
  // call (docs/operations.md#deprecated-metrics).
  registerGetJwtViews(registry, exchangeDuration, options.providerIds);
  const policyDecisions = new Counter({
    name: 'authjwt_policy_decisions_total',
    help: 'Access policy decisions by provider, decision (allowed, denied, error) and the rule that decided (empty when allowed).',
    labelNames: ['provider', 'decision', 'rule'],
    registers: [registry],
  });
  const mintedLookups = new Counter({
    name: 'authjwt_minted_token_cache_requests_total',
    help: 'Minted-token cache lookups by result (hit: a minted token was reused; miss: a new one was signed).',
    labelNames: ['result'],
    registers: [registry],
    collect: () => mintedLookupsCounts.flush(),
  });
  const mintedEvictions = new Counter({
    name: 'authjwt_minted_token_cache_evictions_total',
    help: 'Entries dropped from the minted-token cache: capacity (least recently used, beyond mintedTokens.maxEntries) or expired (within refreshMargin of exp).',
    labelNames: ['reason'],
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
    collect: () => cacheRequestsCounts.flush(),
  });
  // issue 21: the token endpoint's callers, by configured client id (a bounded set) — never a request value.
  const callers = new Counter({
    name: 'authjwt_token_endpoint_callers_total',
    help: 'Token endpoint requests by caller (a configured client id; _anonymous: client authentication none; _unauthenticated: it failed), client authentication method and outcome.',
    labelNames: ['caller', 'method', 'outcome'],
    registers: [registry],
  });
  // issue 22: Transaction Tokens at the edge doors, by door, mode (mint, verify) and outcome: fixed sets.
  const edgeTxnTokens = new Counter({
    name: 'authjwt_edge_txn_token_requests_total',
    help: 'Edge requests with a Txn-Token mode, by door (ext_authz, forward_auth), mode (mint: a fresh Txn-Token was asked for; verify: an incoming one was checked) and outcome.',
    labelNames: ['door', 'mode', 'outcome'],
    registers: [registry],
  });
  // issue 22: Txn-Tokens by door, requester (a configured requester or `other`), kind and outcome.
  const txnTokens = new Counter({
    name: 'authjwt_txn_token_requests_total',
    help: 'Transaction Token requests by door, requester (txnTokens.requesters[].client, or other), kind (new, replacement) and outcome.',
    labelNames: ['door', 'requester', 'kind', 'outcome'],
    registers: [registry],
  });
  const txnChild = childPerLabelSet(txnTokens);
  const edgeTxnChild = childPerLabelSet(edgeTxnTokens);
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
    collect: () => startedCounts.flush(),
  });
  const handled = new Counter({
    name: 'grpc_server_handled_total',
    help: 'Total number of RPCs completed on the server, regardless of success or failure.',
    labelNames: [...serverLabels, 'grpc_code'],
    registers: [registry],
    collect: () => handledCounts.flush(),
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
  const cacheChildren = new Map<string, Record<CacheResult, CountedChild>>();
  const cacheChildrenOf = (provider: string) => {
    let children = cacheChildren.get(provider);
    if (!children) {
      const child = (result: CacheResult) => {
        const labeled = cacheRequests.labels(provider, result);
        labeled.inc(0);
        return cacheRequestsCounts.of(labeled);
      };
      children = { hit: child('hit'), miss: child('miss'), shared: child('shared') };
      cacheChildren.set(provider, children);
    }
    return children;
  };
  for (const provider of options.providerIds) cacheChildrenOf(provider);
  for (const result of ['success', 'failure', 'unchanged']) keyReloads.labels(result).inc(0);
  const callerChild = childPerLabelSet(callers);
  const minted = {
    hit: mintedLookups.labels('hit'),
    miss: mintedLookups.labels('miss'),
    capacity: mintedEvictions.labels('capacity'),
    expired: mintedEvictions.labels('expired'),
  };
  for (const child of Object.values(minted)) child.inc(0);
  const mintedLookup = { hit: mintedLookupsCounts.of(minted.hit), miss: mintedLookupsCounts.of(minted.miss) };
  const refusalChildren = new Map<string, Record<Refusal, Counter.Internal>>();
  const refusalsOf = (door: string) => {
    let children = refusalChildren.get(door);
    if (!children) {
      children = Object.fromEntries(REFUSALS.map((r) => [r, refusals.labels(door, r)])) as Record<Refusal, Counter.Internal>;
      refusalChildren.set(door, children);
    }
    return children;
  };
  for (const door of options.doors ?? []) for (const child of Object.values(refusalsOf(door))) child.inc(0);

  // Labeled children are looked up once per label set (label values are bounded, so are the maps):
  // prom-client's labels() hashes its arguments on every call, which shows on the hot path. Door and
  // provider index two maps and the outcome a property: no key string is built per exchange.
  interface OutcomeChildren {
    duration: Histogram.Internal<string>;
    fresh: CountedChild;
    reused: CountedChild | undefined;
  }
  const exchangeChildren = new Map<string, Map<string, Partial<Record<Outcome, OutcomeChildren>>>>();
  const childrenOf = (door: string, provider: string, outcome: Outcome): OutcomeChildren => {
    let byProvider = exchangeChildren.get(door);
    if (!byProvider) {
      byProvider = new Map();
      exchangeChildren.set(door, byProvider);
    }
    let byOutcome = byProvider.get(provider);
    if (!byOutcome) {
      byOutcome = {};
      byProvider.set(provider, byOutcome);
    }
    let children = byOutcome[outcome];
    if (!children) {
      children = {
        duration: exchangeDuration.labels(door, provider, outcome),
        fresh: exchangesCounts.of(exchanges.labels(door, provider, outcome, 'false')),
        reused: undefined,
      };
      byOutcome[outcome] = children;
    }
    return children;
  };

  const observer: TelemetryObserver = {
    onExchange(event) {
      const { door, provider, outcome, durationSeconds, reused, refused } = event;
      const c = childrenOf(door, provider, outcome);
      c.duration.observe(durationSeconds);
      if (reused === true) {
        c.reused ??= exchangesCounts.of(exchanges.labels(door, provider, outcome, 'true'));
        c.reused.inc();
      } else c.fresh.inc();
      if (refused) refusalsOf(door)[refused].inc();
      if (event.txnTokenMode) edgeTxnChild(door, event.txnTokenMode, outcome).inc();
      if (door === 'token_endpoint') callerChild(event.caller ?? '_unauthenticated', event.clientAuth ?? '', outcome).inc();
      if (event.txnRequester !== undefined) txnChild(door, event.txnRequester, event.txnKind ?? 'new', outcome).inc();
    },
    onMintedTokenLookup(result) {
      mintedLookup[result].inc();
    },
    onMintedTokenEviction(reason) {
      minted[reason].inc();
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
    { started: CountedChild; handling: Histogram.Internal<string>; labels: string[]; handled: Map<number, CountedChild> }
  >();
  const childrenFor = (path: string, requestStream: boolean, responseStream: boolean) => {
    let c = methodChildren.get(path);
    if (!c) {
      const [, service = 'unknown', name = 'unknown'] = /^\/([^/]+)\/([^/]+)$/.exec(path) ?? [];
      const type = requestStream ? (responseStream ? 'bidi_stream' : 'client_stream') : responseStream ? 'server_stream' : 'unary';
      const labels = [type, service, name];
      c = { started: startedCounts.of(started.labels(...labels)), handling: handling.labels(...labels), labels, handled: new Map() };
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
          h = handledCounts.of(handled.labels(...c.labels, GRPC_CODE_NAMES[status.code] ?? 'Unknown'));
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
        help: 'Provider reachability as last observed: 1 after an answer (OIDC: and discovery succeeded), 0 after a failure or before any call. Does not affect readiness.',
        labelNames: ['provider'],
        registers: [registry],
        collect() {
          for (const p of providers) this.labels(p.id).set(p.reachability() === 'reachable' ? 1 : 0);
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
    watchMintedTokens(cache) {
      new Gauge({
        name: 'authjwt_minted_token_cache_entries',
        help: 'Minted tokens in the cache (bounded by mintedTokens.maxEntries).',
        registers: [registry],
        collect() {
          this.set(cache.size);
        },
      });
    },
    meterPolicy(policy, provider, rules) {
      const allowed = policyDecisions.labels(provider, 'allowed', '');
      allowed.inc(0);
      const byRule = new Map<string, { denied: Counter.Internal; error: Counter.Internal }>();
      const ruleChildren = (rule: string) => {
        let children = byRule.get(rule);
        if (!children) {
          children = { denied: policyDecisions.labels(provider, 'denied', rule), error: policyDecisions.labels(provider, 'error', rule) };
          byRule.set(rule, children);
        }
        return children;
      };
      for (const rule of rules) {
        const children = ruleChildren(rule);
        children.denied.inc(0);
        children.error.inc(0);
      }
      return {
        needs: policy.needs,
        evaluate(input) {
          const decision = policy.evaluate(input);
          if (decision.allowed) allowed.inc();
          else ruleChildren(decision.rule)[decision.reason === 'error' ? 'error' : 'denied'].inc();
          return decision;
        },
      };
    },
    async exposition() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/**
 * The deprecated GetJWT metrics as views of the door histogram, computed when scraped:
 * `authjwt_getjwt_duration_seconds{provider,outcome}` is `authjwt_exchange_duration_seconds{door="getjwt"}`
 * without the door label, and `authjwt_getjwt_requests_total{provider,outcome}` its `_count` (at 0 for
 * every configured provider and outcome, as the counter always was).
 */
function registerGetJwtViews(registry: Registry, source: Histogram<string>, providerIds: readonly string[]): void {
  const SOURCE = 'authjwt_exchange_duration_seconds';
  const getjwtSeries = async () => (await source.get()).values.filter((v) => v.labels.door === 'getjwt');
  const withoutDoor = ({ door: _door, ...labels }: Record<string, string | number | undefined>) => labels;
  const views: View[] = [
    {
      name: 'authjwt_getjwt_duration_seconds',
      help: 'DEPRECATED: use authjwt_exchange_duration_seconds{door="getjwt"}. GetJWT handling time by provider and outcome.',
      type: 'histogram',
      values: async () =>
        (await getjwtSeries()).map((v) => ({
          labels: withoutDoor(v.labels),
          value: v.value,
          metricName: `authjwt_getjwt_duration_seconds${(v as { metricName?: string }).metricName?.slice(SOURCE.length) ?? ''}`,
        })),
    },
    {
      name: 'authjwt_getjwt_requests_total',
      help: 'DEPRECATED: use authjwt_exchange_duration_seconds_count{door="getjwt"}. GetJWT calls by provider and outcome.',
      type: 'counter',
      values: async () => {
        const counts = new Map<string, number>();
        for (const v of await getjwtSeries())
          if ((v as { metricName?: string }).metricName === `${SOURCE}_count`)
            counts.set(`${v.labels.provider}\0${v.labels.outcome}`, v.value);
        const providers = [...new Set([...providerIds, ...[...counts.keys()].map((k) => k.split('\0')[0]!)])];
        return providers.flatMap((provider) =>
          OUTCOMES.map((outcome) => ({ labels: { provider, outcome }, value: counts.get(`${provider}\0${outcome}`) ?? 0 })),
        );
      },
    },
  ];
  for (const view of views) {
    registry.registerMetric({
      name: view.name,
      help: view.help,
      type: view.type,
      aggregator: 'sum',
      get: async () => ({ name: view.name, help: view.help, type: view.type, aggregator: 'sum', values: await view.values() }),
    } as unknown as Counter);
  }
}

interface View {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values(): Promise<{ labels: Record<string, string | number | undefined>; value: number; metricName?: string }[]>;
}

/**
 * A counter's child per label set, resolved by `labels()` once and remembered: `labels()` hashes its
 * arguments on every call. For counters whose label values come from bounded sets (configured ids, fixed
 * enums), so the map stays small.
 */
function childPerLabelSet(counter: Counter): (...values: string[]) => Counter.Internal {
  const children = new Map<string, Counter.Internal>();
  return (...values) => {
    const key = values.join('\0');
    let child = children.get(key);
    if (!child) {
      child = counter.labels(...values);
      children.set(key, child);
    }
    return child;
  };
}
