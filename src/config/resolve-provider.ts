import type { PolicySource } from '../policy/index.ts';
import { apiAudiencesOf } from './kubernetes-schema.ts';
import { OIDC_DEFAULT_CLAIMS, PRESETS } from './presets.ts';
import { DEPRECATED_PROVIDER_FIELDS, type ParsedProvider } from './schema.ts';
import { Secret } from './secret.ts';
import type { AccountType, ProviderConfig, Strategy } from './types.ts';
import { displayUrl, isHttpAllowed, isLoopbackHost } from './url-policy.ts';

export interface ResolveContext {
  env: NodeJS.ProcessEnv;
  read: (path: string) => string;
  issues: { path: string; message: string }[];
  warnings: string[];
}

const DEFAULT_JWKS_COOLDOWN = 5_000;

/** Applies the preset, deprecated names, secrets and the URL policy to one validated provider entry. */
export function resolveProvider(p: ParsedProvider, path: string, ctx: ResolveContext): ProviderConfig {
  const preset = p.preset ? PRESETS[p.preset] : undefined;
  const type: AccountType = p.type ?? preset?.type ?? (p.issuer || p.kubernetes ? 'oidc' : 'oauth');
  // next-auth v4 reports "oauth" for every provider, Auth.js v5 the provider's type: accept both by default.
  // Workloads calling GetJWT with a Kubernetes token are no Auth.js frontend: only `type` (oidc) by default.
  const accountTypes = p.accountTypes ?? (p.kubernetes ? [type] : [...new Set<AccountType>([type, 'oauth'])]);

  for (const [current, deprecated] of DEPRECATED_PROVIDER_FIELDS) {
    if (p[deprecated] !== undefined)
      ctx.warnings.push(`${path}.${deprecated} is deprecated: write ${current} (the old name is accepted until 1.0)`);
  }

  const checkUrl = (field: string, value: string) => {
    const u = new URL(value);
    if (u.username || u.password) {
      ctx.issues.push({ path: `${path}.${field}`, message: 'must not contain a user name or password' });
    } else if (!isHttpAllowed(u, p.allowHttp)) {
      ctx.issues.push({
        path: `${path}.${field}`,
        message: `must be https (plain http only for loopback hosts or with allowHttp: true), got ${u.protocol}//${u.host}`,
      });
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
      ctx.issues.push({ path: `${path}.clientSecretFile`, message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? 'error'}` });
    }
  }
  if (p.clientSecretEnv !== undefined) {
    const v = ctx.env[p.clientSecretEnv];
    if (!v) ctx.issues.push({ path: `${path}.clientSecretEnv`, message: `environment variable ${p.clientSecretEnv} is not set or empty` });
    else clientSecret = new Secret(v);
  }
  if (clientSecret && !p.clientId) ctx.issues.push({ path: `${path}.clientId`, message: 'is required when a client secret is set' });

  const common = {
    id: p.id,
    type,
    accountTypes,
    audiences: p.audiences,
    clientId: p.clientId,
    clientSecret,
    allowHttp: p.allowHttp,
    timeout: p.timeout,
    cacheTtl: p.cacheTtl,
    retries: p.retries,
    circuitBreaker: p.circuitBreaker,
    ...splitClaims(p, path, preset?.claims ?? (p.issuer ? OIDC_DEFAULT_CLAIMS : {}), ctx),
    kubernetes: undefined,
    audience: p.audience,
    tokenTtl: p.tokenTtl,
    capToUpstreamExpiry: p.capToUpstreamExpiry,
  };

  if (p.selfSigned) {
    const s = p.selfSigned;
    for (const w of s.workloads) {
      if (w.subjects.includes('*'))
        ctx.warnings.push(
          `provider ${p.id}: workload ${JSON.stringify(w.id)} may assert any subject (subjects: ["*"]): its key speaks for every user`,
        );
    }
    if (!s.replayProtection)
      ctx.warnings.push(
        `provider ${p.id}: selfSigned.replayProtection is off — a captured self-signed JWT can be replayed until it expires`,
      );
    else if (s.replayStore === 'memory')
      ctx.warnings.push(
        `provider ${p.id}: selfSigned.replayStore is memory: each replica remembers only the tokens it saw, so with several replicas a self-signed JWT can be used once at every other replica. Use replayStore: redis with more than one replica.`,
      );
    return {
      ...common,
      strategy: 'jwt',
      accountIdClaim: 'sub',
      oidc: undefined,
      userApi: undefined,
      selfSigned: {
        audience: s.audience,
        algorithms: s.algorithms,
        maxTokenLifetime: s.maxTokenLifetime,
        replayProtection: s.replayProtection,
        replayStore: s.replayStore ?? 'memory',
        maxReplayEntries: s.maxReplayEntries,
        accessTokens: s.accessTokens,
        workloads: s.workloads.map((w) => ({
          id: w.id,
          jwks: w.jwks,
          jwksFile: w.jwksFile,
          reloadInterval: w.reloadInterval,
          subjects: [...new Set(w.subjects)],
          scopes: w.scopes ? [...new Set(w.scopes)] : undefined,
        })),
      },
    };
  }

  if (p.kubernetes) {
    const k = p.kubernetes;
    if (k.jwksFile === undefined || k.tokenReview) checkUrl('kubernetes.apiServer', k.apiServer);
    if (k.allowDefaultServiceAccount) {
      ctx.warnings.push(
        `provider ${p.id}: kubernetes.allowDefaultServiceAccount is on — any pod of a namespace that names no service account is accepted as "default"`,
      );
    }
    return {
      ...common,
      strategy: 'jwt',
      accountIdClaim: 'sub',
      oidc: undefined,
      userApi: undefined,
      kubernetes: {
        issuer: k.issuer,
        apiServer: k.apiServer,
        tokenFile: k.tokenFile,
        caFile: k.caFile,
        jwksFile: k.jwksFile,
        subject: k.subject,
        allowDefaultServiceAccount: k.allowDefaultServiceAccount,
        maxTokenLifetime: k.maxTokenLifetime,
        apiAudiences: apiAudiencesOf(k),
        tokenReview: k.tokenReview,
        algorithms: p.algorithms,
        jwksCooldown: p.jwksCooldown ?? DEFAULT_JWKS_COOLDOWN,
        scopes: k.scopes ? [...new Set(k.scopes)] : undefined,
      },
    };
  }

  if (p.issuer) {
    checkUrl('issuer', p.issuer);
    if (!p.audiences?.length) {
      ctx.warnings.push(
        `provider ${p.id}: no audiences configured — tokens issued to ANY client of ${displayUrl(p.issuer)} are accepted; set audiences to your client ids`,
      );
    }
    const strategy: Strategy = p.strategy ?? p.verification ?? 'auto';
    return {
      ...common,
      strategy,
      accountIdClaim: p.accountIdClaim ?? p.accountIdField ?? 'sub',
      oidc: { issuer: p.issuer, algorithms: p.algorithms, jwksCooldown: p.jwksCooldown ?? DEFAULT_JWKS_COOLDOWN },
      userApi: undefined,
    };
  }

  const url = p.userApiUrl ?? p.userinfoUrl ?? preset!.userApiUrl;
  checkUrl(p.userApiUrl ? 'userApiUrl' : p.userinfoUrl ? 'userinfoUrl' : 'preset', url);
  const apiBaseUrl = p.apiBaseUrl ?? preset?.apiBaseUrl;
  if (apiBaseUrl) checkUrl('apiBaseUrl', apiBaseUrl);
  if (p.preset === 'github' && !(p.clientId && clientSecret)) {
    ctx.warnings.push(
      `provider ${p.id}: github preset without clientId/client secret — tokens of ANY GitHub OAuth app are accepted; configure them to bind tokens to your app`,
    );
  }
  return {
    ...common,
    strategy: 'user-api',
    accountIdClaim: p.accountIdClaim ?? p.accountIdField ?? preset!.accountIdClaim,
    oidc: undefined,
    userApi: { url, headers: { ...preset?.headers, ...lowerCaseKeys(p.headers ?? {}) }, preset: p.preset, apiBaseUrl },
  };
}

/**
 * A bare dotted path (`login`, `company.name`, `urn:zitadel:iam:org:project:roles`): the claim mapping of
 * before CEL. Never a valid CEL expression of ours: its first segment is not a CEL variable or literal, and
 * an undeclared identifier, `a-b` over undeclared names or a `:` without `?` does not compile.
 */
const BARE_PATH = /^[A-Za-z_][A-Za-z0-9_:-]*(?:\.[A-Za-z0-9_:-]+)*$/;
const CEL_ROOTS = new Set(['claims', 'account', 'caller', 'actor', 'subject', 'github', 'gitlab', 'true', 'false', 'null']);

export function isBarePath(value: string): boolean {
  return BARE_PATH.test(value) && !CEL_ROOTS.has(value.split('.', 1)[0]!);
}

/** The CEL expression that reads the same value as a bare path. */
export function celOfPath(path: string): string {
  return `claims${path
    .split('.')
    .map((s) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? `.${s}` : `['${s}']`))
    .join('')}`;
}

/**
 * Defaults (preset or OIDC profile claims) merged with the configured `claims`: bare paths are copied as
 * before (deprecated: a warning names the CEL to write), other values are CEL expressions computed by the
 * policy; with `allow`, they form the provider's policy.
 */
function splitClaims(
  p: ParsedProvider,
  path: string,
  defaults: Readonly<Record<string, string>>,
  ctx: ResolveContext,
): { claims: Record<string, string>; policy: PolicySource | undefined } {
  const claims: Record<string, string> = { ...defaults };
  const computed: Record<string, string> = {};
  for (const [name, value] of Object.entries(p.claims ?? {})) {
    if (isBarePath(value)) {
      claims[name] = value;
      ctx.warnings.push(
        `${path}.claims.${name}: the bare path "${value}" is deprecated shorthand: write ${celOfPath(value)} (same value; bare paths are accepted until 1.0)`,
      );
    } else {
      delete claims[name];
      computed[name] = value;
    }
  }
  const hasComputed = Object.keys(computed).length > 0;
  if (p.allow === undefined && !hasComputed) return { claims, policy: undefined };
  return { claims, policy: { ...(p.allow !== undefined ? { allow: p.allow } : {}), ...(hasComputed ? { claims: computed } : {}) } };
}

const lowerCaseKeys = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));
