import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { authJwtError } from '../errors.ts';
import { parseAudienceList, readBearer, upstreamMutation, type EdgeHeaderSettings, type UpstreamMutation } from '../edge/edge-headers.ts';
import {
  decideTxnToken,
  readTxnTokenRequest,
  ROUTE_TXN_TOKEN_KEY,
  txnTokenModeOf,
  type EdgeTxnTokenSettings,
  type TxnTokenRequest,
} from '../edge/txn-token-edge.ts';
import type { TokenExchange } from '../exchange/token-exchange.ts';
import { beginExchangeReport, describeRoute, type ExchangeEvent } from '../telemetry/exchange-events.ts';
import { failureBody, toEdgeFailure } from './http-errors.ts';
import { requestSignal } from './request-signal.ts';
import { send } from './respond.ts';
import type { HttpRoute } from './router.ts';

export interface ForwardAuthOptions {
  /** The endpoint; every path below it is served too (Envoy HTTP ext_authz appends the original path). */
  path: string;
  exchange: Pick<TokenExchange, 'exchangeBearer'>;
  settings: EdgeHeaderSettings;
  /** ms: bound on one check; past it the answer is 503. */
  timeout: number;
  /** Checks handled at once; more are answered 503 at once. */
  maxConcurrent: number;
  /** Configured provider ids: the only values allowed as a metric/log label. */
  providerIds: ReadonlySet<string>;
  report: (event: ExchangeEvent) => void;
  /** False while draining: checks are answered 503 (SHUTTING_DOWN) so the gateway retries elsewhere. */
  isAccepting: () => boolean;
  /** Transaction Tokens (issue 22): the door's mode and the service; absent: every route is `off`. */
  txnTokens?: EdgeTxnTokenSettings | undefined;
}

/** Envoy HTTP ext_authz: the filter removes these headers from the upstream request (its `headers_to_remove`). */
const ENVOY_HEADERS_TO_REMOVE = 'x-envoy-auth-headers-to-remove';

/**
 * HTTP forward-auth for gateways without gRPC ext_authz — nginx `auth_request`, Traefik `ForwardAuth`,
 * Caddy `forward_auth`, Envoy's HTTP ext_authz: the gateway sends the client request's headers (the
 * method, body and path do not matter), authjwt exchanges the provider token and answers
 * - 200 with the minted token in `edge.mintedHeader` (and the identity headers): the gateway copies
 *   them onto the upstream request;
 * - 401 with an RFC 6750 challenge (no, invalid or expired token), 403 (policy), 503 with Retry-After
 *   (provider or keys unavailable, timeout, overload), 500 (a bug): the gateway answers the client so.
 * Per route, the URL the gateway calls may name `?provider=` and `?audience=` (space or comma separated).
 * In-cluster only (docs/gateways.md): it exchanges any bearer token it is shown.
 */
