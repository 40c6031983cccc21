import {
  loadPackageDefinition,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { parseAudienceList, readBearer, upstreamMutation, type EdgeHeaderSettings, type HeaderLookup } from '../edge/edge-headers.ts';
import {
  decideTxnToken,
  readTxnTokenRequest,
  ROUTE_TXN_TOKEN_KEY,
  txnTokenModeOf,
  type EdgeTxnTokenSettings,
  type TxnTokenRequest,
} from '../edge/txn-token-edge.ts';
import type { TokenExchange } from '../exchange/token-exchange.ts';
import { failureBody, toEdgeFailure } from '../http/http-errors.ts';
import { beginExchangeReport, describeRoute, type ExchangeEvent } from '../telemetry/exchange-events.ts';
import { callSignal } from './call-signal.ts';
import { loadExtAuthzPackage } from './proto.ts';
import { grpcCodeOf, toGrpcStatus } from './status.ts';

/** The parts of `envoy.service.auth.v3.CheckRequest` read here (proto-loader objects, camelCase). */
interface CheckRequest {
  attributes?: {
    request?: {
      http?: {
        method?: string;
        host?: string;
        path?: string;
        headers?: Record<string, string>;
        /** Set instead of `headers` when Envoy's `encode_raw_headers` is on. */
        headerMap?: { headers?: { key?: string; value?: string; rawValue?: Uint8Array }[] } | null;
      } | null;
    } | null;
    contextExtensions?: Record<string, string>;
    /** The downstream peer Envoy saw (the client, or the last proxy in front of Envoy). */
    source?: { address?: { socketAddress?: { address?: string } | null } | null } | null;
  } | null;
}

type HeaderValueOption = { header: { key: string; value: string }; appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' };

/** `google.protobuf.Struct` as proto-loader encodes it. */
type Struct = { fields: Record<string, { stringValue: string } | { boolValue: boolean }> };

interface CheckResponse {
  status: { code: number; message: string };
  okResponse?: { headers: HeaderValueOption[]; headersToRemove: string[] };
  deniedResponse?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
  dynamicMetadata: Struct;
}

export interface ExtAuthzOptions {
  exchange: Pick<TokenExchange, 'exchangeBearer'>;
  settings: EdgeHeaderSettings;
  /** `error`: fail the Check call (Envoy: failure_mode_allow / status_on_error); `deny`: DeniedHttpResponse 503. */
  onUnavailable: 'error' | 'deny';
  /** Configured provider ids: the only values allowed as a metric/log label. */
  providerIds: ReadonlySet<string>;
  report: (event: ExchangeEvent) => void;
  /**
   * The wire encoding of a CheckResponse ({@link extAuthzService}). When given, the answer to a
   * minted-token cache hit is encoded once per cached token and the bytes are reused: the same
   * token, identity headers and metadata every time, and encoding was a tenth of a hit's cost.
   */
  encodeResponse?: ((response: CheckResponse) => Buffer) | undefined;
  /** Transaction Tokens (issue 22): the doors' mode and the service; absent: every route is `off`. */
  txnTokens?: EdgeTxnTokenSettings | undefined;
}

const TXN_TOKENS_OFF: EdgeTxnTokenSettings = { mode: 'off' };

/**
 * `envoy.service.auth.v3.Authorization` from Envoy's own protos, with a Check response serializer that
 * passes already-encoded answers (Buffers, see {@link ExtAuthzOptions.encodeResponse}) through.
 */
export function extAuthzService(): { definition: ServiceDefinition; encodeResponse: (response: CheckResponse) => Buffer } {
  const loaded = (
    loadPackageDefinition(loadExtAuthzPackage()) as unknown as {
      envoy: { service: { auth: { v3: { Authorization: { service: ServiceDefinition } } } } };
    }
  ).envoy.service.auth.v3.Authorization.service;
  const check = loaded.Check!;
  const encodeResponse = check.responseSerialize as (response: CheckResponse) => Buffer;
  const responseSerialize = (value: CheckResponse | Buffer) => (Buffer.isBuffer(value) ? value : encodeResponse(value));
  return { definition: { ...loaded, Check: { ...check, responseSerialize } }, encodeResponse };
}

/** `context_extensions` keys a route may set (Envoy `ExtAuthzPerRoute.check_settings`). */
const ROUTE_PROVIDER_KEY = 'provider';
const ROUTE_AUDIENCE_KEY = 'audience';

/**
 * `envoy.service.auth.v3.Authorization/Check`: a thin adapter from Envoy's ext_authz to the exchange.
 * Allowed → OK with the minted token in place of the provider token. A decision against the request
 * (no token, invalid token, policy) → a DeniedHttpResponse (401 with an RFC 6750 challenge, 403).
 * Could not decide (provider or keys unavailable, deadline, a bug) → the call itself fails, which
 * Envoy counts as an authorization-service error: `failure_mode_allow` and `status_on_error` then
 * apply as its documentation says (`onUnavailable: deny` turns a provider outage into a 503 denial).
 * Every answer (allowed and denied) carries `dynamic_metadata` saying why ({@link decisionMetadata}).
 */
export function createExtAuthz(options: ExtAuthzOptions): UntypedServiceImplementation {
  const { settings, encodeResponse } = options;
  const txnTokens = options.txnTokens ?? TXN_TOKENS_OFF;
  /** Encoded answers to minted-token cache hits, by the cache entry's claims object (the same object on every hit of it). */
  const encodedHits = new WeakMap<object, Buffer>();

  const Check = (call: ServerUnaryCall<CheckRequest, CheckResponse>, callback: sendUnaryData<CheckResponse>) => {
    const attributes = call.request?.attributes;
    const http = attributes?.request?.http;
    const route = http ? describeRoute(http.method ?? '', http.host ?? '', http.path ?? '') : undefined;
    const report = beginExchangeReport('ext_authz', options, route);
    const { signal, dispose } = callSignal(call);
    let hint: string | undefined;

    /** `before`: the request could not be read (no usable token): counted as refused before the exchange. */
    const fail = (error: unknown, before = false) => {
      dispose();
      const failure = toEdgeFailure(error);
      const event = before ? report.refused(failure, error, hint) : report.failed(failure, error, hint);
      const undecided = failure.status >= 500 && (options.onUnavailable === 'error' || failure.status === 500);
      if (undecided) {
        const status = toGrpcStatus(error);
        callback({ code: status.code, details: status.details, metadata: status.metadata });
        return;
      }
      const headers = { ...failure.headers, 'content-type': 'application/json' };
      callback(null, {
        status: { code: grpcCodeOf(failure.outcome), message: failure.description },
        deniedResponse: {
          status: { code: failure.status },
          headers: Object.entries(headers).map(([key, value]) => overwrite(key, value)),
          body: failureBody(failure),
        },
        dynamicMetadata: decisionMetadata(event),
      });
    };

    let input: ReturnType<typeof readBearer> | undefined;
    let txnRequest: TxnTokenRequest | undefined;
    try {
      const extensions = attributes?.contextExtensions ?? {};
      const edgeRoute = {
        provider: Object.hasOwn(extensions, ROUTE_PROVIDER_KEY) ? extensions[ROUTE_PROVIDER_KEY] : undefined,
        audience: Object.hasOwn(extensions, ROUTE_AUDIENCE_KEY) ? parseAudienceList(extensions[ROUTE_AUDIENCE_KEY]) : undefined,
      };
      const mode = txnTokenModeOf(Object.hasOwn(extensions, ROUTE_TXN_TOKEN_KEY) ? extensions[ROUTE_TXN_TOKEN_KEY] : undefined, txnTokens);
      if (mode === 'off') {
        input = readBearer(headersOf(http), settings, edgeRoute);
        hint = input.providerHint ?? input.defaultProvider;
      } else {
        // issue 22: the mode on every event; a mint also counts as a Txn-Token request of the gateway requester.
        report.annotate(
          mode === 'mint' ? { txnTokenMode: mode, txnRequester: txnTokens.requester, txnKind: 'new' } : { txnTokenMode: mode },
        );
        txnRequest = readTxnTokenRequest(mode, headersOf(http), settings, edgeRoute);
        if (txnRequest.mode === 'mint') hint = txnRequest.input.providerHint ?? txnRequest.input.defaultProvider;
      }
    } catch (error) {
      fail(error, true);
      return;
    }
    if (txnRequest) {
      // issue 22: never a minted-token cache (one txn per request), never a pre-encoded answer.
      decideTxnToken(txnRequest, settings, txnTokens, {
        reqIp: attributes?.source?.address?.socketAddress?.address || undefined,
        signal,
      }).then((decision) => {
        dispose();
        const event = report.succeeded(decision.result);
        callback(null, {
          status: { code: 0, message: '' },
          okResponse: {
            headers: decision.mutation.set.map(([key, value]) => overwrite(key, value)),
            headersToRemove: decision.mutation.remove,
          },
          dynamicMetadata: decisionMetadata(event),
        });
      }, fail);
      return;
    }
    if (!input) return;
    options.exchange.exchangeBearer(input, { signal, reuseMinted: true }).then((result) => {
      dispose();
      const event = report.succeeded(result);
      const allowed = (): CheckResponse => {
        const mutation = upstreamMutation(result, settings);
        return {
          status: { code: 0, message: '' },
          okResponse: { headers: mutation.set.map(([key, value]) => overwrite(key, value)), headersToRemove: mutation.remove },
          dynamicMetadata: decisionMetadata(event),
        };
      };
      if (result.reused && encodeResponse) {
        let encoded = encodedHits.get(result.claims);
        if (!encoded) {
          encoded = encodeResponse(allowed());
          encodedHits.set(result.claims, encoded);
        }
        // Bytes for extAuthzService()'s serializer, which passes them through.
        callback(null, encoded as unknown as CheckResponse);
        return;
      }
      callback(null, allowed());
    }, fail);
  };
  return { Check };
}

/**
 * `CheckResponse.dynamic_metadata`: Envoy stores it under the filter's name (`envoy.filters.http.ext_authz`)
 * for access logs (`%DYNAMIC_METADATA(envoy.filters.http.ext_authz:reason)%`) and later filters, on
 * allowed and denied answers alike. Only the bounded values of the exchange event: `outcome`, `provider`
 * (a configured id or "_unknown"), `reason` (the catalogue code of a denial), `rule` (the policy rule that
 * denied), `reused` (a minted-token cache hit) and `txn` (the transaction id of a Txn-Token minted or
 * verified, issue 22) — never a token, a claim value or a request value.
 */
function decisionMetadata(event: ExchangeEvent): Struct {
  const fields: Struct['fields'] = { outcome: { stringValue: event.outcome }, provider: { stringValue: event.provider } };
  if (event.reason) fields.reason = { stringValue: event.reason };
  if (event.rule) fields.rule = { stringValue: event.rule };
  if (event.reused !== undefined) fields.reused = { boolValue: event.reused };
  // issue 22: the transaction id of a minted or verified Txn-Token (an identifier, never the token).
  if (event.txn) fields.txn = { stringValue: event.txn };
  return { fields };
}

/**
 * Replace, never append: without an explicit action Envoy's default for `append_action` is
 * APPEND_IF_EXISTS_OR_ADD, which would send the client's header and ours side by side. (Envoy versions
 * from before `append_action` read the deprecated `append`, which defaults to false — replace — here.)
 */
function overwrite(key: string, value: string): HeaderValueOption {
  return { header: { key, value }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

/** Envoy sends lower-case header names; repeated headers joined with "," (`headers`) or as entries (`header_map`). */
function headersOf(http: NonNullable<NonNullable<CheckRequest['attributes']>['request']>['http']): HeaderLookup {
  const map = http?.headers ?? {};
  const raw = http?.headerMap?.headers;
  if (Object.keys(map).length === 0 && raw?.length) {
    const values = new Map<string, string[]>();
    for (const h of raw) {
      if (!h.key) continue;
      const key = h.key.toLowerCase();
      const value = h.value || Buffer.from(h.rawValue ?? []).toString('latin1');
      values.set(key, [...(values.get(key) ?? []), value]);
    }
    return (name) => values.get(name);
  }
  return (name) => (Object.hasOwn(map, name) ? map[name] : undefined);
}
