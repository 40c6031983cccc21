import { z } from 'zod';
import { allowRule, ASYMMETRIC_JWS_ALGORITHMS, celExpression, duration, url } from './schema-fields.ts';
import { checkClientAuthentication, clientAuthenticationSchema, delegationSchema } from './client-auth-schema.ts';
import { RESERVED_CLAIM_NAMES } from '../exchange/claims.ts';
import { HOST_PORT_PATTERN } from './host-port.ts';
import { apiAudiencesOf, kubernetesSchema } from './kubernetes-schema.ts';
import { selfSignedSchema } from './self-signed-schema.ts';
import { PRESET_NAMES } from './presets.ts';
import { checkTxnTokens, txnTokensSchema } from './txn-tokens-schema.ts';

export { ASYMMETRIC_JWS_ALGORITHMS };

/** host:port; host may be an IPv4/IPv6 address or a name; port 0 picks a free port. */
const listen = z.string().regex(HOST_PORT_PATTERN, 'must be host:port, e.g. 0.0.0.0:50051 or [::]:50051');

const secretSources = {
  /** Inline secret (discouraged outside development: prefer clientSecretFile or clientSecretEnv). */
  clientSecret: z.string().min(1).optional(),
  /** File holding the secret, e.g. mounted from a Kubernetes Secret. Trailing newline trimmed. */
  clientSecretFile: z.string().min(1).optional(),
  /** Name of an environment variable holding the secret. */
  clientSecretEnv: z.string().min(1).optional(),
};

const claimName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/, 'must be a claim name')
  .refine((v) => !RESERVED_CLAIM_NAMES.has(v), {
    message: 'is reserved and cannot be mapped',
  });

/** Allow rules per provider (each is evaluated on every exchange). */
export const MAX_ALLOW_RULES = 16;
/** Configured claims per provider, bare paths and CEL expressions together (each CEL one is evaluated on every exchange). */
export const MAX_PROVIDER_CLAIMS = 32;

// zod strips a `__proto__` record key without an issue; reject it so a mapping is never dropped silently.
const claimsMap = z.preprocess(
  (value, ctx) => {
    if (typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__')) {
      ctx.addIssue({ code: 'custom', path: ['__proto__'], message: 'is reserved and cannot be mapped', input: value });
    }
    return value;
  },
  z
    .record(claimName, celExpression)
    .refine((m) => Object.keys(m).length <= MAX_PROVIDER_CLAIMS, { message: `at most ${MAX_PROVIDER_CLAIMS} claims per provider` }),
);

/** JWS algorithms authjwt signs with (the key types src/keys/key-file.ts derives an algorithm for). */
const SIGNING_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** What Auth.js reports in `account.type`: Auth.js v5 `oidc` for OIDC providers, next-auth v4 `oauth` for all. */
const ACCOUNT_TYPES = ['oidc', 'oauth'] as const;
/** How a provider proves an access token (docs/strategies.md). */
const OIDC_STRATEGIES = ['auto', 'jwt', 'introspection', 'userinfo'] as const;
const STRATEGIES = [...OIDC_STRATEGIES, 'user-api'] as const;

/** Provider fields renamed in 0.2: [current, deprecated]; the old name is accepted (with a warning) until 1.0. */
export const DEPRECATED_PROVIDER_FIELDS = [
  ['strategy', 'verification'],
  ['accountIdClaim', 'accountIdField'],
  ['userApiUrl', 'userinfoUrl'],
] as const;

