/**
 * Configuration of the token endpoint's callers (issue 21): `tokenEndpoint.clientAuthentication`
 * (RFC 6749 §2.3 methods: mTLS RFC 8705, RFC 7523 client assertions, federated workload tokens) and
 * `tokenEndpoint.delegation` (RFC 8693 actors). Composed into src/config/schema.ts; documented in
 * docs/token-endpoint.md and docs/configuration.md.
 */
import { z } from 'zod';
import { ASYMMETRIC_JWS_ALGORITHMS, duration, url } from './schema-fields.ts';

/** Client authentication methods of the token endpoint (RFC 8414 names; `federated_jwt`: RFC 7523 with a workload token). */
const CLIENT_AUTH_METHODS = ['none', 'tls_client_auth', 'private_key_jwt', 'federated_jwt'] as const;
type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/** JWT-SVID `alg` values (SPIFFE JWT-SVID §2.1): RSA, ECDSA and RSA-PSS, never EdDSA or symmetric. */
export const JWT_SVID_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'] as const;

/** A client id: what `client_id` carries (RFC 6749 §2.2), a metric label and a log field: short, visible ASCII. */
const clientId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/, 'must be 1-128 characters of letters, digits, _ . : @ -');
const sourceId = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/i, 'must be 1-63 characters of letters, digits, _ . -');
const spiffeId = z
  .string()
  .regex(/^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*$/, 'must be a SPIFFE ID (spiffe://trust-domain/path)');
const trustDomain = z.string().regex(/^[a-z0-9._-]{1,255}$/, 'must be a SPIFFE trust domain (lower-case letters, digits, . _ -)');
const path = z.string().min(1);
/** Bound of a bearer-style workload token's lifetime (exp − iat): they are reusable, so their lifetime is what limits a stolen one. */
const maxLifetime = duration({ min: 10_000, max: 86_400_000 }).default(3_600_000);

/** A public JWK as a client registers it (its private members are refused by the loader). */
const jwk = z.looseObject({ kty: z.string(), kid: z.string().optional(), alg: z.string().optional(), use: z.string().optional() });

const clientSchema = z
  .strictObject({
    /** The client id: `client_id`, `iss`/`sub` of its `private_key_jwt` assertions, `caller.id` in policy, a metric label. */
    id: clientId,
    /** RFC 8705 `tls_client_auth`: the certificate identity this client presents (exactly one field). */
    tlsClientAuth: z
      .strictObject({
        /** The certificate's SPIFFE ID (its one `spiffe://` URI SAN, X509-SVID). */
        spiffeId: spiffeId.optional(),
        /** `tls_client_auth_subject_dn`: the subject, RFC 4514 order (most specific first), e.g. `CN=orders,O=acme`. */
        subjectDn: z.string().min(3).max(1024).optional(),
        /** `tls_client_auth_san_dns`: one DNS name SAN, exact. */
        sanDns: z.string().min(1).max(253).optional(),
        /** `tls_client_auth_san_uri`: one URI SAN, exact. */
        sanUri: url.optional(),
      })
      .refine((t) => [t.spiffeId, t.subjectDn, t.sanDns, t.sanUri].filter((v) => v !== undefined).length === 1, {
        message: 'set exactly one of spiffeId, subjectDn, sanDns, sanUri',
      })
      .optional(),
    /** RFC 7523 `private_key_jwt`: the client's public keys (exactly one of jwks, jwksFile). */
    privateKeyJwt: z
      .strictObject({
        /** Inline JWK Set of public keys. */
        jwks: z.strictObject({ keys: z.array(jwk).min(1).max(16) }).optional(),
        /** File holding the JWK Set (e.g. a mounted ConfigMap), re-read every reloadInterval. */
        jwksFile: path.optional(),
        /** How often jwksFile is re-read; a bad update keeps the last good keys. */
        reloadInterval: duration({ min: 100, max: 3_600_000 }).default(30_000),
      })
      .refine((k) => (k.jwks === undefined) !== (k.jwksFile === undefined), { message: 'set exactly one of jwks, jwksFile' })
      .optional(),
    /** Federated assertion (`federated_jwt`): a workload token from a trust source, with exactly this `sub`. */
    federated: z
      .strictObject({
        /** Id of an entry of trustSources. */
        trustSource: sourceId,
        /** The verified `sub`, exactly: a SPIFFE ID, `system:serviceaccount:<ns>:<name>`, a CI job's subject. */
        subject: z.string().min(1).max(512),
      })
      .optional(),
  })
  .refine((c) => c.tlsClientAuth || c.privateKeyJwt || c.federated, {
    message: 'set at least one of tlsClientAuth, privateKeyJwt, federated',
  });

const trustSourceCommon = {
  id: sourceId,
  /** Accepted `aud` of its tokens (default: clientAuthentication.audiences). */
  audiences: z.array(z.string().min(1)).min(1).optional(),
  /** Longest accepted lifetime (exp − iat; without iat: exp − now): bearer-style tokens are reusable, their lifetime is bounded instead. */
  maxLifetime,
};

const trustSourceSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    ...trustSourceCommon,
    /** SPIFFE JWT-SVIDs, verified against the trust domain's bundle. */
    kind: z.literal('spiffe'),
    trustDomain,
    /** SPIFFE bundle (JWK Set; its `use: jwt-svid` keys sign JWT-SVIDs), re-read every reloadInterval. */
    bundleFile: path,
    reloadInterval: duration({ min: 100, max: 3_600_000 }).default(30_000),
    /** Required `iss`, when the SPIFFE issuer sets one (SPIRE `jwt_issuer`); default: not checked. */
    issuer: z.string().min(1).optional(),
  }),
  z.strictObject({
    ...trustSourceCommon,
    /** Any OIDC issuer's JWTs (discovery + JWKS): a CI system's workload tokens, a cluster's service-account issuer. */
    kind: z.literal('oidc'),
    issuer: url,
    algorithms: z.array(z.enum(ASYMMETRIC_JWS_ALGORITHMS)).min(1).optional(),
    /** Plain http on a non-loopback host (an in-cluster issuer); warns at start. */
    allowHttp: z.boolean().default(false),
    timeout: duration({ min: 10, max: 60_000 }).default(5_000),
    jwksCooldown: duration({ min: 0, max: 600_000 }).default(5_000),
  }),
  z.strictObject({
    ...trustSourceCommon,
    /** The keys and issuer of a configured provider (its verifier's machinery), with this endpoint as the audience. */
    kind: z.literal('provider'),
    provider: z.string().min(1),
  }),
]);

const redisSchema = z.strictObject({
  /** `redis://host:6379/0` or `rediss://…` (TLS). No password in the URL: use passwordFile or passwordEnv. */
  url,
  username: z.string().min(1).optional(),
  /** File holding the password (a mounted Secret); trailing newline trimmed. */
  passwordFile: path.optional(),
  /** Environment variable holding the password. */
  passwordEnv: z.string().min(1).optional(),
  /** CA bundle (PEM) for a `rediss://` server certificate; default: the system roots. */
  caFile: path.optional(),
  /** Prefix of the keys authjwt writes (one per assertion, expiring with it). */
  keyPrefix: z.string().max(64).default('authjwt:jti:'),
  connectTimeout: duration({ min: 100, max: 60_000 }).default(2_000),
  /** Bound on one replay check; past it the assertion is refused (temporarily_unavailable), never accepted. */
  commandTimeout: duration({ min: 10, max: 10_000 }).default(500),
});

export const clientAuthenticationSchema = z
  .strictObject({
    /**
     * Accepted methods. `none`: no client authentication (the subject token is the credential);
     * with other methods listed too, a request without credentials is still served, one with
     * credentials must prove them. Unset: `[none]` with a start-up warning (the deprecation path).
     */
    methods: z.array(z.enum(CLIENT_AUTH_METHODS)).min(1).optional(),
    /** Accepted `aud` of client assertions (RFC 7523 §3). Default: authjwt's issuer and the token endpoint URL (when known). */
    audiences: z.array(z.string().min(1)).min(1).optional(),
    /** JWS algorithms of `private_key_jwt` assertions (asymmetric only). Default: all asymmetric ones. */
    algorithms: z.array(z.enum(ASYMMETRIC_JWS_ALGORITHMS)).min(1).optional(),
    /** Longest `private_key_jwt` assertion lifetime (exp − iat, and exp − now): also how long a `jti` is remembered. */
    maxAssertionLifetime: duration({ min: 10_000, max: 3_600_000 }).default(300_000),
    clients: z.array(clientSchema).max(1000).default([]),
    trustSources: z.array(trustSourceSchema).max(64).default([]),
    /** Where `private_key_jwt` `jti`s are remembered: `redis` (shared by every replica) or `memory` (this replica only). */
    replayCache: z
      .strictObject({
        /** Required with private_key_jwt clients. `memory`: an assertion can be replayed once to each other replica. */
        store: z.enum(['redis', 'memory']).optional(),
        /** `memory`: entries kept; when full of live entries, assertions are refused (never an old one evicted). */
        maxEntries: z.number().int().min(100).max(10_000_000).default(100_000),
        redis: redisSchema.optional(),
      })
      .prefault({}),
  })
  .prefault({});

export const delegationSchema = z
  .strictObject({
    /**
     * Where the actor of an RFC 8693 delegation comes from: `token` (an actor_token, verified like a
     * subject token), `caller` (the authenticated client acts; actor_token refused) or `none`
     * (actor_token refused). A subject token's `act` survives in every mode.
     */
    actor: z.enum(['token', 'caller', 'none']).default('token'),
  })
  .prefault({});

type ClientAuthentication = z.output<typeof clientAuthenticationSchema>;

