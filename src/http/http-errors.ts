import { toAuthJwtError, type ErrorCode, type ErrorKind } from '../errors.ts';

/**
 * The ONE map from the error catalogue to HTTP, for the HTTP front doors. Two vocabularies, one
 * taxonomy: OAuth errors (RFC 6749 §5.2, RFC 8693 §2.2.2) for the token endpoint, and RFC 6750 bearer
 * challenges for gateways (forward-auth, and the denied responses of Envoy ext_authz).
 * Descriptions are the catalogue's fixed messages: never a token, a detail or a cause.
 *
 * The deny contract of every door: an explicit status and a JSON body `{"error", "error_description"}`
 * whose `error` is always one of these registered codes (RFC 6749 §5.2 and §4.1.2.1, RFC 6750 §3.1,
 * RFC 8693 §2.2.2, the IANA "OAuth Extensions Error" registry), never null; `error_description` ends
 * with the catalogue code in parentheses, e.g. `access token expired (ERR_AUTHJWT_UPSTREAM_EXPIRED)`.
 */
export const OAUTH_ERROR_CODES = [
  'invalid_request',
  'invalid_client',
  'unsupported_grant_type',
  'invalid_target',
  'invalid_scope',
  'unauthorized_client',
  'invalid_token',
  'access_denied',
  'temporarily_unavailable',
  'server_error',
] as const;
type OAuthErrorCode = (typeof OAUTH_ERROR_CODES)[number];

export interface HttpFailure {
  status: number;
  headers: Record<string, string>;
  /** The body's `error`: an OAuth error (token endpoint) or the edge's code; never absent. */
  error: OAuthErrorCode;
  description: string;
  outcome: ErrorKind;
  reason: ErrorCode;
  detail: string | undefined;
  /** A bug: logged with its stack. */
  unexpected: unknown;
}

/**
 * RFC 8693 §2.2.2: "If the request itself is not valid or if either the subject_token or actor_token
 * are invalid for any reason, or are unacceptable based on policy, [...] the error parameter MUST be
 * the invalid_request error code", with `invalid_target` for an audience or resource it will not
 * issue for. The taxonomy of the other doors stays machine-readable: `error_description` ends with
 * the catalogue code, e.g. `access token expired (ERR_AUTHJWT_UPSTREAM_EXPIRED)`.
 */
const OAUTH: Readonly<Record<ErrorKind, { status: number; error: OAuthErrorCode }>> = {
  invalid_argument: { status: 400, error: 'invalid_request' },
  unauthenticated: { status: 400, error: 'invalid_request' },
  permission_denied: { status: 400, error: 'invalid_request' },
  unavailable: { status: 503, error: 'temporarily_unavailable' },
  resource_exhausted: { status: 429, error: 'temporarily_unavailable' },
  deadline_exceeded: { status: 503, error: 'temporarily_unavailable' },
  internal: { status: 500, error: 'server_error' },
};

/** Codes with an OAuth error of their own. */
const OAUTH_BY_CODE: Readonly<Partial<Record<ErrorCode, { status: number; error: OAuthErrorCode }>>> = {
  // RFC 8693 §2.2.2 (and RFC 8707 §2 for resource).
  ERR_AUTHJWT_REQUEST_INVALID_AUDIENCE: { status: 400, error: 'invalid_target' },
  // RFC 6749 §5.2: a grant type this server does not do is not a token-exchange request at all.
  ERR_AUTHJWT_TOKEN_REQUEST_UNSUPPORTED_GRANT_TYPE: { status: 400, error: 'unsupported_grant_type' },
  // RFC 6749 §5.2: unsupported client authentication method (401; the door adds WWW-Authenticate).
  ERR_AUTHJWT_TOKEN_REQUEST_CLIENT_AUTH_UNSUPPORTED: { status: 401, error: 'invalid_client' },
  // issue 21, RFC 6749 §5.2: client authentication failed (401 invalid_client; the door adds WWW-Authenticate).
  ERR_AUTHJWT_CLIENT_AUTH_REQUIRED: { status: 401, error: 'invalid_client' },
  ERR_AUTHJWT_CLIENT_AUTH_INVALID_CERTIFICATE: { status: 401, error: 'invalid_client' },
  ERR_AUTHJWT_CLIENT_AUTH_UNKNOWN_CLIENT: { status: 401, error: 'invalid_client' },
  ERR_AUTHJWT_CLIENT_AUTH_INVALID_ASSERTION: { status: 401, error: 'invalid_client' },
  ERR_AUTHJWT_CLIENT_AUTH_ASSERTION_REPLAYED: { status: 401, error: 'invalid_client' },
  ERR_AUTHJWT_CLIENT_AUTH_CLIENT_ID_MISMATCH: { status: 401, error: 'invalid_client' },
  // issue 22, Txn-Tokens: the draft's errors are RFC 6749 §5.2's. Requester authentication is required
  // (invalid_client); a requester the issuance policy refuses is an unauthorized_client; scope beyond the
  // subject's is invalid_scope; an audience other than the trust domain is invalid_target. An invalid,
  // expired or over-replaced Txn-Token as subject_token stays invalid_request, as RFC 8693 §2.2.2 requires
  // for every unacceptable subject_token (rather than RFC 6749's invalid_grant, which names grants).
  ERR_AUTHJWT_TXN_REQUESTER_UNAUTHENTICATED: { status: 401, error: 'invalid_client' },
  ERR_AUTHJWT_TXN_REQUESTER_NOT_ALLOWED: { status: 400, error: 'unauthorized_client' },
  ERR_AUTHJWT_TXN_ISSUANCE_DENIED: { status: 400, error: 'unauthorized_client' },
  ERR_AUTHJWT_TXN_REPLACEMENT_NOT_ALLOWED: { status: 400, error: 'unauthorized_client' },
  ERR_AUTHJWT_TXN_CONTEXT_NOT_ALLOWED: { status: 400, error: 'unauthorized_client' },
  ERR_AUTHJWT_TXN_SCOPE_INVALID: { status: 400, error: 'invalid_scope' },
  ERR_AUTHJWT_TXN_SCOPE_WIDENED: { status: 400, error: 'invalid_scope' },
  ERR_AUTHJWT_TXN_TARGET_INVALID: { status: 400, error: 'invalid_target' },
};

