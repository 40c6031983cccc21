/**
 * Issue 20 (4): rollouts and drain in a REAL cluster, with the chart's DEFAULTS for everything that
 * matters here (RollingUpdate maxSurge 1 / maxUnavailable 0, the 10 s preStop sleep, shutdownGrace 20 s,
 * terminationGracePeriodSeconds 40, two replicas) plus the PodDisruptionBudget (maxUnavailable 1).
 *
 * A client pod calls GetJWT through the Service continuously from 6 gRPC connections (kube-proxy spreads
 * them over the replicas) and verifies every token against the JWKS fetched through the Service.
 *
 * - `helm upgrade` with a changed config value (the checksum rolls the pods): 0 failed calls, with NO
 *   client retry. Every old pod goes through preStop → SIGTERM → GOAWAY → drain while the load runs.
 * - A pod evicted the way `kubectl drain` does it (the Eviction API, so the PDB applies): 0 failed
 *   calls; the PDB refuses evicting the second replica at the same time.
 * - A pod deleted with `kubectl delete pod`: 0 failed calls. The client here uses the retry policy of
 *   docs/clients.md (a call ending in UNAVAILABLE is repeated up to twice after 100 ms), because a real
 *   client must: `UNAVAILABLE` is gRPC's "transient, retry" status (ERR_AUTHJWT_SHUTTING_DOWN, or a
 *   connection refused by a pod whose endpoint a slow node has not removed yet); the retries the test
 *   needed are printed, and must be few.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { startClientPod, startLoad, type LoadSummary } from '../helpers/k8s-cluster.ts';
import { waitFor } from '../helpers/wait-for.ts';
import {
  applyKeySecret,
  CHART,
  AUDIENCE,
  inPodEnv,
  ISSUER,
  k8sPrerequisite,
  newSigningKey,
  releasePods,
  startSuite,
  type K8sSuite,
} from './k8s/suite.ts';

const WHAT = 'Kubernetes rollout e2e suite';
const skip = k8sPrerequisite(WHAT);
const release = 'authjwt';

describe('Kubernetes: helm upgrade and pod deletion under load, chart defaults (issue 20)', { skip, timeout: 900_000 }, () => {
  let suite: K8sSuite;
  let valuesDir: string;

  /** Only what the chart requires (image, keys, issuer, audience, a provider) and the PDB: no lifecycle, strategy or grace override. */
  const values = (tokenTtl: string) => ({
    image: { repository: suite.cluster.image.repository, tag: suite.cluster.image.tag },
    keys: { existingSecret: 'authjwt-signing-keys' },
    podDisruptionBudget: { enabled: true },
    tests: { enabled: false },
    config: {
      issuer: ISSUER,
      audience: AUDIENCE,
      tokenTtl,
      providers: [{ id: 'keycloak', type: 'oidc', issuer: suite.kc.issuer, allowHttp: true, audiences: ['frontend'], strategy: 'jwt' }],
    },
  });
  const helmWith = async (command: 'install' | 'upgrade', tokenTtl: string) => {
    writeFileSync(join(valuesDir, 'values.yaml'), stringify(values(tokenTtl)));
    const started = Date.now();
    await suite.helm([command, release, CHART, '-n', suite.namespace, '-f', join(valuesDir, 'values.yaml'), '--wait', '--timeout', '5m']);
    return Date.now() - started;
  };
  /** Runs `action` under load (RETRIES client retries) until no pod of the release is terminating any more. */
  const underLoad = async (name: string, retries: number, action: () => Promise<void>): Promise<LoadSummary> => {
    const load = startLoad(suite.cluster, suite.namespace, name, {
      ...inPodEnv(suite, release),
      WORKERS: '6',
      PAUSE_MS: '20',
      RETRIES: String(retries),
    });
    let summary: LoadSummary;
    try {
      await load.started;
      await action();
      // Until every old pod is gone: its preStop, SIGTERM and drain all happen under load.
      await waitFor(
        async () => (await releasePods(suite.kubectl, suite.namespace, release)).every((p) => !p.deleting && p.ready) || undefined,
        {
          what: 'the old pods to terminate and the new ones to be ready',
          timeout: 180_000,
          interval: 1_000,
        },
      );
      // A few more seconds of calls on the new set of pods.
      const calls = () => Number(load.events.findLast((e) => e.event === 'stats')?.calls ?? 0);
      const target = calls() + 50;
      await waitFor(() => calls() >= target, { what: '50 more calls', timeout: 30_000, interval: 500 });
    } finally {
      summary = await load.stop();
    }
    const failures = load.events.filter((e) => e.event === 'failure');
    console.log(
      `# ${name}: ${summary.calls} calls, ${summary.failed} failed, ${summary.retried} retried (${JSON.stringify(summary.byCode)})${failures.length ? `\n# first failures: ${JSON.stringify(failures.slice(0, 5))}` : ''}`,
    );
    return summary;
  };

  before(async () => {
    suite = await startSuite('rollout');
    valuesDir = mkdtempSync(join(tmpdir(), 'authjwt-k8s-values-'));
    await applyKeySecret(suite.kubectl, suite.namespace, 'authjwt-signing-keys', { 'signing-2026-11.pem': (await newSigningKey()).pem });
    await helmWith('install', '10m');
    const deploy = await suite.kubectl.json<{
      spec: {
        strategy: { rollingUpdate: { maxSurge: number; maxUnavailable: number } };
        template: {
          spec: {
            terminationGracePeriodSeconds: number;
            containers: { name: string; lifecycle?: { preStop?: { sleep?: { seconds: number } } } }[];
          };
        };
      };
    }>(['-n', suite.namespace, 'get', 'deployment', release]);
    // The defaults under test, as the API server has them.
    assert.deepEqual(deploy.spec.strategy.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });
    assert.equal(deploy.spec.template.spec.containers.find((c) => c.name === 'authjwt')!.lifecycle?.preStop?.sleep?.seconds, 10);
    assert.equal(deploy.spec.template.spec.terminationGracePeriodSeconds, 40);
    await Promise.all(
      ['upgrade-load', 'evict-load', 'delete-load'].map((n) => startClientPod(suite.kubectl, suite.cluster, suite.namespace, n)),
    );
  });
  after(async () => {
    if (valuesDir) rmSync(valuesDir, { recursive: true, force: true });
    await suite?.close();
  });

  it('helm upgrade with a changed config value rolls every pod under load: 0 failed calls, no client retry', async () => {
    const before = (await releasePods(suite.kubectl, suite.namespace, release)).map((p) => p.name);
    let upgradeMs = 0;
    const summary = await underLoad('upgrade-load', 0, async () => {
      upgradeMs = await helmWith('upgrade', '11m');
    });
    const after = (await releasePods(suite.kubectl, suite.namespace, release)).map((p) => p.name);
    console.log(`# helm upgrade --wait: ${(upgradeMs / 1000).toFixed(1)}s`);
    assert.equal(after.filter((p) => before.includes(p)).length, 0, 'every pod was replaced');
    assert.ok(summary.calls > 200, `enough calls crossed the rollout (${summary.calls})`);
    assert.equal(summary.failed, 0, JSON.stringify(summary));
  });

  it('a pod evicted (as by kubectl drain; the PDB applies) under load: 0 failed calls; the PDB refuses a second eviction meanwhile', async () => {
    const [first, second] = await releasePods(suite.kubectl, suite.namespace, release);
    let refused = '';
    const evict = (pod: string) =>
      suite.kubectl(['create', '--raw', `/api/v1/namespaces/${suite.namespace}/pods/${pod}/eviction`, '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace: suite.namespace } }),
      });
    const summary = await underLoad('evict-load', 0, async () => {
      await evict(first!.name);
      refused = await evict(second!.name).then(
        () => 'evicted',
        (error: Error) => error.message,
      );
    });
    assert.match(refused, /disruption budget|TooManyRequests|429/i, 'the PDB protects the other replica');
    assert.equal(summary.failed, 0, JSON.stringify(summary));
  });

  it('a pod deleted under load: 0 failed calls with the documented client retry (UNAVAILABLE, 2 retries)', async () => {
    const [victim] = await releasePods(suite.kubectl, suite.namespace, release);
    const summary = await underLoad('delete-load', 2, async () => {
      await suite.kubectl(['-n', suite.namespace, 'delete', 'pod', victim!.name, '--wait=false']);
    });
    assert.equal(summary.failed, 0, JSON.stringify(summary));
    assert.ok(summary.retried <= 10, `retries stay rare (${summary.retried})`);
  });
});