const providerSchema = z
  .strictObject({
    /** Provider id as sent by the frontend in `account.provider` (Auth.js provider id). */
    id: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/i, 'must be 1-63 characters of letters, digits, _ . -'),
    /** The `account.type` Auth.js v5 reports for this provider. Default: the preset's, else `oidc` with an issuer, else `oauth`. */
    type: z.enum(ACCOUNT_TYPES).optional(),
    /** `account.type` values accepted in requests. Default: `type` plus `oauth` (what next-auth v4 sends for every provider). */
    accountTypes: z.array(z.enum(ACCOUNT_TYPES)).min(1).optional(),
    /** Well-known provider defaults (user-API strategy). */
    preset: z.enum(PRESET_NAMES).optional(),
    /** OIDC issuer; enables discovery and the jwt / introspection / userinfo strategies. */
    issuer: url.optional(),
    /** Accepted clients of upstream tokens (`aud`, `azp`, `client_id`): binds tokens to our clients. OIDC only. */
    audiences: z.array(z.string().min(1)).optional(),
    /**
     * A Kubernetes provider (issue 21): projected service-account tokens of a cluster, verified against
     * its issuer's keys (docs/workload-identity.md). Set instead of `issuer`, `userApiUrl` or `preset`;
     * `audiences` is then required.
     */
    kubernetes: kubernetesSchema.optional(),
    /**
     * Self-signed workload JWTs (issue 22): subject tokens of type `urn:ietf:params:oauth:token-type:self_signed`
     * at the token endpoint, signed by registered workloads (docs/workload-identity.md). Set instead of
     * `issuer`, `userApiUrl`, `preset` or `kubernetes`.
     */
    selfSigned: selfSignedSchema.optional(),
    /** How access tokens are proven: auto, jwt, introspection, userinfo (OIDC), user-api (implied by userApiUrl/preset). */
    strategy: z.enum(STRATEGIES).optional(),
    /** @deprecated since 0.2: use `strategy`. */
    verification: z.enum(OIDC_STRATEGIES).optional(),
    /** Dotted path of the account id in the verified data (token claims, introspection, userinfo or user API answer). */
    accountIdClaim: z.string().min(1).optional(),
    /** @deprecated since 0.2: use `accountIdClaim`. */
    accountIdField: z.string().min(1).optional(),
    /** Restrict accepted JWS algorithms (asymmetric only); default: what the provider advertises. */
    algorithms: z.array(z.enum(ASYMMETRIC_JWS_ALGORITHMS)).min(1).optional(),
    /** OAuth client id: introspection client, the GitHub OAuth app a token must belong to, and `client_id` of minted tokens for user-API providers. */
    clientId: z.string().min(1).optional(),
    ...secretSources,
    /** User API URL (user-api strategy): called with the token as a Bearer credential. */
    userApiUrl: url.optional(),
    /** @deprecated since 0.2: use `userApiUrl`. */
    userinfoUrl: url.optional(),
    /** Extra request headers for the user API. */
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'must be a header name'), z.string()).optional(),
    /** GitHub preset: REST API base used for the token-to-app binding check and org/team lookups. */
    apiBaseUrl: url.optional(),
    /** Allow plain-http provider URLs on non-loopback hosts (e.g. an in-cluster IdP); warns at start. */
    allowHttp: z.boolean().default(false),
    /** Retries of idempotent provider calls (GET: discovery, JWKS, userinfo, user API) after a network error, timeout or 5xx, with jittered backoff. */
    retries: z.number().int().min(0).max(3).default(1),
    /** Per-provider circuit breaker: while open, calls fail fast with UNAVAILABLE instead of waiting on a sick provider. */
    circuitBreaker: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** Share of failed provider calls (network, timeout, 5xx) in the rolling window that opens the circuit. */
        errorRatio: z.number().gt(0).max(1).default(0.5),
        /** Calls needed in the window before the ratio counts. */
        minimumCalls: z.number().int().min(1).default(10),
        /** How long the circuit stays open before one trial call. */
        openFor: duration({ min: 100, max: 600_000 }).default(10_000),
        /** Rolling window length. */
        window: duration({ min: 1_000, max: 600_000 }).default(10_000),
      })
      .prefault({}),
    /** Minimum time between JWKS refetches (and rediscoveries) triggered by an unknown kid or algorithm (rate limit). Default 5s. */
    jwksCooldown: duration({ min: 0, max: 600_000 }).optional(),
    /** Timeout of each provider HTTP call. */
    timeout: duration({ min: 10, max: 60_000 }).default(5_000),
    /**
     * How long a token proven by a provider call (introspection, userinfo, user API) is remembered.
     * Default 0: every call asks the provider, so revocation takes effect at once. Tokens verified
     * locally (jwt) are cached up to their expiry within cache.maxTtl regardless.
     */
    cacheTtl: duration({ max: 3_600_000 }).default(0),
    /**
     * Who may get a token (docs/policy.md): a CEL expression of type bool over `claims`, `account` and the
     * provider's lookups (`github.orgs`, `github.teams`, `gitlab.groups`), or a list of them (at most 16;
     * an entry may be `{name, expression}`) that must all hold. Default: anyone the provider proves.
     */
    allow: z
      .union([
        celExpression,
        z.array(allowRule).min(1, 'must list at least one rule').max(MAX_ALLOW_RULES, `at most ${MAX_ALLOW_RULES} rules per provider`),
      ])
      .optional(),
    /**
     * Extra claims of minted tokens (at most 32), merged over the preset's: claim name → a CEL expression
     * computing the value (`claims.realm_access.roles`, `github.teams.map(t, 'gh:' + t)`), or a bare dotted
     * path copied from the verified data (`login`, `company.name`; deprecated shorthand of `claims.<path>`).
     */
    claims: claimsMap.optional(),
    /** `aud` of tokens minted for this provider's users (default: the top-level `audience`). */
    audience: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .optional(),
    /** Lifetime of tokens minted for this provider's users (default: the top-level `tokenTtl`). */
    tokenTtl: duration({ min: 10_000, max: 86_400_000 }).optional(),
    /** Never mint a token that outlives the provider token it was exchanged for, where its expiry is known (default: the top-level setting). */
    capToUpstreamExpiry: z.boolean().optional(),
  })
  .superRefine((p, ctx) => {
    const issue = (field: string, message: string) => ctx.addIssue({ code: 'custom', path: [field], message });
    const secretCount = [p.clientSecret, p.clientSecretFile, p.clientSecretEnv].filter((v) => v !== undefined).length;
    if (secretCount > 1) issue('clientSecret', 'set only one of clientSecret, clientSecretFile, clientSecretEnv');
    for (const [current, deprecated] of DEPRECATED_PROVIDER_FIELDS) {
      if (p[current] !== undefined && p[deprecated] !== undefined)
        issue(deprecated, `set ${current} only (${deprecated} is its deprecated name)`);
    }
    const userApiUrl = p.userApiUrl ?? p.userinfoUrl;
    const userApiField = p.userinfoUrl !== undefined && p.userApiUrl === undefined ? 'userinfoUrl' : 'userApiUrl';
    const strategy = p.strategy ?? p.verification;
    const strategyField = p.strategy !== undefined ? 'strategy' : 'verification';
    if (p.selfSigned) {
      checkSelfSignedProvider(p, issue);
      return;
    }
    if (p.kubernetes) {
      checkKubernetesProvider(p, issue);
      return;
    }
    if (p.issuer && (userApiUrl || p.preset))
      issue('issuer', `set either issuer (OIDC discovery) or ${userApiField}/preset (user API), not both`);
    if (!p.issuer && !userApiUrl && !p.preset) issue('issuer', 'one of issuer, userApiUrl, preset or kubernetes is required');
    if (userApiUrl && !p.preset && !(p.accountIdClaim ?? p.accountIdField)) issue('accountIdClaim', `is required with ${userApiField}`);
    if (strategy === 'introspection' && (!p.clientId || secretCount === 0))
      issue(strategyField, 'introspection needs clientId and a client secret');
    if (p.issuer && strategy === 'user-api')
      issue(strategyField, 'user-api applies to providers with userApiUrl or a preset, not an issuer');
    if (!p.issuer && strategy !== undefined && strategy !== 'user-api') issue(strategyField, 'only applies to providers with an issuer');
    // Options that would be silently ignored are errors: the operator believes they restrict something.
    if (!p.issuer) {
      if (p.audiences) {
        issue(
          'audiences',
          'does not apply to user-API providers: a user API does not say which client a token was issued to (github: set clientId and a client secret to bind tokens to your OAuth app)',
        );
      }
      if (p.algorithms) issue('algorithms', 'only applies to providers with an issuer');
      if (p.jwksCooldown !== undefined) issue('jwksCooldown', 'only applies to providers with an issuer');
    } else if (p.headers) {
      issue('headers', 'only applies to user-API providers');
    }
    if (p.apiBaseUrl && p.preset !== 'github' && p.preset !== 'gitlab')
      issue('apiBaseUrl', 'only applies to the github and gitlab presets');
  });