export function createForwardAuthRoute(options: ForwardAuthOptions): HttpRoute {
  const { settings } = options;
  const txnTokens: EdgeTxnTokenSettings = options.txnTokens ?? { mode: 'off' };
  let inFlight = 0;

  const handle = (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const report = beginExchangeReport('forward_auth', options, gatewayRoute(req, path, options.path));
    let hint: string | undefined;

    /** `before`: answered without running the exchange (admission, or no usable token): counted as refused. */
    const deny = (error: unknown, before = false) => {
      const failure = toEdgeFailure(error);
      if (before) report.refused(failure, error, hint);
      else report.failed(failure, error, hint);
      if (res.destroyed) return;
      send(req, res, failure.status, 'application/json', failureBody(failure), failure.headers);
    };

    if (!options.isAccepting()) {
      deny(authJwtError('SHUTTING_DOWN'), true);
      return Promise.resolve();
    }
    if (inFlight >= options.maxConcurrent) {
      deny(authJwtError('OVERLOADED'), true);
      return Promise.resolve();
    }
    let input: ReturnType<typeof readBearer> | undefined;
    let txnRequest: TxnTokenRequest | undefined;
    try {
      const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
      const route = { provider: query.get('provider') ?? undefined, audience: parseAudienceList(query.get('audience')) };
      const get = (name: string) => req.headersDistinct[name];
      // The route's Txn-Token mode only from the URL the gateway is configured to call (nginx, Traefik,
      // Caddy): below the endpoint (Envoy HTTP ext_authz appends the client's path and query) a client
      // could otherwise downgrade an internal hop from verify to off. There, edge.txnToken.mode decides.
      const mode = txnTokenModeOf(path === options.path ? query.get(ROUTE_TXN_TOKEN_KEY) : undefined, txnTokens);
      if (mode === 'off') {
        input = readBearer(get, settings, route);
        hint = input.providerHint ?? input.defaultProvider;
      } else {
        // issue 22: the mode on every event; a mint also counts as a Txn-Token request of the gateway requester.
        report.annotate(
          mode === 'mint' ? { txnTokenMode: mode, txnRequester: txnTokens.requester, txnKind: 'new' } : { txnTokenMode: mode },
        );
        txnRequest = readTxnTokenRequest(mode, get, settings, route);
        if (txnRequest.mode === 'mint') hint = txnRequest.input.providerHint ?? txnRequest.input.defaultProvider;
      }
    } catch (error) {
      deny(error, true);
      return Promise.resolve();
    }

    inFlight++;
    // The gateway gave up (its own timeout, or the client left) or the timeout passed: stop the provider calls.
    const { signal, dispose } = requestSignal(res, options.timeout);
    const allow = (mutation: UpstreamMutation) => {
      if (res.destroyed) return;
      const headers: Record<string, string> = { 'cache-control': 'no-store' };
      for (const [name, value] of mutation.set) headers[name] = value;
      if (mutation.remove.length) headers[ENVOY_HEADERS_TO_REMOVE] = mutation.remove.join(', ');
      send(req, res, 200, 'text/plain; charset=utf-8', '', headers);
    };
    if (txnRequest) {
      // issue 22: never the minted-token cache — one txn per request.
      return decideTxnToken(txnRequest, settings, txnTokens, { reqIp: observedClientIp(req), signal }).then(
        (decision) => {
          done();
          report.succeeded(decision.result);
          allow(decision.mutation);
        },
        (error: unknown) => {
          done();
          deny(error);
        },
      );
    }
    return options.exchange.exchangeBearer(input!, { signal, reuseMinted: true }).then(
      (result) => {
        done();
        report.succeeded(result);
        allow(upstreamMutation(result, settings));
      },
      (error: unknown) => {
        done();
        deny(error);
      },
    );

    function done() {
      inFlight--;
      dispose();
    }
  };

  return {
    paths: [options.path],
    prefixes: [`${options.path.replace(/\/$/, '')}/`],
    // The gateway's subrequest keeps the client's method (nginx, Traefik, Envoy) or uses GET (Caddy).
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    handle,
  };
}

/**
 * `rctx.req_ip` of a Txn-Token minted here: the last `X-Forwarded-For` entry, the address the gateway
 * itself saw (earlier entries are the client's to write); undefined when absent or not an IP address.
 */
function observedClientIp(req: IncomingMessage): string | undefined {
  const forwarded = req.headersDistinct['x-forwarded-for'];
  const last = forwarded?.at(-1)?.split(',').at(-1)?.trim();
  return last && isIP(last) ? last : undefined;
}

/**
 * `METHOD host/path` of the request the gateway decides on, for logs: from X-Forwarded-Method /
 * X-Original-Method, X-Forwarded-Host and X-Original-URI (nginx) / X-Forwarded-Uri (Traefik, Caddy),
 * else (Envoy HTTP ext_authz) the path below the endpoint. Never the query: it may carry credentials.
 */
function gatewayRoute(req: IncomingMessage, path: string, base: string): string {
  const header = (name: string) => {
    const v = req.headers[name];
    return typeof v === 'string' ? v : undefined;
  };
  const method = header('x-forwarded-method') ?? header('x-original-method') ?? req.method ?? '';
  const host = header('x-forwarded-host') ?? header('host') ?? '';
  const uri =
    header('x-original-uri') ?? header('x-forwarded-uri') ?? (path.length > base.length ? path.slice(base.replace(/\/$/, '').length) : '');
  return describeRoute(method, host, uri);
}
