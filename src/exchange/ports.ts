/**
 * What the exchange use case needs from the outside, declared here so that the use case depends on
 * nothing else: providers implement {@link TokenVerifier}, the keys implement {@link Signer}, the
 * policy module implements {@link AccessPolicy}; the composition root (src/app.ts) wires them and
 * wraps them for tracing and metrics.
 */

/**
 * How a token was proven: locally (`jwt`, a Kubernetes token verified against the cluster's keys
 * included; `self-signed`, a registered workload's own JWT), or by a provider call (introspection,
 * userinfo, the user API, a Kubernetes TokenReview).
 */
export type ProofStrategy = 'jwt' | 'introspection' | 'userinfo' | 'user-api' | 'token-review' | 'self-signed';

/**
 * Provider lookups a policy can ask for; fetched by the verifier only when some expression needs them.
 * `github.orgs` are org logins (`GET /user/orgs`), `github.teams` are `"org/team-slug"` (`GET /user/teams`),
 * `gitlab.groups` are group full paths. Every name is a key of {@link LOOKUP_SCOPES}.
 */
export type LookupName = 'github.orgs' | 'github.teams' | 'gitlab.groups';

/** The OAuth scope the user's token needs for each lookup (named in the log when the provider refuses it). */
export const LOOKUP_SCOPES: Readonly<Record<LookupName, string>> = {
  'github.orgs': 'read:org',
  'github.teams': 'read:org',
  'gitlab.groups': 'read_api',
};

/** A lookup the provider refused (token without the scope it needs): policy denies when it needs it. */
export const LOOKUP_FORBIDDEN = 'forbidden';
export type LookupResult = readonly string[] | typeof LOOKUP_FORBIDDEN;

/** The account a provider vouched for. */
export interface VerifiedIdentity {
  /** The provider's account id (OIDC `sub` or the `accountIdClaim`), as a string. */
  accountId: string;
  /**
   * The provider's verified data as returned: the JWT access-token payload; the introspection answer
   * (merged with userinfo where fetched); the user API's JSON. Untrusted shape.
   */
  claims: Readonly<Record<string, unknown>>;
  /** Upstream token expiry (ms since epoch) when known: bounds caching and optionally the minted exp. */
  expiresAt: number | undefined;
  /** The client the upstream token was issued to, when known (azp / client_id / the OAuth app). */
  clientId: string | undefined;
  strategy: ProofStrategy;
  /** Lookups the verifier was asked to fetch (see {@link LookupName}). */
  lookups?: Readonly<Partial<Record<LookupName, LookupResult>>>;
  /**
   * The token's own RFC 8693 delegation claims (`act` §4.1, `may_act` §4.4) as the provider vouched for
   * them, untrusted shape. Set by a verifier whose `claims` are not the token's claims (userinfo: the
   * answer; the JWT payload holds them). Absent: the use case reads them from `claims`, except for
   * `user-api` (a user API's JSON is not token claims).
   */
  delegation?: { act: unknown; mayAct: unknown } | undefined;
  /**
   * The OAuth scopes the subject token carries, as the provider vouched for them (RFC 6749 §3.3 scope
   * tokens, deduplicated, in the provider's order); `[]`: known to carry none. `undefined`: cannot be
   * determined — draft-ietf-oauth-transaction-tokens (§ Unknown `subject_token` scope) then requires
   * refusing a Txn-Token request, never treating it as unconstrained. Per strategy: docs/strategies.md
   * ("Scopes of a subject token").
   */
  scopes?: readonly string[] | undefined;
}

export interface CallOptions {
  /** Aborts provider calls (caller deadline, cancellation, shutdown). */
  signal?: AbortSignal | undefined;
}

/**
 * Port: proves an access token with one provider. Throws AuthJwtError: `unauthenticated` when the
 * token does not prove an account, `unavailable` when the provider cannot be asked.
 */
export interface TokenVerifier {
  verify(token: string, options?: CallOptions): Promise<VerifiedIdentity>;
}

/**
 * How the requester of an exchange authenticated (RFC 6749 §2.3 method names; `federated_jwt`: RFC 7523
 * with a workload token; `edge`: the gateway behind an edge door minting Txn-Tokens, named by
 * configuration — `edge.txnToken.requester` — since ext_authz and forward-auth carry no client credential).
 */
export type CallerKind = 'none' | 'tls_client_auth' | 'private_key_jwt' | 'federated_jwt' | 'edge';

/**
 * The authenticated requester of an exchange — the token endpoint's client, never the subject — as
 * proven by its credential, never read from the request body. Strings are `''` when they do not apply.
 */
export interface Caller {
  kind: CallerKind;
  /** The registered client id (configuration: a bounded set); `''` for `none`. */
  id: string;
  /** The caller as its credential names it: SPIFFE ID, certificate subject, the assertion's `sub`, else the client id. */
  subject: string;
  /** Issuer of a federated assertion; `''` otherwise. */
  issuer: string;
  /** SPIFFE ID (X509-SVID URI SAN or JWT-SVID `sub`); `''` otherwise. */
  spiffeId: string;
  /** Kubernetes service-account tokens: namespace and service account name. */
  namespace: string;
  serviceAccount: string;
}