/** Cross-field rules of a `selfSigned` provider: nothing of another kind applies (the keys are its workloads'). */
function checkSelfSignedProvider(p: Record<string, unknown>, issue: (field: string, message: string) => void): void {
  const inapplicable = [
    'issuer',
    'userApiUrl',
    'userinfoUrl',
    'preset',
    'kubernetes',
    'audiences',
    'strategy',
    'verification',
    'accountIdClaim',
    'accountIdField',
    'algorithms',
    'clientId',
    'clientSecret',
    'clientSecretFile',
    'clientSecretEnv',
    'headers',
    'apiBaseUrl',
    'jwksCooldown',
  ];
  for (const field of inapplicable) {
    if (p[field] !== undefined)
      issue(
        field,
        `does not apply to a selfSigned provider${field === 'algorithms' ? ' (use selfSigned.algorithms)' : field === 'audiences' ? ' (use selfSigned.audience)' : ''}`,
      );
  }
}

/** Cross-field rules of a `kubernetes` provider: what applies, what must be set, what would let an API-server token in. */
function checkKubernetesProvider(
  p: {
    kubernetes?: z.output<typeof kubernetesSchema> | undefined;
    audiences?: string[] | undefined;
    [field: string]: unknown;
  },
  issue: (field: string, message: string) => void,
): void {
  const k = p.kubernetes!;
  for (const field of ['issuer', 'userApiUrl', 'userinfoUrl', 'preset'] as const) {
    if (p[field] !== undefined)
      issue(field, `does not apply to a kubernetes provider (set kubernetes.issuer to the cluster's service-account issuer)`);
  }
  const inapplicable = [
    'strategy',
    'verification',
    'accountIdClaim',
    'accountIdField',
    'clientId',
    'clientSecret',
    'clientSecretFile',
    'clientSecretEnv',
    'headers',
    'apiBaseUrl',
  ];
  for (const field of inapplicable) {
    if (p[field] !== undefined)
      issue(field, `does not apply to a kubernetes provider${field.startsWith('account') ? ' (use kubernetes.subject)' : ''}`);
  }
  if (!p.audiences?.length) {
    issue(
      'audiences',
      "is required for a kubernetes provider: the audience(s) of the workloads' projected tokens for authjwt (never the API server's)",
    );
    return;
  }
  const api = new Set(apiAudiencesOf(k));
  for (const audience of p.audiences) {
    if (api.has(audience))
      issue(
        'audiences',
        `"${audience}" is an audience of the API server (kubernetes.apiAudiences): a token for the API server must never be accepted`,
      );
  }
}

