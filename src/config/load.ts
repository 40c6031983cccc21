import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { OIDC_DEFAULT_CLAIMS, PRESETS } from './presets.ts';
import { configSchema, type ParsedConfig, type ParsedProvider } from './schema.ts';
import { isHttpAllowed, isLoopbackHost } from './url-policy.ts';

/** A secret value that never serializes or prints (logs, config dumps, errors). */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toJSON(): string {
    return '[redacted]';
  }
  toString(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}

export type OidcStrategyConfig = {
  kind: 'oidc';
  issuer: string;
  verification: 'auto' | 'jwt' | 'introspection' | 'userinfo';
  accountIdClaim: string;
  algorithms: readonly string[] | undefined;
  /** Minimum ms between JWKS refetches on an unknown kid. */
  jwksCooldown: number;
};
export type UserApiStrategyConfig = {
  kind: 'user-api';
  userinfoUrl: string;
  accountIdField: string;
  headers: Readonly<Record<string, string>>;
  preset: string | undefined;
  /** GitHub: REST API base for POST /applications/{client_id}/token. */
  apiBaseUrl: string | undefined;
};

/** A provider after presets, secrets and URL policy were applied. Durations are milliseconds. */
export interface ProviderConfig {
  id: string;
  type: 'oidc' | 'oauth';
  audiences: readonly string[] | undefined;
  clientId: string | undefined;
  clientSecret: Secret | undefined;
  allowHttp: boolean;
  timeout: number;
  /** Cache lifetime (ms) of results proven by a provider call. */
  cacheTtl: number;
  retries: number;
  circuitBreaker: ParsedProvider['circuitBreaker'];
  claims: Readonly<Record<string, string>>;
  strategy: OidcStrategyConfig | UserApiStrategyConfig;
}

/** The validated, frozen configuration. Durations are milliseconds. */
export type Config = Omit<ParsedConfig, 'providers'> & {
  providers: readonly ProviderConfig[];
  keys: ParsedConfig['keys'] & { jwksMaxAge: number };
  /** Non-fatal findings to log loudly at start (dev key, plain http, unbound tokens…). */
  warnings: readonly string[];
};

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  readFile?: (path: string) => string;
  /** Shown in error messages. */
  source?: string;
}

