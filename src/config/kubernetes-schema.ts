/**
 * The `kubernetes` section of a provider (issue 21): Kubernetes projected service-account tokens as
 * identities, verified locally against the cluster issuer's keys (docs/workload-identity.md). A provider
 * with this section is of the `kubernetes` kind; its other fields (`audiences`, `allow`, `claims`,
 * `cacheTtl`, `timeout`, `retries`, `circuitBreaker`, `jwksCooldown`, `algorithms`…) keep their meaning.
 */
import { z } from 'zod';
import { duration, scopeToken, url } from './schema-fields.ts';

/** Where a pod finds the API server, its service-account token and the cluster CA (kubelet's projected volume). */
const IN_CLUSTER = Object.freeze({
  apiServer: 'https://kubernetes.default.svc',
  tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
  caFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
});

/** The API server's own audiences on common distributions (kubeadm, kind, k3s, EKS, GKE…), besides the issuer. */
const WELL_KNOWN_API_AUDIENCES = ['https://kubernetes.default.svc', 'https://kubernetes.default.svc.cluster.local'] as const;

export const kubernetesSchema = z.strictObject({
  /**
   * The cluster's service-account issuer: the exact `iss` of its tokens (kube-apiserver
   * `--service-account-issuer`; `kubectl get --raw /.well-known/openid-configuration` shows it as
   * `issuer`). kubeadm and kind: `https://kubernetes.default.svc.cluster.local`; EKS
   * `https://oidc.eks.<region>.amazonaws.com/id/<id>`; GKE
   * `https://container.googleapis.com/v1/projects/<p>/locations/<l>/clusters/<c>`. Required.
   */
  issuer: url,
  /**
   * The API server authjwt reads the issuer's discovery document and keys from, and sends TokenReviews
   * to, authenticated with its own service-account token and the cluster CA. The only host that token is
   * ever sent to. Default `https://kubernetes.default.svc` (in-cluster). Unused with `jwksFile` and
   * without `tokenReview`.
   */
  apiServer: url.default(IN_CLUSTER.apiServer),
  /**
   * authjwt's own service-account token (a projected, rotating token): sent as the Bearer credential to
   * `apiServer`; re-read every minute and after a 401, so kubelet's rotation is picked up. Default
   * `/var/run/secrets/kubernetes.io/serviceaccount/token`.
   */
  tokenFile: z.string().min(1).default(IN_CLUSTER.tokenFile),
  /**
   * CA bundle that signs `apiServer`'s certificate (the only CAs trusted for it); re-read every minute.
   * Default `/var/run/secrets/kubernetes.io/serviceaccount/ca.crt`.
   */
  caFile: z.string().min(1).default(IN_CLUSTER.caFile),
  /**
   * A static JWKS file (e.g. mounted from a ConfigMap) instead of discovery, for clusters whose API
   * server publishes no keys (ServiceAccountIssuerDiscovery off) or that authjwt may not reach. Re-read
   * when it changes, and on an unknown `kid` at most every `jwksCooldown`.
   */
  jwksFile: z.string().min(1).optional(),
  /**
   * The proven account id (GetJWT's `provider_account_id`, and `{accountId}` in the minted `sub`), from
   * the token's `kubernetes.io` claim: `{namespace}`, `{name}` (the service account) and `{uid}` (the
   * service account's UID: pins the identity to one incarnation of the account; a recreated account
   * of the same name gets another). Default `system:serviceaccount:{namespace}:{name}`, Kubernetes'
   * own username for it.
   */
  subject: z
    .string()
    .min(1)
    .max(256)
    .refine((t) => t.includes('{name}') || t.includes('{uid}'), { message: 'must contain {name} or {uid}' })
    .refine((t) => !/\{(?!namespace\}|name\}|uid\})/.test(t), { message: 'the placeholders are {namespace}, {name} and {uid}' })
    .default('system:serviceaccount:{namespace}:{name}'),
  /**
   * Accept the `default` service account of a namespace. Off by default: every pod of a namespace that
   * names no service account runs as `default`, so it identifies no workload (keycloak#44064).
   */
  allowDefaultServiceAccount: z.boolean().default(false),
  /**
   * Longest accepted token lifetime (`exp` − `iat`, or up to `kubernetes.io.warnafter` when present).
   * Kubelet's projected tokens default to 1h (`expirationSeconds`); AWS STS accepts at most 24h. Default 24h.
   */
  maxTokenLifetime: duration({ min: 600_000, max: 7 * 86_400_000 }).default(86_400_000),
  /**
   * Audiences of tokens meant for the API server itself (kube-apiserver `--api-audiences`). A token that
   * names any of them is refused even when it also names one of `audiences`, and none of them may be
   * one of `audiences`. The issuer is always included. Default: the issuer, `apiServer`,
   * `https://kubernetes.default.svc` and `https://kubernetes.default.svc.cluster.local`.
   */
  apiAudiences: z.array(z.string().min(1)).min(1).max(16).optional(),
  /**
   * Also ask the API server (TokenReview, `authentication.k8s.io/v1`) whether the token is still
   * valid: refuses a token whose pod, secret or node was deleted before it expires. Costs one API
   * server call per verification (cached with the verification result for the provider's `cacheTtl`),
   * and ties every exchange to the API server's availability. Needs `system:auth-delegator`. Default off.
   */
  tokenReview: z.boolean().default(false),
  /**
   * The OAuth scopes a workload's token is taken to carry (a Transaction Token request is refused unless
   * its `scope` is within them: draft-ietf-oauth-transaction-tokens, Scope Processing). A projected
   * service-account token carries no scope of its own, so by default its scopes cannot be determined
   * and every Txn-Token request with it is refused. RFC 6749 §3.3 scope-tokens, at most 64. Default: none.
   */
  scopes: z.array(scopeToken).max(64).optional(),
});

export type ParsedKubernetes = z.output<typeof kubernetesSchema>;

/** The audiences that mark a token for the API server: configured or defaulted, the issuer always included. */
export function apiAudiencesOf(k: Pick<ParsedKubernetes, 'issuer' | 'apiServer' | 'apiAudiences'>): string[] {
  const configured = k.apiAudiences ?? [k.apiServer, ...WELL_KNOWN_API_AUDIENCES];
  return [...new Set([k.issuer, ...configured])];
}
