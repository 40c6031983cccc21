/**
 * What the Kubernetes e2e suites (test/e2e/k8s-*.test.ts) share: the cluster and the shared Keycloak
 * reached at the node address (so tokens the test fetches and discovery done by authjwt in a pod name
 * one issuer), a namespace enforcing Pod Security `restricted`, signing keys in a Secret, and values
 * for the chart close to helm/authjwt/ci/production-values.yaml (Keycloak proven by introspection with
 * its client secret mounted from a Secret, an `allow` rule, computed claims, PDB, NetworkPolicy,
 * ServiceMonitor, PrometheusRule) minus what needs infrastructure the cluster does not have (a registry,
 * cert-manager, metrics-server for the HPA).
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { KC_INTROSPECTION, REALM, startKeycloak, type RunningKeycloak } from '../../helpers/keycloak.ts';
import {
  clusterUnavailable,
  createRestrictedNamespace,
  helmFor,
  K8S_CLUSTER_ENV,
  kubectlFor,
  useCluster,
  type K8sCluster,
  type Kubectl,
} from '../../helpers/k8s-cluster.ts';
import { helmBin } from '../../helpers/k8s-validate.ts';
import { missingPrerequisite } from '../../helpers/prerequisite.ts';

export const CHART = new URL('../../../helm/authjwt', import.meta.url).pathname;
export const ISSUER = 'https://authjwt.example.com';
export const AUDIENCE = 'internal-services';

/** Why the Kubernetes suites cannot run (skip locally, fail with CI set), or undefined. */
export function k8sPrerequisite(what: string): string | undefined {
  const reason = !helmBin()
    ? 'helm is not installed (bash .ci/k8s-tools.sh)'
    : !process.env[K8S_CLUSTER_ENV]
      ? clusterUnavailable()
      : undefined;
  return reason === undefined ? undefined : missingPrerequisite(what, reason);
}

export interface K8sSuite {
  cluster: K8sCluster;
  kubectl: Kubectl;
  helm: (args: readonly string[], options?: { timeout?: number }) => Promise<string>;
  /** The shared Keycloak at the node address (unless started with `keycloak: false`). */
  kc: RunningKeycloak;
  namespace: string;
  close(): Promise<void>;
}

export async function startSuite(what: string, options: { keycloak?: boolean } = {}): Promise<K8sSuite> {
  const { cluster, close } = await useCluster();
  const kubectl = kubectlFor(cluster);
  const kc = options.keycloak === false ? undefined : await startKeycloak({ host: cluster.nodeIp });
  const namespace = await createRestrictedNamespace(kubectl, what);
  return {
    cluster,
    kubectl,
    helm: helmFor(cluster),
    kc: kc as RunningKeycloak,
    namespace,
    async close() {
      // Pods first (CNI cleanup happens as they go), without waiting for the namespace's finalizers.
      await kubectl(['delete', 'namespace', namespace, '--wait=false']).catch(() => undefined);
      await kc?.close();
      await close();
    },
  };
}

export interface SigningKey {
  pem: string;
  kid: string;
}

/** An EC P-256 signing key (as operators create them with openssl) and its RFC 7638 kid. */
export async function newSigningKey(notBefore?: Date): Promise<SigningKey> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const kid = await calculateJwkThumbprint(await exportJWK(createPublicKey(privateKey)));
  return { pem: notBefore ? `Not-Before: ${notBefore.toISOString().replace(/\.\d{3}Z$/, 'Z')}\n${pem}` : pem, kid };
}

/**
 * The key Secret, created or updated with `kubectl apply` of `data` — what the idiom of
 * docs/key-rotation.md (`kubectl create secret … --dry-run=client -o yaml | kubectl apply -f -`) sends.
 * Not `stringData`: apply cannot remove a key that was given as stringData (the server stores data only),
 * so a retired key file would stay in the Secret.
 */
export async function applyKeySecret(kubectl: Kubectl, namespace: string, name: string, files: Record<string, string>): Promise<void> {
  const data = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  await kubectl.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, type: 'Opaque', data }, { namespace });
}

const KC_PROVIDER_SECRET = 'authjwt-keycloak-client';

/**
 * Production-like chart values for the Keycloak provider (introspection, client secret from a mounted
 * Secret, deployer-only `allow`, computed claims). `overrides` are merged on top (shallow per key).
 */
