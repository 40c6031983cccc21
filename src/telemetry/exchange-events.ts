import { trace } from '@opentelemetry/api';
import { toAuthJwtError, type Outcome } from '../errors.ts';
import type { Caller } from '../exchange/ports.ts';
import type { Logger } from './logger.ts';

/** The front doors of the exchange. */
type Door = 'getjwt' | 'ext_authz' | 'forward_auth' | 'token_endpoint';

export interface ExchangeEvent {
  door: Door;
  /** A configured provider id or "_unknown" (never a raw request value). */
  provider: string;
  outcome: Outcome;
  durationSeconds: number;
  /** Catalogue code of a failure. */
  reason?: string | undefined;
  /** Log-only context of a failure (never a token). */
  detail?: string | undefined;
  strategy?: string | undefined;
  kid?: string | undefined;
  /** The minted token came from the minted-token cache. */
  reused?: boolean | undefined;
  /** Policy rule that denied. */
  rule?: string | undefined;
  /** Edge doors: the request the gateway decides on, `METHOD host/path` without the query (logs only, never a metric label). */
  route?: string | undefined;
  /**
   * Token endpoint: the authenticated client's configured id, `_anonymous` (method none), or undefined
   * when client authentication failed or was not reached. Bounded (configuration): a metric label.
   */
  caller?: string | undefined;
  /** Token endpoint: how the caller authenticated (`none`, `tls_client_auth`, `private_key_jwt`, `federated_jwt`). */
  clientAuth?: string | undefined;
  /** `act.sub` of the minted token (RFC 8693 delegation; a carried-over `act` too): logs and traces only, never a label. */
  actor?: string | undefined;
  /** An unexpected error (a bug), logged with its stack. */
  err?: unknown;
}

/** An edge event's `route`: `METHOD host/path`, without the query (it may carry credentials), control characters or excess length. */
export function describeRoute(method: string, host: string, uri: string): string {
  return `${method} ${host}${uri.split('?')[0]}`.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 256);
}

/** What a transport's status map (grpc/status.ts, http/http-errors.ts) says of a failure, for the event. */
interface ReportedFailure {
  outcome: Outcome;
  reason: string;
  detail: string | undefined;
  unexpected: unknown;
}

/** One exchange at a door: reported once, when it ends; each returns the event it reported. */
export interface ExchangeReport {
  /** The caller proven by client authentication (token endpoint): named on the event by its configured id only. */
  identify(caller: Caller): void;
  succeeded(result: { provider: string; strategy: string; kid: string; reused: boolean; actor?: string | undefined }): ExchangeEvent;
  /**
   * `thrown`: the error whose ErrorInfo metadata names the provider that failed and the rule that
   * denied; `requestedProvider`: the request's provider, used when the error names none.
   */
  failed(failure: ReportedFailure, thrown: unknown, requestedProvider: unknown): ExchangeEvent;
}

/**
 * The reporting every door does for one exchange, in one place: the duration from now, the door (and
 * the edge route) on the event, and the provider label limited to configured ids or "_unknown" —
 * never a request value.
 */
export function beginExchangeReport(
  door: Door,
  options: { report: (event: ExchangeEvent) => void; providerIds: ReadonlySet<string> },
  route?: string,
): ExchangeReport {
  const started = performance.now();
  const durationSeconds = () => (performance.now() - started) / 1000;
  let caller: Pick<ExchangeEvent, 'caller' | 'clientAuth'> = {};
  return {
    identify(c) {
      caller = { caller: c.kind === 'none' ? '_anonymous' : c.id, clientAuth: c.kind };
    },
    succeeded(result) {
      const event: ExchangeEvent = {
        door,
        route,
        ...caller,
        durationSeconds: durationSeconds(),
        provider: result.provider,
        outcome: 'ok',
        strategy: result.strategy,
        kid: result.kid,
        reused: result.reused,
        ...(result.actor !== undefined ? { actor: result.actor } : {}),
      };
      options.report(event);
      return event;
    },
    failed(failure, thrown, requestedProvider) {
      const { metadata } = toAuthJwtError(thrown);
      const provider = metadata.provider ?? requestedProvider;
      const event: ExchangeEvent = {
        door,
        route,
        ...caller,
        durationSeconds: durationSeconds(),
        provider: typeof provider === 'string' && options.providerIds.has(provider) ? provider : '_unknown',
        outcome: failure.outcome,
        reason: failure.reason,
        detail: failure.detail,
        rule: metadata.rule,
        err: failure.unexpected,
      };
      options.report(event);
      return event;
    },
  };
}

export interface ExchangeObserver {
  onExchange?(event: ExchangeEvent): void;
}

/**
 * One log line, span attributes and an observer event per exchange, the same for every door.
 * Successes at debug: at thousands of calls per second an info line each costs real throughput and
 * metrics count them; failures at info (the caller's problem), warn (unavailable) or error (internal).
 */
export function createExchangeReporter(logger: Logger, observer: ExchangeObserver): (event: ExchangeEvent) => void {
  return (event) => {
    observer.onExchange?.(event);
    const span = trace.getActiveSpan();
    if (span) {
      span.setAttributes({
        'authjwt.door': event.door,
        'authjwt.provider': event.provider,
        'authjwt.outcome': event.outcome,
        ...(event.strategy ? { 'authjwt.strategy': event.strategy } : {}),
      });
      if (event.rule) span.setAttribute('authjwt.policy.rule', event.rule);
      if (event.caller) span.setAttribute('authjwt.caller', event.caller);
      if (event.actor) span.setAttribute('authjwt.actor', event.actor);
    }
    const level =
      event.outcome === 'ok' ? 'debug' : event.outcome === 'internal' ? 'error' : event.outcome === 'unavailable' ? 'warn' : 'info';
    if (!logger.isLevelEnabled(level)) return;
    const { door, durationSeconds, err, ...fields } = event;
    logger[level](
      {
        door,
        rpc: door === 'getjwt' ? 'GetJWT' : undefined,
        ...fields,
        durationMs: Math.round(durationSeconds * 1e4) / 10,
        ...(err ? { err } : {}),
      },
      door === 'getjwt' ? 'GetJWT' : door,
    );
  };
}
