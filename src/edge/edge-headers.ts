/**
 * What the edge doors (Envoy ext_authz over gRPC, HTTP forward-auth) share, independent of their
 * transport: how a provider token and a provider choice are read from the headers of the request a
 * gateway is deciding on, and which headers of that request change when it is allowed.
 */
import { authJwtError } from '../errors.ts';
import type { BearerInput } from '../exchange/token-exchange.ts';

/** The `edge` configuration this module reads (header names lower-case). */
export interface EdgeHeaderSettings {
  tokenHeader: string;
  /** Empty: the whole header value is the token. */
  tokenScheme: string;
  /** Empty: no provider header. */
  providerHeader: string;
  defaultProvider?: string | undefined;
  mintedHeader: string;
  mintedScheme: string;
  /** Header name → minted claim name. */
  identityHeaders: Readonly<Record<string, string>>;
  keepProviderToken: boolean;
}

/** A request header's values as the transport gives them (lower-case names): one, several or none. */
export type HeaderLookup = (name: string) => string | readonly string[] | undefined;

/** Per-route settings a gateway sends (Envoy `context_extensions`, the forward-auth URL's query). */
export interface EdgeRoute {
  provider?: string | undefined;
  audience?: readonly string[] | undefined;
}

/** How the upstream request changes when the gateway allows it. */
export interface UpstreamMutation {
  /** Headers to set, replacing any value the client sent. */
  set: [name: string, value: string][];
  /** Headers to remove: identity headers whose claim is absent, the provider token, the provider hint. */
  remove: string[];
}

const MAX_HEADER_VALUE = 1024;
// Visible ASCII and spaces: what every gateway passes through unchanged in a header value.
const HEADER_VALUE = /^[\x20-\x7e]+$/;

/** The bearer token and provider choice of a request, for `TokenExchange.exchangeBearer`. */
export function readBearer(get: HeaderLookup, settings: EdgeHeaderSettings, route: EdgeRoute = {}): BearerInput {
  return {
    token: readToken(get(settings.tokenHeader), settings.tokenScheme),
    providerHint: settings.providerHeader ? single(get(settings.providerHeader)) : undefined,
    defaultProvider: route.provider || settings.defaultProvider,
    audience: route.audience?.length ? route.audience : undefined,
  };
}

function single(values: string | readonly string[] | undefined): string | undefined {
  if (values === undefined) return undefined;
  // Several values of a provider header: passed joined, so that no configured id matches.
  const value = typeof values === 'string' ? values : values.join(',');
  return value.trim() || undefined;
}

/**
 * RFC 6750 §2.1 / RFC 9110 §11.6.2: `<scheme> <token>`, scheme case-insensitive. Another scheme or no
 * header is "no bearer token" (a challenge without an error code); two credentials are refused
 * (RFC 6750 §2: one method per request), whether sent as two headers or joined with a comma (Envoy).
 */
function readToken(values: string | readonly string[] | undefined, scheme: string): string {
  if (values === undefined || values.length === 0) throw authJwtError('REQUEST_MISSING_TOKEN');
  if (typeof values !== 'string' && values.length > 1) throw authJwtError('REQUEST_MULTIPLE_TOKENS');
  const value = (typeof values === 'string' ? values : values[0]!).trim();
  let token = value;
  if (scheme) {
    const space = value.search(/[ \t]/);
    if (space < 0 || value.slice(0, space).toLowerCase() !== scheme.toLowerCase()) throw authJwtError('REQUEST_MISSING_TOKEN');
    token = value.slice(space + 1).trim();
  }
  if (token.includes(',')) throw authJwtError('REQUEST_MULTIPLE_TOKENS');
  if (token.length === 0) throw authJwtError('REQUEST_MISSING_TOKEN');
  return token;
}

/** `audience` of a route: names separated by spaces or commas. */
export function parseAudienceList(value: string | null | undefined): string[] | undefined {
  if (!value) return undefined;
  const list = value.split(/[\s,]+/).filter(Boolean);
  return list.length ? list : undefined;
}

/** The minted token into `mintedHeader`, identity headers from its claims, the provider token and hint out. */
export function upstreamMutation(
  minted: { token: string; claims: Readonly<Record<string, unknown>> },
  settings: EdgeHeaderSettings,
): UpstreamMutation {
  const set: UpstreamMutation['set'] = [
    [settings.mintedHeader, settings.mintedScheme ? `${settings.mintedScheme} ${minted.token}` : minted.token],
  ];
  const remove: string[] = [];
  for (const [header, claim] of Object.entries(settings.identityHeaders)) {
    const value = headerValue(Object.hasOwn(minted.claims, claim) ? minted.claims[claim] : undefined);
    // An absent claim removes the header: a value the client sent must never reach the upstream.
    if (value === undefined) remove.push(header);
    else set.push([header, value]);
  }
  if (!settings.keepProviderToken && settings.tokenHeader !== settings.mintedHeader) remove.push(settings.tokenHeader);
  // The client's provider hint is not an identity: it never reaches the upstream (unless an identity header replaced it).
  if (settings.providerHeader && !Object.hasOwn(settings.identityHeaders, settings.providerHeader)) remove.push(settings.providerHeader);
  return { set, remove };
}

/** Strings, numbers, booleans and string arrays (joined with ","), visible ASCII only; anything else: absent. */
function headerValue(value: unknown): string | undefined {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) text = value.join(',');
  else return undefined;
  text = text.trim();
  return text.length <= MAX_HEADER_VALUE && HEADER_VALUE.test(text) ? text : undefined;
}
