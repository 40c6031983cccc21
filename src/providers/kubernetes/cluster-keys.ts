import type { JWTVerifyGetKey } from 'jose';

/**
 * Where a Kubernetes verifier gets the cluster issuer's keys: discovery from the API server
 * (src/providers/oidc/discovery.ts, with the API server's authenticated fetch) or a static JWKS file
 * (src/providers/kubernetes/jwks-file.ts). Both refetch on an unknown `kid`, rate-limited, and keep
 * the last good keys when the source fails.
 */
export interface ClusterKeys {
  /** The keys and the accepted algorithms; rejects with an UNAVAILABLE error when there are none. */
  current(): Promise<{ keys: JWTVerifyGetKey | undefined; algorithms: readonly string[] }>;
  /** A token used an algorithm not accepted so far: look again (rate-limited); undefined when nothing changed. */
  rediscoverFor(alg: string | undefined): Promise<{ keys: JWTVerifyGetKey | undefined; algorithms: readonly string[] } | undefined>;
  /** True when the keys last seen hold no RSA/EC/OKP signing key (a provider fault, not the token's). */
  jwksUnusable(): boolean;
}
