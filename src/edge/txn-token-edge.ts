/**
 * Transaction Tokens at the edge doors (issue 22, draft-ietf-oauth-transaction-tokens), independent of
 * the transport: which mode a route runs in, how the `Txn-Token` header is read, and what changes on
 * the upstream request. Both doors (Envoy ext_authz, HTTP forward-auth) call these; the Transaction
 * Token Service itself (issuance, verification) sits behind the {@link EdgeTxnTokenService} port.
 *
 * - `mint` (the trust-domain edge): the provider token is verified as in an exchange (the
 *   verification cache applies), then a fresh Txn-Token is issued — one `txn` per request, never
 *   taken from a cache — and set in the `Txn-Token` header (never `Authorization`: the draft reserves
 *   that header for the workloads' own use). A client's `Txn-Token` is overwritten, so none can be
 *   smuggled in.
 * - `verify` (an internal hop): the request's `Txn-Token` is checked (signature against authjwt's own
 *   keys, `aud` = the trust domain, `exp`, `typ: txntoken+jwt`) and passed on unmodified.
 */
import { authJwtError } from '../errors.ts';
import type { BearerInput } from '../exchange/token-exchange.ts';
import type { CallOptions } from '../exchange/ports.ts';
import type { TxnReport } from '../telemetry/exchange-events.ts';
import { txnReport } from '../txn-tokens/door.ts';
import {
  readBearer,
  upstreamMutation,
  type EdgeHeaderSettings,
  type EdgeRoute,
  type HeaderLookup,
  type UpstreamMutation,
} from './edge-headers.ts';

/** The draft's HTTP header (§ "Txn-Token" HTTP Header), lower-case as the transports give names. */
const TXN_TOKEN_HEADER = 'txn-token';

export type EdgeTxnTokenMode = 'off' | 'mint' | 'verify';
const MODES: ReadonlySet<string> = new Set(['off', 'mint', 'verify']);

/** A Txn-Token issued at the edge, with what the exchange event reports of the provider token's proof. */
interface EdgeMintedTxnToken {
  token: string;
  txn: string;
  /** `exp`, seconds since the epoch. */
  exp: number;
  claims: Readonly<Record<string, unknown>>;
  /** The configured provider that proved the external token. */
  provider: string;
  strategy: string;
  kid: string;
}

/** Port: the Transaction Token Service as the edge doors use it (wired in src/app.ts). */
export interface EdgeTxnTokenService {
  /**
   * Proves the external token (`input`, as an exchange would: provider choice, verification with its
   * cache, policy) and issues a new Txn-Token for it, requested by `requester` (its `req_wl`).
   * `reqIp`: the client address the gateway observed (`rctx.req_ip`), when known.
   */
  mint(input: BearerInput, request: { requester: string; reqIp: string | undefined }, options?: CallOptions): Promise<EdgeMintedTxnToken>;
  /** Checks a Txn-Token (signature, `aud`, `exp`, `typ`); throws a coded `unauthenticated` error when it fails. */
  verify(token: string): Promise<{ txn: string; claims: Readonly<Record<string, unknown>> }>;
}

/** The doors' Txn-Token settings: `edge.txnToken` and whether the Transaction Token Service is configured. */
export interface EdgeTxnTokenSettings {
  mode: EdgeTxnTokenMode;
  requester?: string | undefined;
  /** Undefined when the `txnTokens` section is absent: every mode but `off` is refused. */
  service?: EdgeTxnTokenService | undefined;
}

/** The key of the route's mode: Envoy `context_extensions`, forward-auth query parameter. */
export const ROUTE_TXN_TOKEN_KEY = 'txn_token';

/** The mode of a request: the route's when it names one (`off`, `mint`, `verify`), else the configured one. */
export function txnTokenModeOf(routeValue: string | null | undefined, settings: EdgeTxnTokenSettings): EdgeTxnTokenMode {
  const value = routeValue === null || routeValue === undefined || routeValue === '' ? settings.mode : routeValue;
  if (!MODES.has(value)) throw authJwtError('EDGE_TXN_TOKEN_MODE', { detail: `route mode ${JSON.stringify(value.slice(0, 16))}` });
  const mode = value as EdgeTxnTokenMode;
  if (mode !== 'off' && !settings.service) throw authJwtError('EDGE_TXN_TOKEN_MODE', { detail: 'no txnTokens section' });
  if (mode === 'mint' && !settings.requester) throw authJwtError('EDGE_TXN_TOKEN_MODE', { detail: 'mint without edge.txnToken.requester' });
  return mode;
}

