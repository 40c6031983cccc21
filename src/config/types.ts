import type { PolicySource } from '../policy/index.ts';
import type { Secret } from './secret.ts';
import type { ParsedConfig, ParsedProvider } from './schema.ts';

export type AccountType = 'oidc' | 'oauth';
type OidcStrategy = 'auto' | 'jwt' | 'introspection' | 'userinfo';
/** How a provider proves an access token (docs/strategies.md). */
export type Strategy = OidcStrategy | 'user-api';

/** OIDC discovery settings (providers with an `issuer`). */
interface OidcSettings {
  issuer: string;
  /** Accepted JWS algorithms; undefined: what the provider advertises (asymmetric only). */
  algorithms: readonly string[] | undefined;
  /** Minimum ms between JWKS refetches / rediscoveries triggered by a token. */
  jwksCooldown: number;
}

/** User-API settings (providers with `userApiUrl` or a preset). */
interface UserApiSettings {
  url: string;
  headers: Readonly<Record<string, string>>;
  preset: string | undefined;
  /** GitHub: REST API base for POST /applications/{client_id}/token and the org/team lookups. */
  apiBaseUrl: string | undefined;
}

/** Kubernetes settings (providers with a `kubernetes` section, src/config/kubernetes-schema.ts). Durations are milliseconds. */
interface KubernetesSettings {
  /** The cluster's service-account issuer: the exact `iss` of its tokens. */
  issuer: string;
  apiServer: string;
  tokenFile: string;
  caFile: string;
  /** Static JWKS instead of discovery from the API server. */
  jwksFile: string | undefined;
  /** Account-id template: {namespace}, {name}, {uid}. */
  subject: string;
  allowDefaultServiceAccount: boolean;
  maxTokenLifetime: number;
  /** Audiences of API-server tokens (the issuer included): a token naming one is refused. */
  apiAudiences: readonly string[];
  tokenReview: boolean;
  /** Accepted JWS algorithms; undefined: what discovery advertises, or the JWKS file's keys. */
  algorithms: readonly string[] | undefined;
  /** Minimum ms between key refetches (or file re-reads) an unknown `kid` can trigger. */
  jwksCooldown: number;
  /** Scopes granted to every workload token of this cluster; undefined: cannot be determined. */
  scopes: readonly string[] | undefined;
}

/** Self-signed workload JWTs (providers with a `selfSigned` section, src/config/self-signed-schema.ts). Durations are milliseconds. */
interface SelfSignedSettings {
  /** Required `aud`; undefined: authjwt's `issuer`. */
  audience: string | undefined;
  algorithms: readonly string[];
  maxTokenLifetime: number;
  replayProtection: boolean;
  /** `redis`: the client-authentication Redis (`tokenEndpoint.clientAuthentication.replayCache.redis`). */
  replayStore: 'memory' | 'redis';
  maxReplayEntries: number;
  /** Mint access tokens from them too (token endpoint, requested_token_type access_token). */
  accessTokens: boolean;
  workloads: readonly {
    id: string;
    jwks: { keys: readonly Record<string, unknown>[] } | undefined;
    jwksFile: string | undefined;
    reloadInterval: number;
    /** `sub` values allowed besides `id`; `*`: any. */
    subjects: readonly string[];
    /** Scopes the workload may claim; undefined: its tokens' scopes cannot be determined. */
    scopes: readonly string[] | undefined;
  }[];
}

/** A provider after presets, deprecated names, secrets and URL policy were applied. Durations are milliseconds. */
export interface ProviderConfig {
  id: string;
  /** The `account.type` Auth.js v5 reports for this provider. */
  type: AccountType;
  /** `account.type` values accepted in requests. */
  accountTypes: readonly AccountType[];
  strategy: Strategy;
  /** Dotted path of the account id in the verified data. */
  accountIdClaim: string;
  /** Accepted clients (aud / azp / client_id) of upstream tokens; undefined: any client. */
  audiences: readonly string[] | undefined;
  clientId: string | undefined;
  clientSecret: Secret | undefined;
  allowHttp: boolean;
  timeout: number;
  /** Cache lifetime (ms) of results proven by a provider call. */
  cacheTtl: number;
  retries: number;
  circuitBreaker: ParsedProvider['circuitBreaker'];
  /** Minted claim name → dotted path copied from the verified data (preset and OIDC defaults, bare paths in `claims`). */
  claims: Readonly<Record<string, string>>;
  /**
   * `allow` rules and the computed (CEL) `claims`, as configured (docs/policy.md); compiled and checked by
   * buildConfig, which keeps the compiled form for the composition root. Undefined: anyone the provider proves gets a token.
   */
  policy: PolicySource | undefined;
  /** Overrides of the top-level audience / tokenTtl for tokens minted for this provider. */
  audience: readonly string[] | undefined;
  tokenTtl: number | undefined;
  capToUpstreamExpiry: boolean | undefined;
  oidc: OidcSettings | undefined;
  userApi: UserApiSettings | undefined;
  /** Set for a `kubernetes` provider (issue 21); then `oidc` and `userApi` are undefined. */
  kubernetes: KubernetesSettings | undefined;
  /** Set for a `selfSigned` provider (issue 22); then `oidc`, `userApi` and `kubernetes` are undefined. */
  selfSigned?: SelfSignedSettings | undefined;
}

/** The validated, frozen configuration. Durations are milliseconds. */
export type Config = Omit<ParsedConfig, 'providers'> & {
  providers: readonly ProviderConfig[];
  keys: ParsedConfig['keys'] & { jwksMaxAge: number };
  /** Non-fatal findings to log loudly at start (dev key, plain http, unbound tokens, deprecated names…). */
  warnings: readonly string[];
  /** Secrets of the token endpoint's client authentication (issue 21), read at load. */
  clientAuthSecrets: { redisPassword: Secret | undefined };
};
