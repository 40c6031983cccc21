/**
 * The error catalogue of authjwt: every `ERR_AUTHJWT_*` code is declared here once, with its kind
 * (which the adapters map to a gRPC status in src/grpc/status.ts and to an HTTP status in
 * src/http/http-errors.ts) and its fixed message. Messages are safe to show to a caller: they never
 * contain a token, a secret or a value taken from the request or from a provider. What varies goes
 * into `detail` (logs and spans only) or `metadata` (safe, bounded values such as a configured
 * provider id; sent to callers as `google.rpc.ErrorInfo` metadata).
 *
 * docs/errors.md is generated from this table (`npm run gen:docs`); a test keeps them equal.
 */
export type ErrorKind =
  /** The request is malformed, names an unknown provider or a type the provider does not accept. */
  | 'invalid_argument'
  /** The credential does not prove the account (bad token, expired, wrong audience, mismatched id). */
  | 'unauthenticated'
  /** A proven identity is not allowed by policy. */
  | 'permission_denied'
  /** A provider or the signing keys cannot be used right now; retrying later may succeed. */
  | 'unavailable'
  /** A limit was hit (overload, load shedding). */
  | 'resource_exhausted'
  /** The caller's deadline passed, or the caller went away. */
  | 'deadline_exceeded'
  /** A bug. */
  | 'internal';

/** Outcome label of metrics and logs: `ok` or an error kind (a small fixed set). */
export type Outcome = 'ok' | ErrorKind;
export const OUTCOMES: readonly Outcome[] = [
  'ok',
  'invalid_argument',
  'unauthenticated',
  'permission_denied',
  'unavailable',
  'resource_exhausted',
  'deadline_exceeded',
  'internal',
];

export interface ErrorDefinition {
  readonly kind: ErrorKind;
  /** Fixed, caller-safe message. */
  readonly message: string;
  /** When it happens and what to do (documentation only). */
  readonly help: string;
}

const define = <T extends Record<string, ErrorDefinition>>(table: T) => table;