const tlsSchema = z.strictObject({
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
  /** CA bundle for client certificates: when set, clients must present a certificate (mTLS). */
  clientCaFile: z.string().min(1).optional(),
  /** How often the files are re-read; a rotated certificate is used for new connections, open ones stay. */
  reloadInterval: duration({ min: 100, max: 3_600_000 }).default(30_000),
});

// ---- Edge doors and minted-token cache (issue 12) ----------------------------------------------

const FORBIDDEN_EDGE_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
  'cookie',
  'set-cookie',
]);
/** An HTTP field name (RFC 9110 token), lower-cased. Pseudo-headers and framing headers are refused. */
const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, 'must be an HTTP header name')
  .transform((v) => v.toLowerCase())
  .refine((v) => !FORBIDDEN_EDGE_HEADERS.has(v), { message: 'cannot be used (a framing or routing header)' });
/** An auth scheme (RFC 9110 §11.1), e.g. `Bearer`; empty: the whole header value is the token. */
const authScheme = z.string().regex(/^([!#$%&'*+.^_`|~0-9A-Za-z-]{1,32})?$/, 'must be an auth scheme such as Bearer, or empty');

/**
 * Minted-token cache: at the edge every request is an exchange, so a minted token is reused for the
 * same provider, subject-token digest and policy result until shortly before it expires (the
 * verification and the policy still run on every request; only the signature is saved).
 */
const mintedTokensSchema = z
  .strictObject({
    /** Entries kept (LRU), keyed by a SHA-256 digest (never the provider token). 0 disables reuse everywhere. */
    maxEntries: z.number().int().min(0).max(1_000_000).default(10_000),
    /** A cached token is reused until this long before its `exp`; then a new one is minted. Must be below every tokenTtl. */
    refreshMargin: duration({ min: 1_000, max: 3_600_000 }).default(60_000),
    /**
     * GetJWT reuses minted tokens too: repeated calls with the same access token get the same token
     * (same `jti`). Default false: each GetJWT mints a new token.
     */
    getJwt: z.boolean().default(false),
  })
  .prefault({});

/**
 * The edge doors: Envoy ext_authz (gRPC, on the gRPC port) and HTTP forward-auth (nginx auth_request,
 * Traefik ForwardAuth, Caddy forward_auth, Envoy HTTP ext_authz; on the internal listener). A request
 * carrying a provider access token is exchanged; the upstream receives the minted token instead.
 */
const edgeSchema = z
  .strictObject({
    /** Header carrying the provider access token. */
    tokenHeader: headerName.default('authorization'),
    /** Auth scheme in front of the token (case-insensitive); empty: the whole header value is the token. */
    tokenScheme: authScheme.default('Bearer'),
    /**
     * Header naming the provider when the token is not a JWT of a configured issuer (e.g. GitHub
     * tokens). Empty: none. The token's `iss` always wins; the header only chooses which provider
     * verifies the token.
     */
    providerHeader: z.union([headerName, z.literal('')]).default('x-authjwt-provider'),
    /** Provider used when neither the token's `iss`, the provider header nor the route names one. */
    defaultProvider: z.string().min(1).optional(),
    /** Upstream request header that receives the minted token (replaced, never appended). */
    mintedHeader: headerName.default('authorization'),
    /** Auth scheme in front of the minted token; empty: the bare token. */
    mintedScheme: authScheme.default('Bearer'),
    /**
     * Identity headers set on the upstream request: header name → minted claim (`sub`, `provider`,
     * `client_id`, a profile claim). Visible-ASCII values only; arrays are joined with `,`. A header
     * whose claim is absent is removed (Envoy), so a client cannot supply it. Default: none.
     */
    identityHeaders: z.record(headerName, z.string().min(1).max(64)).default({}),
    /** Keep the incoming provider token on the upstream request (only when it is in another header than mintedHeader). */
    keepProviderToken: z.boolean().default(false),
    /**
     * Transaction Tokens at the edge doors (issue 22, docs/txn-tokens.md): `off` (default) exchanges the
     * provider token as above; `mint` verifies the provider token and sets a fresh Txn-Token in the
     * `Txn-Token` header of the upstream request (one `txn` per request, never reused; a client's
     * `Txn-Token` is replaced); `verify` (internal hops) checks the request's `Txn-Token` against
     * authjwt's keys, the trust domain, `exp` and `typ`, and passes it on unmodified. A route may choose
     * its own mode: Envoy `context_extensions: { txn_token: mint | verify | off }`, forward-auth
     * `?txn_token=`. Needs the `txnTokens` section.
     */
    txnToken: z
      .strictObject({
        /** The doors' mode when the route names none. */
        mode: z.enum(['off', 'mint', 'verify']).default('off'),
        /**
         * The gateway as the requesting workload of Txn-Tokens minted at the edge: a client of
         * `txnTokens.requesters` (its issuance policy and scopes apply). The Txn-Token's `req_wl` is
         * that client's registered SPIFFE ID (`tlsClientAuth.spiffeId`) when it has one, else its client
         * id. Required for `mint` (here or on a route).
         */
        requester: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/, 'must be a client id')
          .optional(),
      })
      .prefault({}),
    extAuthz: z
      .strictObject({
        /** Serve `envoy.service.auth.v3.Authorization/Check` on the gRPC port. */
        enabled: z.boolean().default(false),
        /**
         * How a provider or key outage is answered. `error` (default): the Check call fails with
         * UNAVAILABLE, which Envoy treats as an authorization-service error (`failure_mode_allow`,
         * `status_on_error` apply, as for an HTTP ext_authz 5xx). `deny`: a DeniedHttpResponse 503 with
         * Retry-After, which Envoy sends to the client whatever `failure_mode_allow` says.
         */
        onUnavailable: z.enum(['error', 'deny']).default('error'),
      })
      .prefault({}),
    forwardAuth: z
      .strictObject({
        /** Serve HTTP forward-auth. */
        enabled: z.boolean().default(false),
        /** Path of the endpoint; it also serves every path below it (Envoy HTTP ext_authz `path_prefix`). */
        path: z
          .string()
          .regex(/^\/[A-Za-z0-9._~/-]{0,127}$/, 'must be an absolute path')
          .refine((p) => !p.startsWith('/.well-known') && !['/livez', '/readyz', '/metrics'].includes(p), {
            message: 'collides with a public route',
          })
          .default('/forward-auth'),
        /**
         * Listener: `internal` (internalHttp.listen, in-cluster only) or `public` (http.listen, next to
         * JWKS: only when that port is not reachable from outside the cluster; warns at start).
         */
        listener: z.enum(['internal', 'public']).default('internal'),
        /** Bound on one check (provider calls included); past it the answer is 503. */
        timeout: duration({ min: 100, max: 60_000 }).default(10_000),
        /** Checks handled at once; more are answered 503 at once. */
        maxConcurrent: z.number().int().min(1).max(100_000).default(512),
      })
      .prefault({}),
  })
  .prefault({});

function checkEdgeConfig(
  c: {
    edge: z.output<typeof edgeSchema>;
    mintedTokens: z.output<typeof mintedTokensSchema>;
    tokenTtl: number;
    providers: { id: string; tokenTtl?: number | undefined; audience?: readonly string[] | undefined }[];
    audience: readonly string[];
    txnTokens?: { trustDomain: string; requesters: readonly { client: string }[] } | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const e = c.edge;
  if (e.defaultProvider !== undefined && !c.providers.some((p) => p.id === e.defaultProvider))
    issue(['edge', 'defaultProvider'], `names no configured provider`);
  if (e.keepProviderToken && e.tokenHeader === e.mintedHeader)
    issue(['edge', 'keepProviderToken'], 'the provider token cannot be kept in the header that receives the minted token');
  for (const name of Object.keys(e.identityHeaders)) {
    // The provider header may be one: the client's hint is then overwritten with the proven provider.
    if (name === e.mintedHeader || name === e.tokenHeader)
      issue(['edge', 'identityHeaders', name], 'is already used by tokenHeader or mintedHeader');
  }
  if (e.providerHeader !== '' && (e.providerHeader === e.tokenHeader || e.providerHeader === e.mintedHeader))
    issue(['edge', 'providerHeader'], 'must differ from tokenHeader and mintedHeader');
  if (e.txnToken.mode !== 'off' || c.txnTokens) {
    // The draft's header (§ "Txn-Token" HTTP Header) belongs to the Txn-Token alone at these doors (a route
    // may choose mint or verify whenever the txnTokens section is there).
    const uses: [string[], string][] = [
      [['edge', 'tokenHeader'], e.tokenHeader],
      [['edge', 'mintedHeader'], e.mintedHeader],
      [['edge', 'providerHeader'], e.providerHeader],
      ...Object.keys(e.identityHeaders).map((h): [string[], string] => [['edge', 'identityHeaders', h], h]),
    ];
    for (const [path, name] of uses) if (name === 'txn-token') issue(path, 'cannot be txn-token (the Txn-Token header)');
  }
  if (e.txnToken.mode === 'mint' && e.txnToken.requester === undefined)
    issue(['edge', 'txnToken', 'requester'], 'is required with mode mint (the req_wl of Txn-Tokens minted at the edge)');
  if (e.txnToken.mode !== 'off' && !c.txnTokens)
    issue(['edge', 'txnToken', 'mode'], 'needs the txnTokens section (the Transaction Token Service)');
  // No access token authjwt mints may name the trust domain: a hop that checks only signature and `aud`
  // (Envoy jwt_authn cannot check `typ`) would take it for a Txn-Token.
  if (c.txnTokens && [c.audience, ...c.providers.map((p) => p.audience ?? [])].some((a) => a.includes(c.txnTokens!.trustDomain)))
    issue(
      ['txnTokens', 'trustDomain'],
      'must not be an audience of access tokens (audience, providers[].audience): a hop verifying only aud would take them for Txn-Tokens',
    );
  if (e.txnToken.requester !== undefined && !c.txnTokens?.requesters.some((r) => r.client === e.txnToken.requester))
    issue(['edge', 'txnToken', 'requester'], `"${e.txnToken.requester}" is not a client of txnTokens.requesters`);
  if (c.mintedTokens.maxEntries > 0) {
    const ttls = [c.tokenTtl, ...c.providers.map((p) => p.tokenTtl).filter((t): t is number => t !== undefined)];
    if (ttls.some((ttl) => c.mintedTokens.refreshMargin >= ttl))
      issue(['mintedTokens', 'refreshMargin'], 'must be shorter than tokenTtl (and every provider tokenTtl)');
  }
}
// ---- end edge -------------------------------------------------------------------------------------

export const configSchema = z
  .strictObject({
    /** `iss` of minted tokens and base of /.well-known/openid-configuration. */
    issuer: url,
    /** `aud` of minted tokens. */
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((v) => (Array.isArray(v) ? v : [v])),
    /** Lifetime of minted tokens. */
    tokenTtl: duration({ min: 10_000, max: 86_400_000 }).default(900_000),
    /** Never mint a token that outlives the provider token it was exchanged for, where its expiry is known. */
    capToUpstreamExpiry: z.boolean().default(false),
    /** JWS header `typ` of minted tokens: `at+jwt` (RFC 9068 access tokens) or `JWT` (for verifiers that insist on it). */
    tokenType: z.enum(['at+jwt', 'JWT']).default('at+jwt'),
    /** `sub` of minted tokens; placeholders {provider} and {accountId}. */
    subjectTemplate: z.string().includes('{accountId}', { message: 'must contain {accountId}' }).default('{provider}:{accountId}'),
    /** Clock skew tolerated when checking upstream exp/nbf/iat. */
    clockTolerance: duration({ max: 300_000 }).default(30_000),
    /** Override of jwks_uri in the discovery document (default: issuer + /.well-known/jwks.json). */
    jwksUri: url.optional(),
    grpc: z
      .strictObject({
        listen: listen.default('0.0.0.0:50051'),
        tls: tlsSchema.optional(),
        /** Acknowledge serving gRPC without TLS (e.g. inside a service mesh that adds mTLS); silences the warning. */
        plaintext: z.boolean().default(false),
        /** Largest accepted request message. */
        maxReceiveMessageBytes: z
          .number()
          .int()
          .min(1024)
          .max(4 * 1024 * 1024)
          .default(16 * 1024),
        /** Calls handled at once; more fail fast with RESOURCE_EXHAUSTED. */
        maxConcurrentCalls: z.number().int().min(1).max(100_000).default(512),
        /**
         * Health Watch streams open at once (a pool of their own: long-lived streams from unauthenticated
         * callers cannot take the slots of GetJWT and ext_authz); more fail fast with RESOURCE_EXHAUSTED.
         */
        maxWatchStreams: z.number().int().min(1).max(100_000).default(64),
        /** Deadline applied to work when the client sets none (or a longer one). */
        defaultDeadline: duration({ min: 100, max: 300_000 }).default(10_000),
        /** Connections are closed (GOAWAY) after this age so clients rebalance across replicas. */
        maxConnectionAge: duration({ min: 1_000 }).default(300_000),
        maxConnectionAgeGrace: duration().default(30_000),
        maxConcurrentStreams: z.number().int().min(1).max(10_000).default(1_000),
        /** gRPC server reflection (grpcurl list/describe); the API is public (proto/), so on by default. */
        reflection: z.boolean().default(true),
        /** Connections without a call in progress are closed after this long (they cost a socket and HTTP/2 session memory; clients reconnect transparently). */
        maxConnectionIdle: duration({ min: 1_000 }).default(60_000),
      })
      .superRefine((g, ctx) => {
        if (g.tls && g.plaintext)
          ctx.addIssue({ code: 'custom', path: ['plaintext'], message: 'set either grpc.tls or grpc.plaintext, not both' });
      })
      .prefault({}),
    http: z
      .strictObject({
        listen: listen.default('0.0.0.0:8080'),
        tls: tlsSchema.omit({ clientCaFile: true }).optional(),
        /** Browsers on these origins may read JWKS and discovery (`*`: any; the keys are public). Empty list: no CORS headers. */
        cors: z.strictObject({ allowOrigins: z.array(z.string().min(1)).default(['*']) }).prefault({}),
      })
      .prefault({}),
    /**
     * The internal HTTP listener: the doors that exchange tokens over HTTP (forward-auth for gateways,
     * the RFC 8693 token endpoint). In-cluster only: never expose it publicly (docs/gateways.md). It is
     * started only when one of those doors is enabled, and is separate from the public JWKS listener.
     */
    internalHttp: z
      .strictObject({
        listen: listen.default('0.0.0.0:8081'),
        tls: tlsSchema
          .omit({ clientCaFile: true })
          .extend({
            /**
             * Trust bundle (PEM CA certificates) of client certificates (issue 21): the listener asks every
             * client for a certificate and verifies it against these CAs, but does not refuse the handshake;
             * the token endpoint's `tls_client_auth` decides (invalid_client), forward-auth ignores it.
             * Re-read every reloadInterval like the certificate.
             */
            clientCaFile: z.string().min(1).optional(),
          })
          .optional(),
      })
      .prefault({}),
    // --- issue 13: RFC 8693 token endpoint -------------------------------------------------------
    /**
     * The RFC 8693 token endpoint (docs/token-endpoint.md), on the internal listener: in-cluster
     * callers exchange a provider access token for a minted one with any OAuth client library. Off by
     * default. No client authentication (method `none`): the subject token is the credential, as
     * for GetJWT; keep the listener in-cluster (NetworkPolicy, mesh mTLS).
     */
    tokenEndpoint: z
      .strictObject({
        enabled: z.boolean().default(false),
        /** Path on the internal listener. */
        path: z
          .string()
          .regex(/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/, 'must be an absolute path such as /token')
          .default('/token'),
        /**
         * URL clients reach the endpoint at, advertised as `token_endpoint` (and the grant type) in
         * discovery, e.g. `http://authjwt.auth.svc:8081/token`. Default: on a loopback internal listener
         * its own URL; otherwise not advertised (a warning says so), since the public issuer's host does
         * not serve it.
         */
        url: url.optional(),
        /** Provider for requests without `subject_issuer` whose token is not a JWT of a configured issuer (e.g. a GitHub token). */
        defaultProvider: z.string().min(1).optional(),
        /** Time one exchange may take (provider calls included) before it fails with temporarily_unavailable. */
        deadline: duration({ min: 100, max: 300_000 }).default(10_000),
        /** Exchanges handled at once; more are refused with 429 temporarily_unavailable. */
        maxConcurrentRequests: z.number().int().min(1).max(100_000).default(256),
        // issue 21: who the caller is (src/config/client-auth-schema.ts) and who may act for the subject.
        clientAuthentication: clientAuthenticationSchema,
        delegation: delegationSchema,
      })
      .prefault({}),
    // --- end issue 13 ------------------------------------------------------------------------------
    keys: z
      .strictObject({
        /** Directory of private keys mounted from a Kubernetes Secret. */
        dir: z.string().min(1).optional(),
        /** Development only: generate a throwaway key at start (tokens die with the process). */
        ephemeral: z.boolean().default(false),
        ephemeralAlgorithm: z.enum(SIGNING_ALGORITHMS).default('ES256'),
        /** A new key is published in JWKS at least this long before it signs (gateways cache JWKS). */
        publishLeadTime: duration({ max: 7 * 86_400_000 }).default(600_000),
        /** How often the key directory is re-read (file-system events also trigger a reload). */
        reloadInterval: duration({ min: 100, max: 3_600_000 }).default(5_000),
        /** Cache-Control max-age of the JWKS; must not exceed publishLeadTime. Default: min(lead/2, 5m). */
        jwksMaxAge: duration().optional(),
        /**
         * Algorithms announced in discovery besides those of the published keys: list the algorithm of a
         * planned key *before* rotating to it, so verifiers that read discovery once (go-oidc, nimbus)
         * accept it when it starts signing.
         */
        advertisedAlgorithms: z.array(z.enum(SIGNING_ALGORITHMS)).optional(),
      })
      .superRefine((k, ctx) => {
        if (!k.dir && !k.ephemeral)
          ctx.addIssue({ code: 'custom', path: ['dir'], message: 'set keys.dir (or keys.ephemeral: true for development)' });
        if (k.dir && k.ephemeral)
          ctx.addIssue({ code: 'custom', path: ['ephemeral'], message: 'set either keys.dir or keys.ephemeral, not both' });
        if (k.jwksMaxAge !== undefined && k.jwksMaxAge > k.publishLeadTime) {
          ctx.addIssue({ code: 'custom', path: ['jwksMaxAge'], message: 'must not exceed keys.publishLeadTime' });
        }
      }),
    /** Verification cache: proven tokens are remembered by SHA-256 hash, never beyond their expiry. */
    cache: z
      .strictObject({
        maxEntries: z.number().int().min(0).max(10_000_000).default(10_000),
        maxTtl: duration({ max: 3_600_000 }).default(300_000),
      })
      .prefault({}),
    /** Limits on request fields. */
    limits: z
      .strictObject({
        maxAccessTokenBytes: z
          .number()
          .int()
          .min(64)
          .max(16 * 1024)
          .default(8 * 1024),
        maxAccountIdBytes: z
          .number()
          .int()
          .min(8)
          .max(4 * 1024)
          .default(256),
      })
      .prefault({}),
    logging: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).prefault({}),
    /** Time in-flight calls get to finish after SIGTERM/SIGINT. */
    shutdownGrace: duration({ max: 600_000 }).default(20_000),
    // ---- Edge doors and minted-token cache (issue 12) ----
    mintedTokens: mintedTokensSchema,
    edge: edgeSchema,
    // ---- end edge ----
    providers: z.array(providerSchema).min(1, 'at least one provider is required'),
    // issue 22: the Transaction Token Service (src/config/txn-tokens-schema.ts); absent: disabled.
    txnTokens: txnTokensSchema,
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.providers.forEach((p, i) => {
      if (seen.has(p.id)) ctx.addIssue({ code: 'custom', path: ['providers', i, 'id'], message: `duplicate provider id "${p.id}"` });
      seen.add(p.id);
    });
  })
  .superRefine(checkEdgeConfig)
  // issue 13: the token endpoint's default provider must exist.
  .superRefine((c, ctx) => {
    const id = c.tokenEndpoint.defaultProvider;
    if (id !== undefined && !c.providers.some((p) => p.id === id))
      ctx.addIssue({ code: 'custom', path: ['tokenEndpoint', 'defaultProvider'], message: `"${id}" is not a configured provider id` });
  })
  // issue 22: self-signed workload JWTs are only taken when declared so, never by default.
  .superRefine((c, ctx) => {
    const selfSigned = new Set(c.providers.filter((p) => p.selfSigned).map((p) => p.id));
    for (const path of [
      ['tokenEndpoint', 'defaultProvider'],
      ['edge', 'defaultProvider'],
    ] as const) {
      const id = path[0] === 'edge' ? c.edge.defaultProvider : c.tokenEndpoint.defaultProvider;
      if (id !== undefined && selfSigned.has(id))
        ctx.addIssue({
          code: 'custom',
          path: [...path],
          message: `"${id}" is a selfSigned provider: its tokens are accepted only as subject_token_type urn:ietf:params:oauth:token-type:self_signed`,
        });
    }
    c.providers.forEach((p, i) => {
      if (p.selfSigned?.replayStore === 'redis' && !c.tokenEndpoint.clientAuthentication.replayCache.redis)
        ctx.addIssue({
          code: 'custom',
          path: ['providers', i, 'selfSigned', 'replayStore'],
          message: 'redis needs tokenEndpoint.clientAuthentication.replayCache.redis (the Redis it shares)',
        });
    });
  })
  // issue 21: client authentication and delegation of the token endpoint.
  .superRefine(checkClientAuthentication)
  // issue 22: Txn-Token requesters are registered clients.
  .superRefine(checkTxnTokens);

export type ParsedConfig = z.output<typeof configSchema>;
export type ParsedProvider = z.output<typeof providerSchema>;
