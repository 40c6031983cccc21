import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ConfigError } from '../errors.ts';
import { PolicyCompileError } from '../policy/index.ts';
import { parseHostPort } from './host-port.ts';
import { resolveClientAuthentication } from './client-auth.ts';
import { compileProviderPolicy } from './provider-policy.ts';
import { resolveProvider } from './resolve-provider.ts';
import { configSchema } from './schema.ts';
import { Secret } from './secret.ts';
import type { Config } from './types.ts';
import { displayUrl, isLoopbackHost } from './url-policy.ts';
import { formatZodIssues, type ConfigIssue } from './zod-issues.ts';

export type { Config } from './types.ts';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  readFile?: (path: string) => string;
  /** Shown in error messages. */
  source?: string;
}

/** Reads a YAML config file and validates it; throws {@link ConfigError} naming each bad field. */
export function loadConfigFile(file: string, options: LoadOptions = {}): Config {
  const read = options.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  let text: string;
  try {
    text = read(file);
  } catch (e) {
    throw new ConfigError([{ path: '', message: `cannot read config file: ${(e as NodeJS.ErrnoException).code ?? 'error'}` }], file);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    // The parser's own message quotes the offending line, which may hold a secret: report position and kind only.
    const where = e instanceof YAMLParseError && e.linePos ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
    const kind = e instanceof YAMLParseError ? ` (${e.code})` : '';
    throw new ConfigError([{ path: '', message: `not valid YAML${where}${kind}` }], file);
  }
  return buildConfig(raw, { ...options, source: options.source ?? file });
}

/** Validates an already-parsed config object. */
export function buildConfig(raw: unknown, options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const read = options.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(formatZodIssues(parsed.error.issues), options.source);
  const c = parsed.data;
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];

  const issuerUrl = new URL(c.issuer);
  if (issuerUrl.username || issuerUrl.password) issues.push({ path: 'issuer', message: 'must not contain a user name or password' });
  if (issuerUrl.search || issuerUrl.hash) issues.push({ path: 'issuer', message: 'must not have a query or fragment' });
  if (issuerUrl.protocol !== 'https:' && !isLoopbackHost(issuerUrl.hostname)) {
    warnings.push(`issuer ${displayUrl(c.issuer)} is not https: gateways should fetch discovery and JWKS over TLS`);
  }
  if (c.issuer.endsWith('/')) {
    warnings.push(
      `issuer ends with "/": minted tokens carry iss "${displayUrl(c.issuer)}" and verifiers compare it byte for byte — configure them with the slash, or remove it here`,
    );
  }
  const grpcHost = parseHostPort(c.grpc.listen).host;
  if (!c.grpc.tls && !c.grpc.plaintext && !isLoopbackHost(grpcHost)) {
    warnings.push(
      `gRPC on ${c.grpc.listen} is plaintext: set grpc.tls (certFile, keyFile, clientCaFile for mTLS), or grpc.plaintext: true when a mesh provides mTLS`,
    );
  }
  if (c.keys.ephemeral) {
    warnings.push(
      'keys.ephemeral is on: signing with a throwaway key generated at start. DEVELOPMENT ONLY — tokens do not survive a restart and replicas do not share keys.',
    );
  }

  // issue 13: the token endpoint is advertised in discovery only at a URL clients can reach.
  if (c.tokenEndpoint.enabled && !c.tokenEndpoint.url && !isLoopbackHost(parseHostPort(c.internalHttp.listen).host)) {
    warnings.push(
      'tokenEndpoint.url is not set: discovery does not advertise the token endpoint (set it to the in-cluster URL, e.g. http://authjwt.<namespace>.svc:8081/token)',
    );
  }
  const providers = c.providers.map((p, i) => resolveProvider(p, `providers[${i}]`, { env, read, issues, warnings }));
  const clientAuthSecrets = resolveClientAuthentication(c, { env, read, issues, warnings });
  if (issues.length) throw new ConfigError(issues, options.source);
  // Policies are compiled here so that a bad expression stops the start (exit 2), with every problem at once.
  providers.forEach((p, i) => {
    try {
      compileProviderPolicy(p, `providers[${i}]`);
    } catch (error) {
      if (!(error instanceof PolicyCompileError)) throw error;
      for (const issue of error.issues) {
        const claim = issue.path.startsWith(`providers[${i}].claims.`) ? issue.path.slice(`providers[${i}].claims.`.length) : undefined;
        const value = claim === undefined ? undefined : p.policy?.claims?.[claim];
        // A path with characters a bare path may not have (an old mapping of a namespaced claim): say how to read it.
        issues.push(
          value !== undefined && /^[^\s()'"[\]]+$/.test(value)
            ? {
                ...issue,
                message: `${issue.message} (to copy a claim whose name has characters other than letters, digits, _ - :, write claims['name'])`,
              }
            : issue,
        );
      }
    }
  });
  if (issues.length) throw new ConfigError(issues, options.source);

  const jwksMaxAge = c.keys.jwksMaxAge ?? Math.min(Math.floor(c.keys.publishLeadTime / 2), 300_000);
  return deepFreeze({ ...c, keys: { ...c.keys, jwksMaxAge }, providers, warnings, clientAuthSecrets });
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !(o instanceof Secret) && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
