/**
 * The e2e global setup (`node --test --test-global-setup=test/helpers/e2e-global-setup.ts`, see
 * scripts/test.sh): node's test runner takes one setup module, so this one starts what the e2e files
 * share, in parallel — the Keycloak container (shared-keycloak.ts) and the real Kubernetes cluster
 * (k8s-cluster.ts, published in K8S_CLUSTER_ENV) — and tears both down after the last file.
 *
 * The cluster: `AUTHJWT_TEST_K8S=off` starts none (the Kubernetes suites then start their own, or fail
 * with CI set / skip otherwise). Outside CI it starts only when already built (`bash .ci/k8s-cluster.sh
 * build`) and running as root; a start failure is reported, and the Kubernetes suites then fail (CI) or
 * skip on their own.
 */
import { clusterUnavailable, K8S_CLUSTER_ENV, startCluster, stopCluster } from './k8s-cluster.ts';
import { startSharedKeycloak, stopSharedKeycloak } from './shared-keycloak.ts';

const holder = `e2e-${process.pid}`;
let clusterStarted = false;

async function startSharedCluster(): Promise<void> {
  const requested = process.env[K8S_CLUSTER_ENV];
  delete process.env[K8S_CLUSTER_ENV];
  if (requested === 'off') return;
  const unavailable = clusterUnavailable();
  if (unavailable) {
    console.warn(`# no test cluster: ${unavailable}`);
    return;
  }
  const started = Date.now();
  try {
    const cluster = await startCluster(holder, { build: Boolean(process.env.CI) });
    clusterStarted = true;
    process.env[K8S_CLUSTER_ENV] = JSON.stringify(cluster);
    console.log(
      `# Kubernetes ${cluster.version} test cluster ready in ${((Date.now() - started) / 1000).toFixed(1)}s at ${cluster.apiUrl} (image ${cluster.image.repository}:${cluster.image.tag})`,
    );
  } catch (error) {
    console.warn(`# the test cluster did not start: ${(error as Error).message}`);
  }
}

export async function globalSetup(): Promise<void> {
  await Promise.all([startSharedKeycloak(), startSharedCluster()]);
}

export async function globalTeardown(): Promise<void> {
  await Promise.all([
    stopSharedKeycloak(),
    clusterStarted ? stopCluster(holder).catch((error: Error) => console.warn(`# test cluster teardown: ${error.message}`)) : undefined,
  ]);
}