/** The caller of GetJWT and the edge doors, and of the token endpoint with client authentication `none`. */
export const ANONYMOUS_CALLER: Caller = Object.freeze({
  kind: 'none',
  id: '',
  subject: '',
  issuer: '',
  spiffeId: '',
  namespace: '',
  serviceAccount: '',
});

/** The actor of a delegated exchange as policy sees it (RFC 8693 §4.1: the party the minted `act` names). */
export interface PolicyActor {
  /** `none` (no actor: impersonation), `token` (`actor_token`), `caller` (the authenticated client acts). */
  kind: 'none' | 'token' | 'caller';
  /** `act.sub` of the minted token. */
  sub: string;
  /** `act.iss` of the minted token (a federated caller's issuer), else `''`. */
  iss: string;
  /** Provider that verified the actor token; `''` otherwise. */
  provider: string;
  /** Client the actor token was issued to, or the caller's client id. */
  clientId: string;
}

export const NO_ACTOR: PolicyActor = Object.freeze({ kind: 'none', sub: '', iss: '', provider: '', clientId: '' });

export interface PolicyInput {
  /** The provider's verified data as returned (JWT payload, introspection + userinfo, user API JSON). */
  claims: Readonly<Record<string, unknown>>;
  account: { provider: string; id: string };
  /** The lookups the policy `needs`, fetched; others may be absent. */
  lookups: Readonly<Partial<Record<LookupName, readonly string[]>>>;
  /** Who asks for the exchange (token endpoint client authentication); absent: {@link ANONYMOUS_CALLER}. */
  caller?: Caller | undefined;
  /** Who will act for the subject; absent: {@link NO_ACTOR}. */
  actor?: PolicyActor | undefined;
  /** The subject token's scopes ({@link VerifiedIdentity.scopes}); absent: cannot be determined. */
  scopes?: readonly string[] | undefined;
}

/**
 * The outcome of a policy for one identity. A deny names the rule (`allow[1]`, a rule's name, or
 * `claims.<name>` when a computed claim failed) and never contains a value from the input: `detail` is a
 * fixed error kind (`no_such_key`, `no_such_overload`, `input_limit`, `lookup_missing`...) for logs.
 */
export type PolicyDecision =
  | { allowed: true; claims: Record<string, unknown> }
  | { allowed: false; rule: string; reason: 'denied' | 'error'; detail?: string | undefined };

/** Port: who may get a token and what it says beyond the registered claims (src/policy). */
export interface AccessPolicy {
  /** Lookups read by any expression: fetch these, and only these, before `evaluate`. */
  readonly needs: ReadonlySet<LookupName>;
  /** Never throws: a failure is a deny with `reason: 'error'`. */
  evaluate(input: PolicyInput): PolicyDecision;
}

/** The claims of a minted token (registered claims plus profile claims). */
export type MintedClaims = Record<string, unknown> & { iss: string; sub: string; exp: number; iat: number; jti: string };

/** Port: signs a claim set with the current key. Throws `unavailable` when no key can sign. */
export interface Signer {
  sign(claims: MintedClaims, options: { typ: string }): Promise<{ token: string; kid: string; alg: string }>;
}

/** Port: remembers minted tokens (keyed by a SHA-256 digest, never by a token) so the edge does not sign per request. */
export interface MintedTokenCache {
  get(key: string, now: number): { token: string; kid: string; expiresAt: number; claims: MintedClaims } | undefined;
  set(key: string, value: { token: string; kid: string; expiresAt: number; claims: MintedClaims }): void;
}

/** Milliseconds since the epoch. */
export type Clock = () => number;

/** A provider as the use case sees it: its exchange policy and its verifier. */
export interface ExchangeProvider {
  id: string;
  /** `account.type` values accepted from GetJWT callers. */
  accountTypes: readonly string[];
  /** The OIDC issuer, for choosing a provider by a JWT's `iss` (edge and token endpoint). */
  issuer: string | undefined;
  verifier: TokenVerifier;
  policy: AccessPolicy | undefined;
  /** Minted claim name → dotted path in the verified claims (copied, sanitized). */
  claimPaths: Readonly<Record<string, string>>;
  /** `aud` of tokens minted for this provider's users. */
  audience: readonly string[];
  /** Lifetime (ms) of minted tokens. */
  tokenTtl: number;
  /** Never mint past the upstream token's expiry, where known. */
  capToUpstreamExpiry: boolean;
  /** `client_id` of minted tokens when the upstream token names no client (RFC 9068 requires one). */
  defaultClientId: string;
  /**
   * Its tokens are self-signed workload JWTs (issue 22): taken only when the request declares them so
   * (`subject_token_type …:self_signed`), never at GetJWT or the edge. Absent: false.
   */
  selfSigned?: boolean | undefined;
}

export interface ProviderDirectory {
  /** By configured id (attacker-chosen input: no prototype walk). */
  get(id: string): ExchangeProvider | undefined;
  /** By OIDC issuer, exact match. */
  byIssuer(issuer: string): ExchangeProvider | undefined;
}
