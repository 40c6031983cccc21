import { trace } from '@opentelemetry/api';
import { toAuthJwtError, type Outcome } from '../errors.ts';
import type { Caller } from '../exchange/ports.ts';
import type { Logger } from './logger.ts';

/**
 * The front doors of the exchange, as the `door` label of the metrics and logs. A new door is one more
 * entry here: the metrics, the SLOs and the dashboard group by the label, so nothing else lists doors.
 */
const DOORS = ['getjwt', 'ext_authz', 'forward_auth', 'token_endpoint'] as const;
export type Door = (typeof DOORS)[number];

/**
 * Why a door answered without running the exchange: admission (`draining` after SIGTERM, `overloaded`
 * beyond a concurrency limit) or a request it could not read (`no_token`: no bearer token at an edge
 * door; `malformed`: anything else the door cannot parse).
 */
export const REFUSALS = ['draining', 'overloaded', 'no_token', 'malformed'] as const;
export type Refusal = (typeof REFUSALS)[number];

/** The refusal a pre-exchange error stands for (admission codes by name; everything else the door could not read). */
export function refusalOf(error: unknown): Refusal {
  const { code } = toAuthJwtError(error);
  return code === 'ERR_AUTHJWT_SHUTTING_DOWN'
    ? 'draining'
    : code === 'ERR_AUTHJWT_OVERLOADED'
      ? 'overloaded'
      : code === 'ERR_AUTHJWT_REQUEST_MISSING_TOKEN' || code === 'ERR_AUTHJWT_EDGE_TXN_TOKEN_MISSING'
        ? 'no_token'
        : 'malformed';
}

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
  /**
   * Edge doors (issue 22): the route's Txn-Token mode when not `off` — `mint` (a Txn-Token was asked
   * for) or `verify` (an incoming one was checked). A metric label (a fixed set).
   */
  txnTokenMode?: 'mint' | 'verify' | undefined;
  /** Answered before the exchange ran (admission, or a request the door could not read). */
  refused?: Refusal | undefined;
  /**
   * Transaction Tokens (issue 22): the configured requester (`txnTokens.requesters[].client`) or `other`,
   * and whether the request starts a transaction or replaces a Txn-Token. Bounded: metric labels.
   */
  txnRequester?: string | undefined;
  txnKind?: 'new' | 'replacement' | undefined;
  /** The issued Txn-Token's `txn` (logs and the span, never a label) and a SHA-256 prefix of the token: never the token (the draft's MUST). */
  txn?: string | undefined;
  txnTokenHash?: string | undefined;
  /** An unexpected error (a bug), logged with its stack. */
  err?: unknown;
}

/** What a door reports of an issued Txn-Token: never the token itself. */
export interface TxnReport {
  txn: string;
  /** First 16 hex digits of the token's SHA-256: joins the TTS's log with a workload's hash of the token it got. */
  tokenHash: string;
}

/** The Txn-Token of an event, for {@link TXN_TOKEN_HASH_PROPERTY}. */
const txnReports = new WeakMap<ExchangeEvent, TxnReport>();
/**
 * `txnTokenHash` of an event, read from its {@link TxnReport} when read (the report computes it on
 * first use). One getter for every event: a getter per event would give each event its own hidden
 * class, and every reader of events (metrics, spans, the log) would slow down.
 */
const TXN_TOKEN_HASH_PROPERTY: PropertyDescriptor = {
  get(this: ExchangeEvent) {
    return txnReports.get(this)?.tokenHash;
  },
  enumerable: true,
  configurable: true,
};

const ROUTE_CONTROL = /[\u0000-\u001f\u007f]/;
const ROUTE_CONTROLS = /[\u0000-\u001f\u007f]/g;