/** Names are `<AREA>_<CONDITION>`; the wire code is `ERR_AUTHJWT_<name>`. */
export const ERRORS = define({
  // Request validation: the caller sent something malformed or unknown.
  REQUEST_MISSING_ACCOUNT: { kind: 'invalid_argument', message: 'account is required', help: 'GetJWT without an account.' },
  REQUEST_MISSING_PROVIDER: { kind: 'invalid_argument', message: 'account.provider is required', help: 'Empty provider id.' },
  REQUEST_INVALID_PROVIDER: {
    kind: 'invalid_argument',
    message: 'account.provider is malformed',
    help: 'Provider id longer than 64 bytes or with control characters.',
  },
  REQUEST_UNKNOWN_PROVIDER: {
    kind: 'invalid_argument',
    message: 'account.provider is not a configured provider',
    help: 'No provider with that id in the configuration.',
  },
  REQUEST_MISSING_TYPE: { kind: 'invalid_argument', message: 'account.type is required', help: 'Empty account type.' },
  REQUEST_INVALID_TYPE: {
    kind: 'invalid_argument',
    message: 'account.type must be "oauth" or "oidc"',
    help: 'Auth.js sends "oauth" or "oidc".',
  },
  REQUEST_TYPE_MISMATCH: {
    kind: 'invalid_argument',
    message: 'account.type is not accepted by this provider',
    help: 'The provider\'s `accountTypes` does not list the type sent (next-auth v4 sends "oauth" for every provider, Auth.js v5 "oidc" for OIDC providers).',
  },
  REQUEST_MISSING_ACCOUNT_ID: { kind: 'invalid_argument', message: 'account.provider_account_id is required', help: 'Empty account id.' },
  REQUEST_ACCOUNT_ID_TOO_LONG: {
    kind: 'invalid_argument',
    message: 'account.provider_account_id is too long',
    help: 'Longer than `limits.maxAccountIdBytes` (UTF-8 bytes).',
  },
  REQUEST_INVALID_ACCOUNT_ID: {
    kind: 'invalid_argument',
    message: 'account.provider_account_id contains control characters',
    help: 'C0/C1 controls, DEL, U+2028/U+2029.',
  },
  REQUEST_MISSING_ACCESS_TOKEN: {
    kind: 'invalid_argument',
    message: 'account.access_token is required (generated clients name the field accessToken; Auth.js names it access_token)',
    help: 'Usually an Auth.js `account` passed as-is to a generated client, which ignores `access_token`: map it to `accessToken`.',
  },
  REQUEST_ACCESS_TOKEN_TOO_LONG: {
    kind: 'invalid_argument',
    message: 'account.access_token is too long',
    help: 'Longer than `limits.maxAccessTokenBytes`.',
  },
  REQUEST_INVALID_ACCESS_TOKEN: {
    kind: 'invalid_argument',
    message: 'account.access_token contains characters that no access token has',
    help: 'Only visible ASCII is accepted (RFC 6750 b64token and common formats).',
  },
  REQUEST_NO_PROVIDER: {
    kind: 'invalid_argument',
    message: 'no provider could be chosen for this token',
    help: 'Edge and token endpoint: the token is not a JWT of a configured issuer, and no provider header, subject_issuer or default provider names one.',
  },
  REQUEST_INVALID_AUDIENCE: {
    kind: 'invalid_argument',
    message: 'the requested audience is not one this service issues tokens for',
    help: 'RFC 8693 `audience`/`resource` outside the configured audiences (OAuth error invalid_target).',
  },
  REQUEST_MISSING_TOKEN: {
    kind: 'unauthenticated',
    message: 'no bearer token in the request',
    help: 'Edge: the configured header is absent or has another scheme.',
  },
  REQUEST_MULTIPLE_TOKENS: {
    kind: 'invalid_argument',
    message: 'more than one bearer token in the request',
    help: 'Edge: the token header was sent twice, or with comma-separated values (RFC 6750 §2: one credential per request).',
  },

  // Transaction Tokens at the edge doors (issue 22, docs/txn-tokens.md): a route's mode and the Txn-Token header.
  EDGE_TXN_TOKEN_MISSING: {
    kind: 'unauthenticated',
    message: 'no Txn-Token in the request',
    help: 'Edge, verify mode: the `Txn-Token` header is absent or empty (an internal hop is only reached with a Txn-Token).',
  },
  EDGE_TXN_TOKEN_MULTIPLE: {
    kind: 'invalid_argument',
    message: 'more than one Txn-Token in the request',
    help: 'Edge, verify mode: the `Txn-Token` header was sent twice or with comma-separated values (the draft: exactly one Txn-Token).',
  },
  EDGE_TXN_TOKEN_MODE: {
    kind: 'invalid_argument',
    message: 'the route asks for a Txn-Token mode this service does not serve',
    help: "Edge: the route's `txn_token` (Envoy context_extensions, forward-auth query) is not off, mint or verify, or names mint without `edge.txnToken.requester`, or the `txnTokens` section is not configured.",
  },

  // Token endpoint (RFC 8693): requests that are not a token exchange this service performs.
  TOKEN_REQUEST_MALFORMED: {
    kind: 'invalid_argument',
    message: 'the token request must be an application/x-www-form-urlencoded POST body of at most 64 KiB, without query parameters',
    help: 'Another content type, an oversized or unreadable body, or parameters in the URL (a token in a URL ends up in access logs).',
  },
  TOKEN_REQUEST_MISSING_PARAMETER: {
    kind: 'invalid_argument',
    message: 'grant_type, subject_token and subject_token_type are required (and actor_token_type with actor_token)',
    help: 'One of them is absent or empty; the log names it. RFC 8693 §2.1: `actor_token_type` is required with `actor_token` and must not be sent without it.',
  },
  TOKEN_REQUEST_REPEATED_PARAMETER: {
    kind: 'invalid_argument',
    message: 'a parameter is repeated (only audience and resource may be)',
    help: 'RFC 6749 §3.2: parameters must not be sent twice; RFC 8693 allows several `audience` and `resource`.',
  },
  TOKEN_REQUEST_UNSUPPORTED_GRANT_TYPE: {
    kind: 'invalid_argument',
    message: 'grant_type must be urn:ietf:params:oauth:grant-type:token-exchange',
    help: 'The token endpoint performs RFC 8693 token exchange only (OAuth error unsupported_grant_type).',
  },
  TOKEN_REQUEST_UNSUPPORTED_TOKEN_TYPE: {
    kind: 'invalid_argument',
    message: 'unsupported token type (subject: access_token, or jwt for a JWT of an OIDC provider; requested: access_token)',
    help: '`subject_token_type` other than `urn:ietf:params:oauth:token-type:access_token`, or `…:jwt` for a token that is not a JWT of an OIDC provider; `requested_token_type` other than `…:access_token`.',
  },
  TOKEN_REQUEST_UNSUPPORTED_PARAMETER: {
    kind: 'invalid_argument',
    message: 'scope is not supported, and actor_token_type comes only with actor_token',
    help: 'Minted tokens carry no scope: a request for one is refused rather than silently ignored. RFC 8693 §2.1: `actor_token_type` must not be sent without `actor_token`.',
  },
  // issue 22: subject token types (draft-ietf-oauth-transaction-tokens, Subject Token Types).
  TOKEN_REQUEST_REFRESH_TOKEN_SUBJECT: {
    kind: 'invalid_argument',
    message: 'a refresh token is never accepted as a subject token',
    help: '`subject_token_type=urn:ietf:params:oauth:token-type:refresh_token`: refresh tokens obtain access tokens from their own authorization server only (RFC 6749 §6); the Transaction Tokens draft forbids them as subject tokens. Present the access token.',
  },
  REQUEST_SELF_SIGNED_NOT_ACCEPTED: {
    kind: 'invalid_argument',
    message:
      'self-signed subject tokens are accepted only as subject_token_type urn:ietf:params:oauth:token-type:self_signed, by a selfSigned provider, for the token types it issues',
    help: '`…:self_signed` without a `selfSigned` provider (or with `subject_issuer` naming another kind, or several selfSigned providers and no `subject_issuer`); a selfSigned provider named for another token type or door (GetJWT, the edge); or an access token requested from a self-signed JWT without `selfSigned.accessTokens` (docs/workload-identity.md).',
  },
  TOKEN_REQUEST_UNKNOWN_ISSUER: {
    kind: 'invalid_argument',
    message: 'subject_issuer names no configured provider (send a provider id or its issuer URL)',
    help: '`subject_issuer` is neither a configured provider id nor the `issuer` of a configured OIDC provider (exact match).',
  },
  TOKEN_REQUEST_CLIENT_AUTH_UNSUPPORTED: {
    kind: 'invalid_argument',
    message: 'this client authentication method is not accepted here (never client secrets; see token_endpoint_auth_methods_supported)',
    help: 'A client secret (HTTP Basic, `client_secret`), or a `client_assertion` / certificate method that `tokenEndpoint.clientAuthentication.methods` does not list (docs/token-endpoint.md): credentials the endpoint would not verify are refused (OAuth error invalid_client, HTTP 401), never ignored.',
  },
  TOKEN_REQUEST_ACTOR_NOT_ACCEPTED: {
    kind: 'invalid_argument',
    message: 'actor_token is not accepted here: delegation takes the actor from the authenticated client, or is off',
    help: '`tokenEndpoint.delegation.actor` is `caller` (the authenticated client is the actor) or `none` (no delegation): an actor token is refused rather than ignored.',
  },

  // Client authentication at the token endpoint (RFC 6749 §2.3, RFC 8705, RFC 7523): OAuth invalid_client, HTTP 401.
  CLIENT_AUTH_REQUIRED: {
    kind: 'unauthenticated',
    message: 'client authentication is required',
    help: 'No client credential (certificate, `client_assertion`) and `tokenEndpoint.clientAuthentication.methods` does not list `none`.',
  },
  CLIENT_AUTH_INVALID_CERTIFICATE: {
    kind: 'unauthenticated',
    message: 'the client certificate is not trusted',
    help: 'mTLS: the certificate does not chain to `internalHttp.tls.clientCaFile`, is expired or not yet valid; the log has the TLS verification error.',
  },
  CLIENT_AUTH_UNKNOWN_CLIENT: {
    kind: 'unauthenticated',
    message: 'the credential names no registered client',
    help: 'The certificate (SPIFFE ID, subject, SAN), the assertion `iss`/`sub`, or a federated assertion matches no entry of `tokenEndpoint.clientAuthentication.clients` for that method.',
  },
  CLIENT_AUTH_INVALID_ASSERTION: {
    kind: 'unauthenticated',
    message: 'the client assertion is not valid',
    help: "RFC 7523: signature, algorithm, `typ`, `iss`/`sub`, `aud` (authjwt's issuer or token endpoint), `exp`/`nbf`/`iat`, `jti`, or a lifetime beyond the bound; the log names the check.",
  },
  CLIENT_AUTH_ASSERTION_REPLAYED: {
    kind: 'unauthenticated',
    message: 'the client assertion was already used',
    help: 'A `private_key_jwt` assertion is single-use: its `jti` was seen before (by any replica sharing the replay cache). Sign a new assertion per request.',
  },
  CLIENT_AUTH_CLIENT_ID_MISMATCH: {
    kind: 'unauthenticated',
    message: 'client_id does not name the authenticated client',
    help: 'The `client_id` parameter differs from the client the credential proves: the caller is never taken from the body.',
  },
  CLIENT_AUTH_MULTIPLE_METHODS: {
    kind: 'invalid_argument',
    message: 'more than one client authentication method in the request',
    help: 'RFC 6749 §2.3: a client certificate (with `tls_client_auth` enabled) and a `client_assertion` together, or two assertions.',
  },
  CLIENT_AUTH_REPLAY_CACHE_UNAVAILABLE: {
    kind: 'unavailable',
    message: 'client assertions cannot be checked for replay right now',
    help: 'The replay cache (Redis) is unreachable or slow: `private_key_jwt` assertions are refused (never accepted unchecked) until it answers. Retry with a new assertion.',
  },

  // Delegation (RFC 8693 §4.1 act, §4.4 may_act).
  DELEGATION_ACTOR_REQUIRED: {
    kind: 'permission_denied',
    message: 'the subject token names who may act for it (may_act): present an actor',
    help: 'A subject token with `may_act` is never exchanged without an actor (no silent downgrade to impersonation, keycloak#52691). GetJWT and the edge doors carry no actor: use the token endpoint with `actor_token`.',
  },
  DELEGATION_ACTOR_NOT_ALLOWED: {
    kind: 'permission_denied',
    message: 'the actor is not one the subject token allows (may_act)',
    help: 'The actor (`actor_token`, or the authenticated client) matches none of the identities `may_act` names; the log has the actor id.',
  },
  DELEGATION_INVALID_CLAIM: {
    kind: 'unauthenticated',
    message: 'the token carries an unusable act or may_act claim',
    help: '`act` or `may_act` is not an object with a string `sub` (or `client_id`), or the delegation chain is deeper than 8 actors.',
  },
  DELEGATION_AMBIGUOUS_CHAIN: {
    kind: 'invalid_argument',
    message: 'both the subject token and the actor token carry a delegation chain (act)',
    help: 'RFC 8693 §4.1 nests prior actors in one chain; two chains cannot be merged without inventing an order, so the request is refused.',
  },

  // The upstream token does not prove the account.
  UPSTREAM_INVALID_TOKEN: {
    kind: 'unauthenticated',
    message: 'access token rejected',
    help: 'Bad signature, algorithm not allowed, malformed claims.',
  },
  UPSTREAM_MALFORMED: { kind: 'unauthenticated', message: 'access token is not a JWT', help: 'The `jwt` strategy got an opaque token.' },
  UPSTREAM_EXPIRED: {
    kind: 'unauthenticated',
    message: 'access token expired',
    help: '`exp` passed (beyond `clockTolerance`). Refresh the provider token, then call again.',
  },
  UPSTREAM_NOT_YET_VALID: {
    kind: 'unauthenticated',
    message: 'access token is not valid yet',
    help: '`nbf` in the future beyond `clockTolerance`.',
  },
  UPSTREAM_ISSUED_IN_FUTURE: {
    kind: 'unauthenticated',
    message: 'access token was issued in the future',
    help: '`iat` in the future beyond `clockTolerance`: clocks differ or the token is forged.',
  },
  UPSTREAM_WRONG_ISSUER: {
    kind: 'unauthenticated',
    message: 'access token has another issuer',
    help: 'Token `iss` is not the configured issuer (compare the in-cluster and public IdP URLs; the log shows both).',
  },
  UPSTREAM_WRONG_AUDIENCE: {
    kind: 'unauthenticated',
    message: 'access token was not issued to an accepted client',
    help: 'None of `aud` names an accepted client, or `azp`/`client_id` names another client.',
  },
  UPSTREAM_AUDIENCE_UNVERIFIABLE: {
    kind: 'unauthenticated',
    message: 'opaque access token cannot be bound to the accepted audiences with the userinfo strategy',
    help: 'Use introspection (or jwt) to bind opaque tokens to clients.',
  },
  UPSTREAM_WRONG_TYPE: {
    kind: 'unauthenticated',
    message: 'token is not an access token',
    help: 'An ID, refresh, offline or logout token (by header `typ`, payload `typ`, `token_use` or `token_type`).',
  },
  UPSTREAM_UNKNOWN_KEY: {
    kind: 'unauthenticated',
    message: 'access token signed with an unknown key',
    help: "No key of the provider's JWKS matches, even after a rate-limited refetch.",
  },
  UPSTREAM_INACTIVE: {
    kind: 'unauthenticated',
    message: 'access token is not active',
    help: "Introspection answered `active: false`: revoked, expired, or (Keycloak) the introspecting client is not in the token's audience — see docs/strategies.md.",
  },
  UPSTREAM_REJECTED_BY_PROVIDER: {
    kind: 'unauthenticated',
    message: 'the provider rejected the access token',
    help: 'userinfo or user API answered 401/4xx for the token.',
  },
  UPSTREAM_SUBJECT_MISMATCH: {
    kind: 'unauthenticated',
    message: 'userinfo subject differs from the token subject',
    help: "userinfo strategy with a JWT-shaped token; GitLab: `/oauth/token/info` names another `resource_owner_id` than the user API's `id`.",
  },
  UPSTREAM_NO_ACCOUNT_ID: {
    kind: 'unauthenticated',
    message: 'the provider did not return an account id',
    help: 'The `accountIdClaim` is missing (Keycloak lightweight access tokens have no `sub`: use introspection).',
  },
  UPSTREAM_NOT_ISSUED_TO_CLIENT: {
    kind: 'unauthenticated',
    message: 'access token is not valid for our OAuth app',
    help: 'GitHub app binding: the token belongs to another OAuth app.',
  },
  // issue 21: Kubernetes service-account tokens (the `kubernetes` provider kind, docs/workload-identity.md).
  UPSTREAM_NOT_SERVICE_ACCOUNT_TOKEN: {
    kind: 'unauthenticated',
    message: 'token is not a Kubernetes service-account token',
    help: 'No `kubernetes.io` claim with a namespace and a service account {name, uid}, or `sub` is not `system:serviceaccount:<namespace>:<name>` (a legacy Secret-based token has neither `kubernetes.io` nor `exp`).',
  },
  UPSTREAM_LIFETIME_TOO_LONG: {
    kind: 'unauthenticated',
    message: 'token lifetime exceeds the accepted maximum',
    help: '`exp` − `iat` is over `kubernetes.maxTokenLifetime` (default 24h): request a shorter `expirationSeconds` in the projected volume. A self-signed JWT: `exp` − `iat` or `exp` − now over `selfSigned.maxTokenLifetime` (default 5m).',
  },
  UPSTREAM_TOKEN_REVIEW_REJECTED: {
    kind: 'unauthenticated',
    message: 'the Kubernetes API server does not accept this token',
    help: "TokenReview (`kubernetes.tokenReview: true`) answered `authenticated: false`: the pod, secret or node the token is bound to was deleted, or the service account was deleted or recreated. The log has the API server's reason.",
  },
  // issue 22: self-signed workload JWTs (the `selfSigned` provider kind, docs/workload-identity.md).
  UPSTREAM_UNKNOWN_WORKLOAD: {
    kind: 'unauthenticated',
    message: 'self-signed token of an unregistered workload',
    help: 'The `iss` of a self-signed JWT is not the `id` of a workload of the selfSigned provider (exact match).',
  },
  UPSTREAM_SUBJECT_NOT_ALLOWED: {
    kind: 'unauthenticated',
    message: 'the workload may not assert this subject',
    help: 'A self-signed JWT whose `sub` is neither the workload id nor one of its `subjects`.',
  },
  UPSTREAM_SCOPE_NOT_ALLOWED: {
    kind: 'unauthenticated',
    message: 'the workload may not claim this scope',
    help: "A self-signed JWT whose `scope` holds a value the workload's `scopes` do not list, or malformed (RFC 6749 §3.3).",
  },
  PROVIDER_REPLAY_CACHE_UNAVAILABLE: {
    kind: 'unavailable',
    message: 'self-signed tokens cannot be checked for replay right now',
    help: 'The replay cache of a selfSigned provider is unreachable or slow (`replayStore: redis`), or full of live entries (`memory`, `maxReplayEntries`): self-signed JWTs are refused (never accepted unchecked) until it answers. Retry with a new JWT.',
  },
  UPSTREAM_REPLAYED: {
    kind: 'unauthenticated',
    message: 'this token was already used',
    help: 'A self-signed JWT (single use, `selfSigned.replayProtection`) presented a second time, or without a `jti`: sign a new one per request.',
  },
  UPSTREAM_ACCOUNT_MISMATCH: {
    kind: 'unauthenticated',
    message: 'access token belongs to another account than provider_account_id',
    help: 'The proven account id differs (byte for byte) from `provider_account_id`.',
  },

  // Policy refuses a proven identity.
  POLICY_DENIED: {
    kind: 'permission_denied',
    message: 'access denied by policy',
    help: 'An `allow` rule evaluated to false; ErrorInfo metadata `rule` names it.',
  },
  POLICY_ERROR: {
    kind: 'permission_denied',
    message: 'access denied: a policy rule could not be evaluated',
    help: 'A rule or computed claim failed at run time (missing key, wrong type): fail closed. The log names the rule.',
  },
  POLICY_LOOKUP_FORBIDDEN: {
    kind: 'permission_denied',
    message: 'access denied: the provider refused a lookup the policy needs',
    help: 'GitHub `/user/orgs`, `/user/teams` need the `read:org` scope; GitLab `/groups` needs `read_api`. The log names the rule and the scope.',
  },

  // issue 21: a proven Kubernetes identity the provider's configuration refuses.
  POLICY_DEFAULT_SERVICE_ACCOUNT: {
    kind: 'permission_denied',
    message: 'the default service account is not accepted',
    help: 'Every pod of a namespace without its own service account runs as `default`: give the workload a service account of its own, or set `kubernetes.allowDefaultServiceAccount: true` on the provider.',
  },

  // The provider cannot be used right now.
  PROVIDER_UNREACHABLE: { kind: 'unavailable', message: 'the provider is unreachable', help: 'Network error or timeout.' },
  PROVIDER_BAD_STATUS: { kind: 'unavailable', message: 'the provider call failed', help: '5xx or an unexpected status.' },
  PROVIDER_BAD_RESPONSE: {
    kind: 'unavailable',
    message: 'the provider gave an unusable answer',
    help: 'Invalid JSON or an unexpected shape.',
  },
  PROVIDER_RESPONSE_TOO_LARGE: {
    kind: 'unavailable',
    message: 'the provider answered with an oversized body',
    help: 'Above the 1 MiB body cap.',
  },
  PROVIDER_RATE_LIMITED: {
    kind: 'unavailable',
    message: 'the provider is rate limiting us',
    help: '429, or GitHub 403 with `x-ratelimit-remaining: 0`.',
  },
  PROVIDER_CIRCUIT_OPEN: {
    kind: 'unavailable',
    message: 'the provider is failing; calls are paused briefly',
    help: 'The circuit breaker is open.',
  },
  PROVIDER_CLIENT_AUTH_FAILED: {
    kind: 'unavailable',
    message: 'the provider refused our client credentials',
    help: 'Configuration error: the introspection client or OAuth app credentials (`clientId`, client secret) are wrong or lack permission.',
  },
  PROVIDER_DISCOVERY_FAILED: {
    kind: 'unavailable',
    message: 'OIDC discovery failed',
    help: "The issuer's discovery document could not be fetched or is invalid.",
  },
  PROVIDER_DISCOVERY_INSECURE: {
    kind: 'unavailable',
    message: 'OIDC discovery names an insecure endpoint',
    help: 'An endpoint on another origin is not https.',
  },
  PROVIDER_NO_JWKS: { kind: 'unavailable', message: 'the provider publishes no jwks_uri', help: 'jwt strategy without a JWKS.' },
  PROVIDER_JWKS_UNUSABLE: {
    kind: 'unavailable',
    message: 'the provider publishes no usable signing key',
    help: 'JWKS without an RSA/EC/OKP signing key.',
  },
  PROVIDER_NO_ALGORITHMS: {
    kind: 'unavailable',
    message: 'no asymmetric signing algorithm in common with the provider',
    help: 'Check `algorithms` against what the provider advertises.',
  },
  PROVIDER_NO_INTROSPECTION: {
    kind: 'unavailable',
    message: 'the provider has no introspection endpoint',
    help: 'introspection strategy, but discovery has no `introspection_endpoint`.',
  },
  PROVIDER_NO_USERINFO: {
    kind: 'unavailable',
    message: 'the provider has no userinfo endpoint',
    help: 'userinfo strategy, but discovery has no `userinfo_endpoint`.',
  },
  PROVIDER_KUBERNETES_FORBIDDEN: {
    kind: 'unavailable',
    message: "the Kubernetes API server refused authjwt's credentials",
    help: "Configuration error: discovery, JWKS or TokenReview answered 401/403. Bind authjwt's service account to `system:service-account-issuer-discovery` (discovery, JWKS) and `system:auth-delegator` (TokenReview); check `kubernetes.tokenFile` (docs/workload-identity.md).",
  },
  PROVIDER_CREDENTIALS_UNREADABLE: {
    kind: 'unavailable',
    message: "authjwt's own credentials for the provider cannot be read",
    help: "The service-account token or CA file (`kubernetes.tokenFile`, `kubernetes.caFile`) is missing or unreadable: mount the service-account token (the chart's `kubernetes.mountServiceAccountToken`). The log has the path.",
  },
  PROVIDER_JWKS_FILE_INVALID: {
    kind: 'unavailable',
    message: "the provider's JWKS file cannot be used",
    help: '`kubernetes.jwksFile` is missing, unreadable, not JSON, larger than 1 MiB or has no `keys` list. The last good copy keeps serving after a bad update.',
  },
  PROVIDER_NO_CLIENT_CREDENTIALS: {
    kind: 'unavailable',
    message: 'introspection needs client credentials',
    help: 'Set `clientId` and a client secret.',
  },

  // Transaction Tokens (issue 22, draft-ietf-oauth-transaction-tokens; docs/txn-tokens.md).
  TXN_REQUESTER_UNAUTHENTICATED: {
    kind: 'unauthenticated',
    message: 'a Txn-Token request needs client authentication',
    help: 'The draft requires the TTS to authenticate the requesting workload: use tls_client_auth, private_key_jwt or federated_jwt (docs/token-endpoint.md). OAuth invalid_client (401).',
  },
  TXN_REQUESTER_NOT_ALLOWED: {
    kind: 'permission_denied',
    message: 'this client may not request Txn-Tokens',
    help: 'The authenticated client is not in `txnTokens.requesters`. OAuth unauthorized_client.',
  },
  TXN_ISSUANCE_DENIED: {
    kind: 'permission_denied',
    message: 'the issuance policy refuses a Txn-Token for this requester and subject',
    help: "An `allow` rule of the requester's entry in `txnTokens.requesters` evaluated to false; ErrorInfo metadata `rule` names it. OAuth unauthorized_client.",
  },
  TXN_REPLACEMENT_NOT_ALLOWED: {
    kind: 'permission_denied',
    message: 'this client may not replace Txn-Tokens',
    help: 'A Txn-Token was presented as subject_token by a requester without `replace: true`. OAuth unauthorized_client.',
  },
  TXN_CONTEXT_NOT_ALLOWED: {
    kind: 'permission_denied',
    message: 'request_details or request_context sets a member this client may not set',
    help: "A member not listed in the requester's `requestDetails` / `requestContext` (the draft's example: a downstream service may not set tctx.amount). The log names it. OAuth unauthorized_client.",
  },
  TXN_CONTEXT_MODIFIED: {
    kind: 'permission_denied',
    message: 'a replacement Txn-Token cannot change an asserted tctx or rctx member',
    help: 'Replacement only adds members; a member of the replaced token keeps its value (the draft: never expand, and tctx is immutable through the call chain). OAuth invalid_request.',
  },
  TXN_CONTEXT_MALFORMED: {
    kind: 'invalid_argument',
    message: 'request_details or request_context is not a valid JSON object',
    help: 'Not JSON, not an object, over 8 KiB, deeper than 8 or over 256 members, or a reserved member name; ErrorInfo metadata `parameter` names which. OAuth invalid_request.',
  },
  TXN_SCOPE_INVALID: {
    kind: 'invalid_argument',
    message: 'scope is missing or malformed',
    help: 'A Txn-Token request needs `scope`: 1 to 64 space-separated RFC 6749 scope tokens. OAuth invalid_scope.',
  },
  TXN_SCOPE_WIDENED: {
    kind: 'permission_denied',
    message: 'the requested scope exceeds the subject token or what this client may get',
    help: "A requested scope value is not in the subject token's scope (or the replaced Txn-Token's), or not in the requester's `scopes`. OAuth invalid_scope.",
  },
  TXN_SUBJECT_SCOPE_UNKNOWN: {
    kind: 'permission_denied',
    message: "the subject token's scope cannot be determined",
    help: "The draft: the TTS MUST reject the request and MUST NOT treat an unknown scope as unconstrained. The provider does not tell the token's scope (docs/txn-tokens.md lists which strategies do). OAuth invalid_request.",
  },
  TXN_SUBJECT_TOKEN_EMBEDDED: {
    kind: 'invalid_argument',
    message: 'the Txn-Token would contain the subject token',
    help: 'request_details or request_context carries the presented subject token; the draft forbids a Txn-Token containing it. OAuth invalid_request.',
  },
  TXN_TARGET_INVALID: {
    kind: 'invalid_argument',
    message: 'audience must be the trust domain',
    help: 'A Txn-Token request needs exactly one `audience`, equal to `txnTokens.trustDomain`, and no `resource`. OAuth invalid_target.',
  },
  TXN_TOKEN_INVALID: {
    kind: 'unauthenticated',
    message: 'Txn-Token invalid',
    help: "Bad signature (not signed by authjwt's keys), `typ` not txntoken+jwt, `aud` not the trust domain, an algorithm off the list, or a required claim missing or mistyped; the log has the reason.",
  },
  TXN_TOKEN_EXPIRED: {
    kind: 'unauthenticated',
    message: 'Txn-Token expired',
    help: 'An expired Txn-Token is never accepted and never replaced: request a new one from the subject token.',
  },
  TXN_REPLACEMENTS_EXHAUSTED: {
    kind: 'permission_denied',
    message: 'this transaction was replaced too often',
    help: 'The replaced Txn-Token already went through `txnTokens.maxReplacements` replacements (counted in the token: rctx.req_wl_chain). OAuth invalid_request.',
  },

  // Signing keys.
  KEYS_NO_SIGNING_KEY: {
    kind: 'unavailable',
    message: 'no signing key is available',
    help: 'No key in `keys.dir` may sign now (empty, invalid, or all waiting for their publish lead time).',
  },

  // Key files (reported in logs and, by code only, in /readyz; never returned to callers).
  KEYS_FILE_INVALID: { kind: 'unavailable', message: 'a key file is invalid', help: 'Neither PEM nor JWK JSON, or unparsable.' },
  KEYS_FILE_TOO_LARGE: { kind: 'unavailable', message: 'a key file is larger than 64 KiB', help: 'Not a key file.' },
  KEYS_ENCRYPTED: {
    kind: 'unavailable',
    message: 'a key file is encrypted',
    help: 'Store keys unencrypted in the Secret (the Secret is the protection).',
  },
  KEYS_NOT_PRIVATE: {
    kind: 'unavailable',
    message: 'a key file holds no private key',
    help: 'Public keys and certificates are published from the private keys; do not mount them as keys.',
  },
  KEYS_UNSUPPORTED_KEY: {
    kind: 'unavailable',
    message: 'a key file holds an unsupported key type',
    help: 'RSA (≥ 2048 bits), EC P-256/P-384 and Ed25519 are supported.',
  },
  KEYS_KEY_TOO_SMALL: { kind: 'unavailable', message: 'an RSA key is shorter than 2048 bits', help: 'Generate a 2048-bit or larger key.' },
  KEYS_ALG_MISMATCH: { kind: 'unavailable', message: "a key's alg does not fit its type", help: 'The JWK `alg` must match the key type.' },
  KEYS_WRONG_USE: { kind: 'unavailable', message: 'a key is not for signatures', help: 'JWK `use` must be `sig` or absent.' },
  KEYS_DUPLICATE_KID: { kind: 'unavailable', message: 'two keys have the same kid', help: 'kids must be unique across the key directory.' },
  KEYS_NO_KEYS: { kind: 'unavailable', message: 'the key directory holds no key', help: 'Mount at least one private key.' },
  KEYS_UNREADABLE: {
    kind: 'unavailable',
    message: 'the key directory cannot be read',
    help: 'Missing directory or permissions; the log has the path.',
  },
  CONFIG_INVALID: {
    kind: 'internal',
    message: 'invalid configuration',
    help: 'At start only: the process exits with code 2 naming each bad field.',
  },

  // Admission: limits and lifecycle.
  SHUTTING_DOWN: {
    kind: 'unavailable',
    message: 'server is shutting down',
    help: 'Draining after SIGTERM; retry against another replica.',
  },
  OVERLOADED: {
    kind: 'resource_exhausted',
    message: 'server is overloaded, retry with backoff',
    help: '`grpc.maxConcurrentCalls` calls (and Watch streams) are in progress.',
  },
  DEADLINE: { kind: 'deadline_exceeded', message: 'deadline exceeded', help: "The caller's deadline, or `grpc.defaultDeadline`, passed." },
  CANCELLED: { kind: 'deadline_exceeded', message: 'call cancelled', help: 'The caller went away.' },
  INTERNAL: { kind: 'internal', message: 'internal error', help: 'A bug: the log has the stack.' },
});

