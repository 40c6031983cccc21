import { authJwtError } from '../../errors.ts';

/** A Kubernetes object a token names or is bound to: its name and UID. */
interface ObjectRef {
  readonly name: string;
  readonly uid: string;
}

/**
 * The workload a verified service-account token proves, from its private `kubernetes.io` claim
 * (kubernetes/kubernetes pkg/serviceaccount/claims.go): the namespace and service account always;
 * the pod (and, since 1.30, the node it runs on) for a pod-bound token, the secret for a
 * secret-bound one, the node for a node-bound one. Policy sees the same data as
 * `claims['kubernetes.io']` — the shape of GCP Workload Identity Federation's
 * `assertion['kubernetes.io']`.
 */
export interface KubernetesIdentity {
  readonly namespace: string;
  readonly serviceAccount: ObjectRef;
  readonly pod: ObjectRef | undefined;
  readonly node: ObjectRef | undefined;
  readonly secret: ObjectRef | undefined;
  /** `kubernetes.io.warnafter` (seconds since the epoch): set on tokens whose expiry the API server extended. */
  readonly warnAfter: number | undefined;
  /** Kubernetes' username for the service account: `system:serviceaccount:<namespace>:<name>`. */
  readonly username: string;
}

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';
/** Names and UIDs as Kubernetes makes them: DNS subdomains (≤ 253) and UUIDs; bounded, printable, no `:`. */
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const UID = /^[A-Za-z0-9-]{1,64}$/;

const own = (o: unknown, key: string): unknown =>
  typeof o === 'object' && o !== null && !Array.isArray(o) && Object.hasOwn(o, key) ? (o as Record<string, unknown>)[key] : undefined;

/**
 * The {@link KubernetesIdentity} of a verified token's claims. Throws `UPSTREAM_NOT_SERVICE_ACCOUNT_TOKEN`
 * (UNAUTHENTICATED) when `kubernetes.io` lacks a namespace or a service account {name, uid}, holds a
 * malformed reference, or `sub` is not the service account's username: the token is not what the
 * API server issues for a service account (a legacy Secret-based token has no `kubernetes.io`).
 */
export function kubernetesIdentityOf(claims: Readonly<Record<string, unknown>>): KubernetesIdentity {
  const refuse = (detail: string): never => {
    throw authJwtError('UPSTREAM_NOT_SERVICE_ACCOUNT_TOKEN', { detail });
  };
  const k = own(claims, 'kubernetes.io');
  if (k === undefined) refuse('no kubernetes.io claim');
  const namespace = own(k, 'namespace');
  if (typeof namespace !== 'string' || !NAME.test(namespace)) refuse('kubernetes.io.namespace is missing or malformed');
  const ref = (field: string, required: boolean): ObjectRef | undefined => {
    const value = own(k, field);
    if (value === undefined && !required) return undefined;
    const name = own(value, 'name');
    const uid = own(value, 'uid');
    if (typeof name !== 'string' || !NAME.test(name) || typeof uid !== 'string' || !UID.test(uid))
      refuse(`kubernetes.io.${field} is ${required && value === undefined ? 'missing' : 'malformed'}`);
    return { name: name as string, uid: uid as string };
  };
  const serviceAccount = ref('serviceaccount', true)!;
  const username = `${SERVICE_ACCOUNT_PREFIX}${namespace as string}:${serviceAccount.name}`;
  if (claims.sub !== username) refuse('sub is not system:serviceaccount:<kubernetes.io.namespace>:<kubernetes.io.serviceaccount.name>');
  const warnAfter = own(k, 'warnafter');
  if (warnAfter !== undefined && (typeof warnAfter !== 'number' || !Number.isFinite(warnAfter)))
    refuse('kubernetes.io.warnafter is not a number');
  return {
    namespace: namespace as string,
    serviceAccount,
    pod: ref('pod', false),
    node: ref('node', false),
    secret: ref('secret', false),
    warnAfter: warnAfter as number | undefined,
    username,
  };
}

/** The account id from `kubernetes.subject`: `{namespace}`, `{name}`, `{uid}` of the service account. */
export function renderSubject(template: string, identity: KubernetesIdentity): string {
  // Replacement functions: "$&" and the like in a value must be copied verbatim (names cannot hold them, but still).
  return template
    .replaceAll('{namespace}', () => identity.namespace)
    .replaceAll('{name}', () => identity.serviceAccount.name)
    .replaceAll('{uid}', () => identity.serviceAccount.uid);
}
