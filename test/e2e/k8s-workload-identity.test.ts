/**
 * Issue 20's last acceptance point, for issue 21's `kubernetes` provider kind: workload identity against
 * the REAL API server of the test cluster (.ci/k8s-cluster.sh), not a stand-in.
 *
 * The chart installs authjwt with a kubernetes provider (the cluster's service-account issuer,
 * `tokenReview: true`) the way docs/workload-identity.md shows it: `kubernetesProviders.*` at their
 * defaults mount authjwt's OWN service-account token and the cluster CA (kube-root-ca.crt) into its
 * container and bind its ServiceAccount to system:auth-delegator. authjwt then reads discovery and the
 * JWKS from https://kubernetes.default.svc (through the Service, with that token: authenticated
 * discovery) and sends TokenReviews.
 *
 * - A workload pod with its own ServiceAccount and a projected token (audience `authjwt`) calls GetJWT
 *   through the Service with the token file (re-read per call); the minted token verifies against the
 *   JWKS served through the Service, its `sub` is `cluster:system:serviceaccount:<ns>:payments`.
 * - The namespace's `default` service account: PERMISSION_DENIED.
 * - A token for the API server's own audience (`kubectl create token`): UNAUTHENTICATED.
 * - TokenReview: a pod-bound token whose pod was deleted (signature and `exp` still valid) is refused
 *   (UNAUTHENTICATED) — what only the real API server can tell.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { inPod, startClientPod } from '../helpers/k8s-cluster.ts';
import { waitFor } from '../helpers/wait-for.ts';
import {
  applyKeySecret,
  AUDIENCE,
  CHART,
  ISSUER,
  k8sPrerequisite,
  newSigningKey,
  podHttp,
  releasePods,
  startSuite,
  type K8sSuite,
} from './k8s/suite.ts';

const WHAT = 'Kubernetes workload identity e2e suite';
const skip = k8sPrerequisite(WHAT);
const release = 'authjwt';

describe('Kubernetes: the kubernetes provider kind against the real API server (issues 20 and 21)', { skip, timeout: 600_000 }, () => {
  let suite: K8sSuite;
  let env: Record<string, string>;

  before(async () => {
    suite = await startSuite('workload', { keycloak: false });
    const { kubectl, namespace, cluster } = suite;
    await applyKeySecret(kubectl, namespace, 'authjwt-signing-keys', { 'signing-2026-11.pem': (await newSigningKey()).pem });
    await kubectl.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'payments' } }, { namespace });
    const values = {
      image: { repository: cluster.image.repository, tag: cluster.image.tag },
      keys: { existingSecret: 'authjwt-signing-keys' },
      replicaCount: 1,
      tests: { enabled: false },
      // The test cluster's API server listens on 16443 behind the Service's 443 (not enforced here anyway).
      networkPolicy: { enabled: true },
      kubernetesProviders: { egressPorts: [443, 16443] },
      config: {
        issuer: ISSUER,
        audience: AUDIENCE,
        providers: [
          {
            id: 'cluster',
            audiences: ['authjwt'],
            kubernetes: { issuer: cluster.serviceAccountIssuer, tokenReview: true },
            allow: [{ name: 'this-namespace', expression: `claims['kubernetes.io'].namespace == '${namespace}'` }],
            claims: { namespace: "claims['kubernetes.io'].namespace", service_account: "claims['kubernetes.io'].serviceaccount.name" },
          },
        ],
      },
    };
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-k8s-values-'));
    try {
      writeFileSync(join(dir, 'values.yaml'), stringify(values));
      await suite.helm(['install', release, CHART, '-n', namespace, '-f', join(dir, 'values.yaml'), '--wait', '--timeout', '5m']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    env = {
      AUTHJWT_ADDRESS: `${release}:50051`,
      JWKS_URL: `http://${release}.${namespace}.svc.cluster.local:8080/.well-known/jwks.json`,
      ISSUER,
      AUDIENCE,
      PROVIDER: 'cluster',
      ACCESS_TOKEN_FILE: '/var/run/secrets/authjwt/token',
    };
    await Promise.all([
      startClientPod(kubectl, cluster, namespace, 'payments', env, { serviceAccountName: 'payments', projectedTokenAudience: 'authjwt' }),
      startClientPod(kubectl, cluster, namespace, 'anonymous', env, { serviceAccountName: 'default', projectedTokenAudience: 'authjwt' }),
      startClientPod(kubectl, cluster, namespace, 'verifier', env),
    ]);
  });
  after(async () => {
    // The release owns a ClusterRoleBinding (system:auth-delegator): uninstall, not only the namespace.
    await suite?.helm(['uninstall', release, '-n', suite.namespace, '--wait']).catch(() => undefined);
    await suite?.close();
  });

  it('a workload pod exchanges its projected token through the Service: keys from the API server (authjwt authenticated with its own token), TokenReview accepts it', async () => {
    const { token, exitCode } = await inPod<{ token: string }>(suite.cluster, suite.namespace, 'payments', 'exchange');
    assert.equal(exitCode, 0);
    const { verified } = await inPod<{ verified: { sub: string; provider: string } }>(
      suite.cluster,
      suite.namespace,
      'verifier',
      'verify',
      {
        TOKEN: token,
      },
    );
    assert.equal(verified.sub, `cluster:system:serviceaccount:${suite.namespace}:payments`);
    assert.equal(verified.provider, 'cluster');
    // authjwt's own view: the API server answered (discovery, JWKS, TokenReview).
    const [pod] = await releasePods(suite.kubectl, suite.namespace, release);
    const readyz = JSON.parse((await podHttp(suite.kubectl, suite.namespace, pod!.name, '/readyz')).body) as {
      providers: Record<string, string>;
    };
    assert.equal(readyz.providers.cluster, 'reachable');
    const binding = await suite.kubectl.json<{ items: { roleRef: { name: string }; subjects?: { name: string; namespace?: string }[] }[] }>(
      ['get', 'clusterrolebindings'],
    );
    assert.ok(
      binding.items.some((b) => b.roleRef.name === 'system:auth-delegator' && b.subjects?.some((s) => s.namespace === suite.namespace)),
      'the chart bound authjwt to system:auth-delegator for TokenReview',
    );
  });

  it("the namespace's default service account is refused (PERMISSION_DENIED)", async () => {
    const denied = await inPod<{ code?: string }>(suite.cluster, suite.namespace, 'anonymous', 'exchange');
    assert.equal(denied.exitCode, 1);
    assert.equal(denied.code, 'PERMISSION_DENIED');
  });

  it("a token for the API server's audience (kubectl create token) is refused (UNAUTHENTICATED)", async () => {
    const apiToken = (await suite.kubectl(['-n', suite.namespace, 'create', 'token', 'payments', '--duration=10m'])).trim();
    const refused = await inPod<{ code?: string }>(suite.cluster, suite.namespace, 'payments', 'exchange', { ACCESS_TOKEN: apiToken });
    assert.equal(refused.code, 'UNAUTHENTICATED');
  });

  it('TokenReview: the token of a deleted pod is refused (UNAUTHENTICATED) while its signature and exp are still valid', async () => {
    await startClientPod(suite.kubectl, suite.cluster, suite.namespace, 'short-lived', env, {
      serviceAccountName: 'payments',
      projectedTokenAudience: 'authjwt',
    });
    const bound = (
      await suite.kubectl([
        '-n',
        suite.namespace,
        'exec',
        'short-lived',
        '--',
        'node',
        '-e',
        "process.stdout.write(require('node:fs').readFileSync('/var/run/secrets/authjwt/token', 'utf8'))",
      ])
    ).trim();
    // Valid while its pod lives:
    assert.equal((await inPod(suite.cluster, suite.namespace, 'payments', 'exchange', { ACCESS_TOKEN: bound })).exitCode, 0);
    await suite.kubectl(['-n', suite.namespace, 'delete', 'pod', 'short-lived', '--wait=true', '--timeout=60s'], { timeout: 70_000 });
    const refused = await waitFor(
      async () => {
        const r = await inPod<{ code?: string }>(suite.cluster, suite.namespace, 'payments', 'exchange', { ACCESS_TOKEN: bound });
        return r.exitCode === 1 ? r : undefined;
      },
      { what: 'the deleted pod token to be refused', timeout: 30_000, interval: 1_000 },
    );
    assert.equal(refused.code, 'UNAUTHENTICATED');
  });
});