/** Token endpoint: the OAuth error response for any thrown value. */
export function toOAuthError(thrown: unknown): HttpFailure {
  const e = toAuthJwtError(thrown);
  const mapped = OAUTH_BY_CODE[e.code] ?? OAUTH[e.kind];
  const headers: Record<string, string> = { 'cache-control': 'no-store', pragma: 'no-cache' };
  if (mapped.status === 503 || mapped.status === 429) headers['retry-after'] = '1';
  return failure(e, mapped.status, headers, mapped.error);
}

/**
 * Edge doors (forward-auth, Envoy ext_authz denied responses). A malformed or missing credential is an
 * authentication failure (401): gateways (nginx auth_request, Caddy, Traefik) only pass 401 and 403 through.
 * - 401 `invalid_token` for every 401, the request without any token included: RFC 6750 §3.1 keeps the
 *   *challenge* of such a request free of an error code (`WWW-Authenticate: Bearer`), but the body still
 *   needs a registered code, and `invalid_token` is the one RFC 6750 pairs with 401 (its
 *   `invalid_request` is a 400); the client's remedy is the same — present a valid bearer token — and
 *   the catalogue code in `error_description` says which case it was.
 * - 403 `access_denied` (RFC 6749 §4.1.2.1, registered) rather than RFC 6750's `insufficient_scope`:
 *   the policy refused a proven identity (an organization, a role, a deny list), which no token with
 *   more scope can change; `insufficient_scope` invites clients to step up and retry with a broader
 *   token. No challenge on a 403 for the same reason.
 * - 503 `temporarily_unavailable` with `Retry-After` (provider or keys down, deadline, overload, draining);
 *   500 `server_error` (a bug).
 */
const EDGE: Readonly<Record<ErrorKind, { status: number; error: OAuthErrorCode }>> = {
  invalid_argument: { status: 401, error: 'invalid_token' },
  unauthenticated: { status: 401, error: 'invalid_token' },
  permission_denied: { status: 403, error: 'access_denied' },
  unavailable: { status: 503, error: 'temporarily_unavailable' },
  resource_exhausted: { status: 503, error: 'temporarily_unavailable' },
  deadline_exceeded: { status: 503, error: 'temporarily_unavailable' },
  internal: { status: 500, error: 'server_error' },
};

/** Edge doors: status, RFC 6750 `WWW-Authenticate` and body code for any thrown value. */
export function toEdgeFailure(thrown: unknown): HttpFailure {
  const e = toAuthJwtError(thrown);
  const { status, error } = EDGE[e.kind];
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (status === 401) {
    // RFC 6750 §3.1: no error code in the challenge when the request carried no credential at all.
    headers['www-authenticate'] =
      e.code === 'ERR_AUTHJWT_REQUEST_MISSING_TOKEN'
        ? 'Bearer'
        : `Bearer error="${error}", error_description="${e.message.replace(/["\\]/g, '')}"`;
  }
  if (status === 503) headers['retry-after'] = '1';
  return failure(e, status, headers, error);
}

/** The JSON body of a failure, the same at every HTTP door: `{"error": …, "error_description": …}` (RFC 6749 §5.2). */
export function failureBody(failure: HttpFailure): string {
  return JSON.stringify({ error: failure.error, error_description: failure.description });
}

function failure(
  e: ReturnType<typeof toAuthJwtError>,
  status: number,
  headers: Record<string, string>,
  error: OAuthErrorCode,
): HttpFailure {
  return {
    status,
    headers,
    error,
    description: `${e.message} (${e.code})`,
    outcome: e.kind,
    reason: e.code,
    detail: e.detail,
    unexpected: e.code === 'ERR_AUTHJWT_INTERNAL' ? e.cause : undefined,
  };
}