/**
 * The request's Txn-Token: exactly one (the draft: "The value of this header MUST be exactly one
 * Txn-Token"), sent as the whole header value, no scheme. Two headers or comma-joined values are refused.
 */
export function readTxnToken(get: HeaderLookup): string {
  const values = get(TXN_TOKEN_HEADER);
  if (values === undefined || values.length === 0) throw authJwtError('EDGE_TXN_TOKEN_MISSING');
  if (typeof values !== 'string' && values.length > 1) throw authJwtError('EDGE_TXN_TOKEN_MULTIPLE');
  const token = (typeof values === 'string' ? values : values[0]!).trim();
  if (token.length === 0) throw authJwtError('EDGE_TXN_TOKEN_MISSING');
  if (token.includes(',')) throw authJwtError('EDGE_TXN_TOKEN_MULTIPLE');
  return token;
}

/** What a door reads before it asks the service: the bearer input to mint from, or the Txn-Token to verify. */
export type TxnTokenRequest = { mode: 'mint'; input: BearerInput } | { mode: 'verify'; token: string };

/** Reads a request in `mint` or `verify` mode (throws the coded refusal a door reports as `refused`). */
export function readTxnTokenRequest(
  mode: 'mint' | 'verify',
  get: HeaderLookup,
  settings: EdgeHeaderSettings,
  route: EdgeRoute,
): TxnTokenRequest {
  return mode === 'mint' ? { mode, input: readBearer(get, settings, route) } : { mode, token: readTxnToken(get) };
}

/** What an allowed request in a Txn-Token mode changes upstream and reports. */
export interface TxnTokenDecision {
  mutation: UpstreamMutation;
  /** For the exchange event: the proof (mint) and the transaction; never the token. */
  result: {
    provider: string;
    strategy: string;
    kid: string;
    reused: false;
    txn: TxnReport;
  };
}

/** The provider label of a verified Txn-Token's event: no provider took part (a fixed value, bounded). */
const TXN_TOKEN_PROVIDER_LABEL = '_txn_token';

/** A door's header settings with the minted token in `Txn-Token` (no scheme): derived once per door's settings. */
const txnHeaderSettingsOf = new WeakMap<EdgeHeaderSettings, EdgeHeaderSettings>();
function txnHeaderSettings(settings: EdgeHeaderSettings): EdgeHeaderSettings {
  let derived = txnHeaderSettingsOf.get(settings);
  if (!derived) {
    derived = { ...settings, mintedHeader: TXN_TOKEN_HEADER, mintedScheme: '' };
    txnHeaderSettingsOf.set(settings, derived);
  }
  return derived;
}

/**
 * Runs a request read by {@link readTxnTokenRequest}: mint sets `Txn-Token` (replacing the client's),
 * the identity headers from the Txn-Token's claims, and removes the provider token and hint as an
 * exchange would; verify changes nothing (the draft: the token is passed on unmodified).
 */
export async function decideTxnToken(
  request: TxnTokenRequest,
  settings: EdgeHeaderSettings,
  txn: EdgeTxnTokenSettings,
  context: { reqIp: string | undefined; signal?: AbortSignal | undefined },
): Promise<TxnTokenDecision> {
  const service = txn.service!;
  if (request.mode === 'verify') {
    const verified = await service.verify(request.token);
    return {
      mutation: { set: [], remove: [] },
      result: {
        provider: TXN_TOKEN_PROVIDER_LABEL,
        strategy: 'txn-token',
        kid: '',
        reused: false,
        txn: txnReport(verified.txn, request.token),
      },
    };
  }
  const minted = await service.mint(request.input, { requester: txn.requester!, reqIp: context.reqIp }, { signal: context.signal });
  // The Txn-Token in its own header; the provider token removed (unless keepProviderToken), as is the hint.
  const mutation = upstreamMutation(minted, txnHeaderSettings(settings));
  return {
    mutation,
    result: {
      provider: minted.provider,
      strategy: minted.strategy,
      kid: minted.kid,
      reused: false,
      txn: txnReport(minted.txn, minted.token),
    },
  };
}