export type ErrorName = keyof typeof ERRORS;
export type ErrorCode = `ERR_AUTHJWT_${ErrorName}`;

/** The wire code of a catalogue entry: the one place codes are spelled out. */
export const errorCode = (name: ErrorName): ErrorCode => `ERR_AUTHJWT_${name}`;

/** Safe, bounded values that may be shown to callers (ErrorInfo metadata): configured ids, rule names, limits. */
export type ErrorMetadata = Readonly<Record<string, string>>;

export interface ErrorOptions {
  cause?: unknown;
  /** Context for logs and spans only (never a token or a secret). */
  detail?: string | undefined;
  metadata?: ErrorMetadata | undefined;
}

export class AuthJwtError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly detail: string | undefined;
  readonly metadata: ErrorMetadata;

  constructor(name: ErrorName, options: ErrorOptions = {}) {
    const definition = ERRORS[name];
    super(definition.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AuthJwtError';
    this.code = errorCode(name);
    this.kind = definition.kind;
    this.detail = options.detail;
    this.metadata = options.metadata ?? {};
  }

  /** The same error with more metadata (a new object: errors may be shared between callers). */
  withMetadata(metadata: ErrorMetadata): AuthJwtError {
    const copy = new AuthJwtError(this.code.slice('ERR_AUTHJWT_'.length) as ErrorName, {
      cause: this.cause,
      detail: this.detail,
      metadata: { ...this.metadata, ...metadata },
    });
    copy.stack = this.stack;
    return copy;
  }
}

export const authJwtError = (name: ErrorName, options?: ErrorOptions) => new AuthJwtError(name, options);

export const isAuthJwtError = (e: unknown): e is AuthJwtError => e instanceof AuthJwtError;

/** The catalogue entry for any thrown value: AuthJwtErrors as they are, aborts as deadline, the rest INTERNAL. */
export function toAuthJwtError(error: unknown): AuthJwtError {
  if (isAuthJwtError(error)) return error;
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError'))
    return new AuthJwtError('DEADLINE', { cause: error });
  return new AuthJwtError('INTERNAL', { cause: error });
}

/** Configuration problems found at start; `path` names the offending field (e.g. `providers[1].issuer`). Exit code 2. */
export class ConfigError extends Error {
  readonly code = 'ERR_AUTHJWT_CONFIG_INVALID';
  readonly issues: readonly { path: string; message: string }[];
  constructor(issues: readonly { path: string; message: string }[], source?: string) {
    super(
      `invalid configuration${source ? ` in ${source}` : ''}:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