const pathOf = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${String(seg)}` : String(seg)), '');

/** Reads a YAML config file and validates it; throws {@link ConfigError} naming each bad field. */
export function loadConfigFile(file: string, options: LoadOptions = {}): Config {
  const read = options.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  let text: string;
  try {
    text = read(file);
  } catch (e) {
    throw new ConfigError([{ path: '', message: `cannot read config file: ${(e as Error).message}` }], file);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError([{ path: '', message: `not valid YAML: ${(e as Error).message}` }], file);
  }
  return buildConfig(raw, { ...options, source: options.source ?? file });
}

/** Validates an already-parsed config object. */
export function buildConfig(raw: unknown, options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const read = options.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error.issues), options.source);
  const c = parsed.data;
  const issues: { path: string; message: string }[] = [];
  const warnings: string[] = [];

  const issuerUrl = new URL(c.issuer);
  if (issuerUrl.protocol !== 'https:' && !isLoopbackHost(issuerUrl.hostname)) {
    warnings.push(`issuer ${c.issuer} is not https: gateways should fetch discovery and JWKS over TLS`);
  }
  if (issuerUrl.search || issuerUrl.hash) issues.push({ path: 'issuer', message: 'must not have a query or fragment' });
  const grpcHost = c.grpc.listen.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (!c.grpc.tls && !c.grpc.plaintext && !isLoopbackHost(grpcHost)) {
    warnings.push(`gRPC on ${c.grpc.listen} is plaintext: set grpc.tls (certFile, keyFile, clientCaFile for mTLS), or grpc.plaintext: true when a mesh provides mTLS`);
  }
  if (c.keys.ephemeral) {
    warnings.push('keys.ephemeral is on: signing with a throwaway key generated at start. DEVELOPMENT ONLY — tokens do not survive a restart and replicas do not share keys.');
  }

  const providers = c.providers.map((p, i) => resolveProvider(p, `providers[${i}]`, { env, read, issues, warnings }));
  if (issues.length) throw new ConfigError(issues, options.source);

  const jwksMaxAge = c.keys.jwksMaxAge ?? Math.min(Math.floor(c.keys.publishLeadTime / 2), 300_000);
  return deepFreeze({ ...c, keys: { ...c.keys, jwksMaxAge }, providers, warnings });
}

function resolveProvider(
  p: ParsedProvider,
  path: string,
  ctx: { env: NodeJS.ProcessEnv; read: (p: string) => string; issues: { path: string; message: string }[]; warnings: string[] },
): ProviderConfig {
  const preset = p.preset ? PRESETS[p.preset] : undefined;
  const type = p.type ?? preset?.type ?? 'oidc';
  const checkUrl = (field: string, value: string) => {
    const u = new URL(value);
    if (!isHttpAllowed(u, p.allowHttp)) {
      ctx.issues.push({ path: `${path}.${field}`, message: `must be https (plain http only for loopback hosts or with allowHttp: true), got ${u.protocol}//${u.host}` });
    } else if (u.protocol === 'http:' && !isLoopbackHost(u.hostname)) {
      ctx.warnings.push(`provider ${p.id}: ${field} uses plain http (allowHttp: true); tokens cross the network unencrypted`);
    }
  };

  let clientSecret: Secret | undefined;
  if (p.clientSecret !== undefined) clientSecret = new Secret(p.clientSecret);
  if (p.clientSecretFile !== undefined) {
    try {
      clientSecret = new Secret(ctx.read(p.clientSecretFile).replace(/\r?\n$/, ''));
    } catch (e) {
      ctx.issues.push({ path: `${path}.clientSecretFile`, message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
    }
  }
  if (p.clientSecretEnv !== undefined) {
    const v = ctx.env[p.clientSecretEnv];
    if (!v) ctx.issues.push({ path: `${path}.clientSecretEnv`, message: `environment variable ${p.clientSecretEnv} is not set or empty` });
    else clientSecret = new Secret(v);
  }
  if (clientSecret && !p.clientId) ctx.issues.push({ path: `${path}.clientId`, message: 'is required when a client secret is set' });

  let strategy: OidcStrategyConfig | UserApiStrategyConfig;
  if (p.issuer) {
    checkUrl('issuer', p.issuer);
    strategy = { kind: 'oidc', issuer: p.issuer, verification: p.verification, accountIdClaim: p.accountIdClaim, algorithms: p.algorithms, jwksCooldown: p.jwksCooldown };
    if (!p.audiences?.length) {
      ctx.warnings.push(`provider ${p.id}: no audiences configured — tokens issued to ANY client of ${p.issuer} are accepted; set audiences to your client ids`);
    }
  } else {
    const userinfoUrl = p.userinfoUrl ?? preset!.userinfoUrl;
    checkUrl('userinfoUrl', userinfoUrl);
    const apiBaseUrl = p.apiBaseUrl ?? preset?.apiBaseUrl;
    if (apiBaseUrl) checkUrl('apiBaseUrl', apiBaseUrl);
    strategy = {
      kind: 'user-api',
      userinfoUrl,
      accountIdField: p.accountIdField ?? preset!.accountIdField,
      headers: { ...preset?.headers, ...lowerCaseKeys(p.headers ?? {}) },
      preset: p.preset,
      apiBaseUrl,
    };
    if (p.preset === 'github' && !(p.clientId && clientSecret)) {
      ctx.warnings.push(`provider ${p.id}: github preset without clientId/client secret — tokens of ANY GitHub OAuth app are accepted; configure them to bind tokens to your app`);
    }
    if (p.verification !== 'auto') {
      ctx.issues.push({ path: `${path}.verification`, message: 'only applies to providers with an issuer' });
    }
  }
  const claims = { ...(preset?.claims ?? (type === 'oidc' ? OIDC_DEFAULT_CLAIMS : {})), ...(p.claims ?? {}) };
  return {
    id: p.id,
    type,
    audiences: p.audiences,
    clientId: p.clientId,
    clientSecret,
    allowHttp: p.allowHttp,
    timeout: p.timeout,
    cacheTtl: p.cacheTtl,
    retries: p.retries,
    circuitBreaker: p.circuitBreaker,
    claims,
    strategy,
  };
}

const lowerCaseKeys = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));

function formatIssues(issues: readonly z.core.$ZodIssue[]): { path: string; message: string }[] {
  return issues.flatMap((i) => {
    if (i.code === 'invalid_union' && 'errors' in i && Array.isArray(i.errors) && i.errors.length) {
      // Report the first branch's problems rather than a generic "invalid input".
      return (i.errors[0] as z.core.$ZodIssue[]).map((sub) => ({ path: pathOf([...i.path, ...sub.path]), message: describe(sub) }));
    }
    return [{ path: pathOf(i.path), message: describe(i) }];
  });
}

function describe(i: z.core.$ZodIssue): string {
  if (i.code === 'unrecognized_keys') return `unknown field(s): ${i.keys.join(', ')}`;
  // A rejected record key (e.g. a reserved claim name): report why, not zod's generic "Invalid key in record".
  if (i.code === 'invalid_key' && i.issues.length) return i.issues.map((sub) => sub.message).join('; ');
  if (i.code === 'invalid_type' && i.message.includes('received undefined')) return 'is required';
  return i.message;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !(o instanceof Secret) && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