/** An edge event's `route`: `METHOD host/path`, without the query (it may carry credentials), control characters or excess length. */
export function describeRoute(method: string, host: string, uri: string): string {
  const query = uri.indexOf('?');
  const route = `${method} ${host}${query < 0 ? uri : uri.slice(0, query)}`;
  // Tested first: on every edge request, and a clean route (the usual case) needs no replace (issue 24).
  return (ROUTE_CONTROL.test(route) ? route.replace(ROUTE_CONTROLS, '') : route).slice(0, 256);
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
  /** Labels every event of this exchange carries from now on (Txn-Token requester and kind; the edge's Txn-Token mode). */
  annotate(fields: Pick<ExchangeEvent, 'txnRequester' | 'txnKind' | 'txnTokenMode'>): void;
  succeeded(result: {
    provider: string;
    strategy: string;
    kid: string;
    reused: boolean;
    actor?: string | undefined;
    txn?: TxnReport | undefined;
  }): ExchangeEvent;
  /**
   * `thrown`: the error whose ErrorInfo metadata names the provider that failed and the rule that
   * denied; `requestedProvider`: the request's provider, used when the error names none.
   */
  failed(failure: ReportedFailure, thrown: unknown, requestedProvider: unknown): ExchangeEvent;
  /** Like `failed`, for a request answered before the exchange ran: the event also names the {@link Refusal}. */
  refused(failure: ReportedFailure, thrown: unknown, requestedProvider?: unknown): ExchangeEvent;
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
  return new DoorExchangeReport(door, options, route);
}

/** One object per request, its methods shared (issue 24: no closures allocated per request). */
class DoorExchangeReport implements ExchangeReport {
  readonly #door: Door;
  readonly #options: { report: (event: ExchangeEvent) => void; providerIds: ReadonlySet<string> };
  readonly #route: string | undefined;
  readonly #started = performance.now();
  #caller: Pick<ExchangeEvent, 'caller' | 'clientAuth' | 'txnRequester' | 'txnKind' | 'txnTokenMode'> = {};

  constructor(
    door: Door,
    options: { report: (event: ExchangeEvent) => void; providerIds: ReadonlySet<string> },
    route: string | undefined,
  ) {
    this.#door = door;
    this.#options = options;
    this.#route = route;
  }

  #durationSeconds(): number {
    return (performance.now() - this.#started) / 1000;
  }

  identify(c: Caller): void {
    this.#caller = { ...this.#caller, caller: c.kind === 'none' ? '_anonymous' : c.id, clientAuth: c.kind };
  }

  annotate(fields: Pick<ExchangeEvent, 'txnRequester' | 'txnKind' | 'txnTokenMode'>): void {
    this.#caller = { ...this.#caller, ...fields };
  }

  succeeded(result: Parameters<ExchangeReport['succeeded']>[0]): ExchangeEvent {
    const event: ExchangeEvent = {
      door: this.#door,
      route: this.#route,
      ...this.#caller,
      durationSeconds: this.#durationSeconds(),
      provider: result.provider,
      outcome: 'ok',
      strategy: result.strategy,
      kid: result.kid,
      reused: result.reused,
      ...(result.actor !== undefined ? { actor: result.actor } : {}),
    };
    if (result.txn) {
      event.txn = result.txn.txn;
      // Read when the event is logged (successes log at debug): the hash is computed only then.
      txnReports.set(event, result.txn);
      Object.defineProperty(event, 'txnTokenHash', TXN_TOKEN_HASH_PROPERTY);
    }
    this.#options.report(event);
    return event;
  }

  failed(failure: ReportedFailure, thrown: unknown, requestedProvider: unknown): ExchangeEvent {
    const event = this.#failedEvent(failure, thrown, requestedProvider, undefined);
    this.#options.report(event);
    return event;
  }

  refused(failure: ReportedFailure, thrown: unknown, requestedProvider?: unknown): ExchangeEvent {
    const event = this.#failedEvent(failure, thrown, requestedProvider, refusalOf(thrown));
    this.#options.report(event);
    return event;
  }

  #failedEvent(failure: ReportedFailure, thrown: unknown, requestedProvider: unknown, refused: Refusal | undefined): ExchangeEvent {
    const { metadata } = toAuthJwtError(thrown);
    const provider = metadata.provider ?? requestedProvider;
    return {
      door: this.#door,
      route: this.#route,
      ...this.#caller,
      durationSeconds: this.#durationSeconds(),
      provider: typeof provider === 'string' && this.#options.providerIds.has(provider) ? provider : '_unknown',
      outcome: failure.outcome,
      reason: failure.reason,
      detail: failure.detail,
      rule: metadata.rule,
      refused,
      err: failure.unexpected,
    };
  }
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
      // A trace id and a transaction id join here (issue 22); the Txn-Token itself is never recorded.
      if (event.txn) span.setAttribute('authjwt.txn', event.txn);
      if (event.txnRequester) span.setAttribute('authjwt.txn.requester', event.txnRequester);
      if (event.txnTokenMode) span.setAttribute('authjwt.txn_token.mode', event.txnTokenMode);
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