/** Cross-field rules: every listed method usable, every client's method listed, references resolvable. */
export function checkClientAuthentication(
  c: {
    tokenEndpoint: { clientAuthentication: ClientAuthentication; delegation: z.output<typeof delegationSchema> };
    internalHttp: { tls?: { clientCaFile?: string | undefined } | undefined };
    providers: { id: string; issuer?: string | undefined; kubernetes?: { issuer: string } | undefined }[];
  },
  ctx: z.RefinementCtx,
): void {
  const a = c.tokenEndpoint.clientAuthentication;
  const at = ['tokenEndpoint', 'clientAuthentication'];
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path: [...at, ...path], message });
  const methods = new Set(a.methods ?? ['none']);
  const uses = {
    tls_client_auth: a.clients.some((k) => k.tlsClientAuth),
    private_key_jwt: a.clients.some((k) => k.privateKeyJwt),
    federated_jwt: a.clients.some((k) => k.federated),
  };
  if (methods.has('tls_client_auth') && !c.internalHttp.tls?.clientCaFile)
    issue(['methods'], 'tls_client_auth needs internalHttp.tls with clientCaFile (the trust bundle of client certificates)');
  for (const [method, used] of Object.entries(uses)) {
    if (methods.has(method as ClientAuthMethod) && !used) issue(['methods'], `${method} is listed but no client uses it`);
  }
  const seen = new Map<string, number>();
  const identities = new Map<string, string>();
  a.clients.forEach((k, i) => {
    if (seen.has(k.id)) issue(['clients', i, 'id'], `duplicate client id "${k.id}"`);
    seen.set(k.id, i);
    const need = (field: string, method: ClientAuthMethod) => {
      if (!methods.has(method)) issue(['clients', i, field], `needs ${method} in methods (it would never be used)`);
    };
    if (k.tlsClientAuth) {
      need('tlsClientAuth', 'tls_client_auth');
      const [kind, value] = Object.entries(k.tlsClientAuth).find(([, v]) => v !== undefined)!;
      const key = `tls ${kind} ${value}`;
      if (identities.has(key)) issue(['clients', i, 'tlsClientAuth'], `the same certificate identity as client "${identities.get(key)}"`);
      identities.set(key, k.id);
    }
    if (k.privateKeyJwt) need('privateKeyJwt', 'private_key_jwt');
    if (k.federated) {
      need('federated', 'federated_jwt');
      if (!a.trustSources.some((s) => s.id === k.federated!.trustSource))
        issue(['clients', i, 'federated', 'trustSource'], `"${k.federated.trustSource}" is not an id of trustSources`);
      const key = `federated ${k.federated.trustSource} ${k.federated.subject}`;
      if (identities.has(key)) issue(['clients', i, 'federated'], `the same trust source and subject as client "${identities.get(key)}"`);
      identities.set(key, k.id);
    }
  });
  const sources = new Set<string>();
  const issuers = new Map<string, string>();
  a.trustSources.forEach((s, i) => {
    if (sources.has(s.id)) issue(['trustSources', i, 'id'], `duplicate trust source id "${s.id}"`);
    sources.add(s.id);
    let routing: string | undefined;
    if (s.kind === 'spiffe') routing = `spiffe://${s.trustDomain}`;
    else if (s.kind === 'oidc') routing = s.issuer;
    else {
      const provider = c.providers.find((p) => p.id === s.provider);
      if (!provider) issue(['trustSources', i, 'provider'], `"${s.provider}" is not a configured provider id`);
      else if (!provider.issuer && !provider.kubernetes)
        issue(['trustSources', i, 'provider'], `provider "${s.provider}" has no issuer: it cannot verify JWT assertions`);
      routing = provider?.issuer ?? provider?.kubernetes?.issuer;
    }
    // An assertion is routed to its trust source by iss (SPIFFE: by the trust domain of sub): one source each.
    if (routing !== undefined) {
      if (issuers.has(routing)) issue(['trustSources', i], `routes the same issuer or trust domain as "${issuers.get(routing)}"`);
      issuers.set(routing, s.id);
    }
  });
  if (uses.private_key_jwt) {
    const store = a.replayCache.store;
    if (store === undefined)
      issue(
        ['replayCache', 'store'],
        'is required with private_key_jwt clients: redis (shared by every replica) or memory (one replica only: an assertion could be replayed to another)',
      );
    if (store === 'redis' && !a.replayCache.redis) issue(['replayCache', 'redis'], 'is required with store: redis');
  }
  const redis = a.replayCache.redis;
  if (redis) {
    const u = new URL(redis.url);
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') issue(['replayCache', 'redis', 'url'], 'must be redis:// or rediss://');
    if (u.password) issue(['replayCache', 'redis', 'url'], 'must not contain a password: use passwordFile or passwordEnv');
    if (redis.passwordFile !== undefined && redis.passwordEnv !== undefined)
      issue(['replayCache', 'redis', 'passwordFile'], 'set only one of passwordFile, passwordEnv');
  }
  if (c.tokenEndpoint.delegation.actor === 'caller' && !(a.methods ?? ['none']).some((m) => m !== 'none'))
    ctx.addIssue({
      code: 'custom',
      path: ['tokenEndpoint', 'delegation', 'actor'],
      message: 'caller needs client authentication: list a method other than none in tokenEndpoint.clientAuthentication.methods',
    });
}
