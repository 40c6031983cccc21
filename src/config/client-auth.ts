import type { ParsedConfig } from './schema.ts';
import { Secret } from './secret.ts';
import type { ResolveContext } from './resolve-provider.ts';
import { displayUrl, isHttpAllowed, isLoopbackHost } from './url-policy.ts';

/**
 * The token endpoint's client authentication after load (issue 21): the Redis password read from its
 * file or variable, the URL policy applied to OIDC trust sources, and the warnings an operator must see:
 * an implicit `none` (the deprecation path), a per-replica replay cache.
 */
export function resolveClientAuthentication(c: ParsedConfig, ctx: ResolveContext): { redisPassword: Secret | undefined } {
  const t = c.tokenEndpoint;
  const a = t.clientAuthentication;
  const at = 'tokenEndpoint.clientAuthentication';
  if (t.enabled && a.methods === undefined) {
    ctx.warnings.push(
      `${at}.methods is not set: the token endpoint authenticates no client (method none) and any caller that reaches it can exchange a subject token it holds. Set methods explicitly ([none] keeps this and silences the warning; tls_client_auth, private_key_jwt, federated_jwt identify callers). The implicit default will be removed in 1.0.`,
    );
  }
  if (a.replayCache.store === 'memory' && a.clients.some((k) => k.privateKeyJwt)) {
    ctx.warnings.push(
      `${at}.replayCache.store is memory: each replica remembers only the assertions it saw, so with several replicas a private_key_jwt assertion can be replayed once to every other replica. Use store: redis with more than one replica.`,
    );
  }
  a.trustSources.forEach((s, i) => {
    if (s.kind !== 'oidc') return;
    const u = new URL(s.issuer);
    const field = `${at}.trustSources[${i}].issuer`;
    if (u.username || u.password) ctx.issues.push({ path: field, message: 'must not contain a user name or password' });
    else if (!isHttpAllowed(u, s.allowHttp))
      ctx.issues.push({
        path: field,
        message: `must be https (plain http only for loopback hosts or with allowHttp: true), got ${u.protocol}//${u.host}`,
      });
    else if (u.protocol === 'http:' && !isLoopbackHost(u.hostname))
      ctx.warnings.push(`trust source ${s.id}: issuer ${displayUrl(s.issuer)} uses plain http (allowHttp: true)`);
  });

  const redis = a.replayCache.redis;
  let redisPassword: Secret | undefined;
  if (redis?.passwordFile !== undefined) {
    try {
      redisPassword = new Secret(ctx.read(redis.passwordFile).replace(/\r?\n$/, ''));
    } catch (e) {
      ctx.issues.push({
        path: `${at}.replayCache.redis.passwordFile`,
        message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? 'error'}`,
      });
    }
  }
  if (redis?.passwordEnv !== undefined) {
    const v = ctx.env[redis.passwordEnv];
    if (!v)
      ctx.issues.push({
        path: `${at}.replayCache.redis.passwordEnv`,
        message: `environment variable ${redis.passwordEnv} is not set or empty`,
      });
    else redisPassword = new Secret(v);
  }
  if (redis && new URL(redis.url).protocol === 'redis:' && !isLoopbackHost(new URL(redis.url).hostname))
    ctx.warnings.push(
      `${at}.replayCache.redis.url is redis:// (plaintext) on a non-loopback host: use rediss:// unless a mesh encrypts the connection`,
    );
  return { redisPassword };
}