export function productionLikeValues(suite: K8sSuite, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const kcPort = Number(new URL(suite.kc.baseUrl).port);
  const base: Record<string, unknown> = {
    image: { repository: suite.cluster.image.repository, tag: suite.cluster.image.tag, pullPolicy: 'IfNotPresent' },
    keys: { existingSecret: 'authjwt-signing-keys' },
    providerSecrets: [{ name: 'keycloak', secretName: KC_PROVIDER_SECRET, items: [{ key: 'client-secret', path: 'client-secret' }] }],
    config: {
      issuer: ISSUER,
      audience: [AUDIENCE],
      tokenTtl: '10m',
      logging: { level: 'info' },
      providers: [
        {
          id: 'keycloak',
          type: 'oidc',
          issuer: suite.kc.issuer,
          // An in-cluster-reachable IdP over plain http (the test Keycloak); production uses https.
          allowHttp: true,
          audiences: ['frontend'],
          strategy: 'introspection',
          clientId: KC_INTROSPECTION.clientId,
          clientSecretFile: '/var/run/secrets/authjwt/providers/keycloak/client-secret',
          allow: [{ name: 'deployers', expression: "'deployer' in claims.realm_access.roles" }],
          claims: { roles: 'claims.realm_access.roles', email: 'claims.email' },
        },
      ],
    },
    podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
    networkPolicy: {
      enabled: true,
      // The IdP is reached on its published port, not 443 (the bridge CNI does not enforce this anyway:
      // docs/testing.md says what the test cluster does not prove).
      egress: { enabled: true, extraRules: [{ ports: [{ port: kcPort, protocol: 'TCP' }] }] },
    },
    serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
    prometheusRule: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
  };
  return { ...base, ...overrides };
}

/** The Keycloak client secret authjwt introspects with, as a Secret (what providerSecrets mounts). */
export async function applyProviderSecret(kubectl: Kubectl, namespace: string): Promise<void> {
  await kubectl.apply(
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: KC_PROVIDER_SECRET }, stringData: { 'client-secret': KC_INTROSPECTION.secret } },
    { namespace },
  );
}

/** Environment of the in-pod client for the Keycloak user `username` (a password grant from inside the pod). */
export function inPodEnv(suite: K8sSuite, service: string, username = 'alice'): Record<string, string> {
  return {
    AUTHJWT_ADDRESS: `${service}:50051`,
    JWKS_URL: `http://${service}.${suite.namespace}.svc.cluster.local:8080/.well-known/jwks.json`,
    ISSUER,
    AUDIENCE,
    PROVIDER: 'keycloak',
    KC_TOKEN_URL: `${suite.kc.baseUrl}/realms/${REALM}/protocol/openid-connect/token`,
    KC_CLIENT_ID: 'frontend',
    KC_USERNAME: username,
    KC_PASSWORD: username,
  };
}

/** The authjwt pods of a release (name, ready, deleting). */
export async function releasePods(kubectl: Kubectl, namespace: string, release: string) {
  const list = await kubectl.json<{
    items: {
      metadata: { name: string; deletionTimestamp?: string };
      status: { podIP?: string; conditions?: { type: string; status: string }[] };
    }[];
  }>(['-n', namespace, 'get', 'pods', '-l', `app.kubernetes.io/instance=${release},app.kubernetes.io/component!=test`]);
  return list.items.map((p) => ({
    name: p.metadata.name,
    ip: p.status.podIP,
    deleting: Boolean(p.metadata.deletionTimestamp),
    ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  }));
}

/** Runs `node -e SCRIPT` in the authjwt container of POD (the image has node, no shell); returns stdout. */
export function nodeInPod(kubectl: Kubectl, namespace: string, pod: string, script: string): Promise<string> {
  return kubectl(['-n', namespace, 'exec', pod, '-c', 'authjwt', '--', 'node', '-e', script]);
}

/** GET http://127.0.0.1:8080PATH inside the pod (its own metrics and probes, not the Service's). */
export async function podHttp(kubectl: Kubectl, namespace: string, pod: string, path: string): Promise<{ status: number; body: string }> {
  const out = await nodeInPod(
    kubectl,
    namespace,
    pod,
    `fetch('http://127.0.0.1:8080${path}').then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })))`,
  );
  return JSON.parse(out) as { status: number; body: string };
}

export interface LogLine {
  /** ms since the epoch (from the ISO `time` of the JSON log). */
  at: number;
  msg: string;
  [key: string]: unknown;
}

/** JSON log lines of a pod's authjwt container. */
export async function podLogs(kubectl: Kubectl, namespace: string, pod: string): Promise<LogLine[]> {
  const text = await kubectl(['-n', namespace, 'logs', pod, '-c', 'authjwt']);
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      const line = JSON.parse(l) as { time: string; msg: string };
      return { ...line, at: Date.parse(line.time) };
    });
}
