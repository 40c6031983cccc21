/**
 * Issue 20 (1, 2, 5 and the install findings): the Helm chart in a REAL Kubernetes cluster
 * (.ci/k8s-cluster.sh: Kubernetes, etcd, containerd, the bridge CNI, kube-proxy, CoreDNS; see
 * docs/testing.md), called the way a workload calls it.
 *
 * - `helm install` of helm/authjwt with production-like values into a namespace that ENFORCES Pod
 *   Security `restricted` (a privileged pod is refused there: the label is not decorative); the rollout
 *   completes, the kubelet's native gRPC readiness probes (grpc.health.v1) pass, `helm test` passes
 *   (it resolves the Service through the cluster DNS), the prometheus-operator CRDs installed from its
 *   Go module accept the chart's ServiceMonitor and PrometheusRule.
 * - From a client pod: GetJWT through the Service DNS name with a Keycloak token (the Keycloak container
 *   is reached from the pod at the node address); a second pod verifies the token against the JWKS
 *   served through the Service; the policy refuses a user without the role (PERMISSION_DENIED).
 * - A second install with the edge doors and the RFC 8693 token endpoint: forward-auth and the token
 *   endpoint answer through the internal Service from a pod.
 * - Security checked in the running pod, not the rendered YAML: uid/gid, capabilities, no_new_privs,
 *   read-only root filesystem, no service-account token, the key files' mode and group (fsGroup) in the
 *   real Secret mount.
 * - A first key load that fails: the kubelet's gRPC probe keeps the pod NotReady and the log does not
 *   claim a "last good keyring".
 * - The Install section of helm/authjwt/README.md, run as written (a stand-in GitHub client secret,
 *   the image the tests built), then step 1 of docs/key-rotation.md: no kubectl warning, `helm test`
 *   passes, and the GitHub provider (unreachable from here) is reported `unknown`, not `reachable`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { get as httpsGet } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { parse, stringify } from 'yaml';
import { inPod, RESTRICTED_POD, startClientPod } from '../helpers/k8s-cluster.ts';
import { helmBin } from '../helpers/k8s-validate.ts';
import { waitFor } from '../helpers/wait-for.ts';
import {
  applyKeySecret,
  applyProviderSecret,
  CHART,
  inPodEnv,
  k8sPrerequisite,
  newSigningKey,
  nodeInPod,
  podHttp,
  podLogs,
  productionLikeValues,
  releasePods,
  startSuite,
  type K8sSuite,
  type SigningKey,
} from './k8s/suite.ts';

const run = promisify(execFile);
const WHAT = 'Kubernetes install e2e suite';
const skip = k8sPrerequisite(WHAT);
const REPO = new URL('../../', import.meta.url).pathname;

/** The first ```sh block after `heading` in a markdown file. */
function shBlockAfter(file: string, heading: string): string {
  const text = readFileSync(join(REPO, file), 'utf8');
  const from = text.indexOf(heading);
  assert.ok(from >= 0, `${file} has no "${heading}"`);
  const m = /```sh\n([\s\S]*?)```/.exec(text.slice(from));
  assert.ok(m, `${file}: no sh block after "${heading}"`);
  return m[1]!;
}

describe('Kubernetes: helm install in a real cluster (issue 20)', { skip, timeout: 900_000 }, () => {
  let suite: K8sSuite;
  let key: SigningKey;
  const release = 'authjwt';

  before(async () => {
    suite = await startSuite('install');
    key = await newSigningKey();
    await applyKeySecret(suite.kubectl, suite.namespace, 'authjwt-signing-keys', { 'signing-2026-11.pem': key.pem });
    await applyProviderSecret(suite.kubectl, suite.namespace);
    // The prometheus-operator CRDs, from its Go module (cluster-scoped: shared by every suite, idempotent).
    await suite.kubectl(['apply', '--server-side', '--force-conflicts', '-f', suite.cluster.prometheusCrds]);
    for (const crd of ['servicemonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com']) {
      await waitFor(
        // (jsonpath fails while the conditions are still unset)
        async () =>
          (await suite
            .kubectl(['get', 'crd', crd, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}'])
            .catch(() => '')) === 'True',
        { what: `CRD ${crd} established`, timeout: 60_000, interval: 250 },
      );
    }
  });
  after(async () => {
    await suite?.close();
  });

  const install = async (name: string, values: Record<string, unknown>) => {
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-k8s-values-'));
    try {
      writeFileSync(join(dir, 'values.yaml'), stringify(values));
      const started = Date.now();
      await suite.helm(['install', name, CHART, '-n', suite.namespace, '-f', join(dir, 'values.yaml'), '--wait', '--timeout', '5m']);
      return Date.now() - started;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('installs under Pod Security "restricted" (enforced: a privileged pod is refused there); the rollout completes', async () => {
    const ms = await install(release, productionLikeValues(suite));
    console.log(`# helm install --wait: ${(ms / 1000).toFixed(1)}s`);
    const ns = await suite.kubectl.json<{ metadata: { labels: Record<string, string> } }>(['get', 'namespace', suite.namespace]);
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    const pods = await releasePods(suite.kubectl, suite.namespace, release);
    assert.equal(pods.length, 2, 'replicaCount 2');
    assert.ok(
      pods.every((p) => p.ready),
      JSON.stringify(pods),
    );
    // Negative control: the same namespace refuses what "restricted" forbids.
    await assert.rejects(
      suite.kubectl.apply(
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'privileged' },
          spec: {
            containers: [
              { name: 'x', image: `${suite.cluster.image.repository}:${suite.cluster.image.tag}`, securityContext: { privileged: true } },
            ],
          },
        },
        { namespace: suite.namespace },
      ),
      /violates PodSecurity "restricted:latest"/,
    );
  });

  it('the kubelet probes readiness with the native gRPC health check (grpc.health.v1, auth.v1alpha1.AuthAPI): pods Ready', async () => {
    const deploy = await suite.kubectl.json<{
      spec: { template: { spec: { containers: { name: string; readinessProbe: { grpc?: { port: number; service: string } } }[] } } };
      status: { readyReplicas?: number };
    }>(['-n', suite.namespace, 'get', 'deployment', release]);
    const container = deploy.spec.template.spec.containers.find((c) => c.name === 'authjwt')!;
    assert.deepEqual(container.readinessProbe.grpc, { port: 50051, service: 'auth.v1alpha1.AuthAPI' });
    assert.equal(deploy.status.readyReplicas, 2);
  });

  it('helm test passes (its pod resolves the Service through the cluster DNS)', async () => {
    // The test pod checks /readyz, the JWKS and gRPC health through the Service and exits 1 on any failure.
    const out = await suite.helm(['test', release, '-n', suite.namespace, '--timeout', '3m']);
    assert.match(out, /TEST SUITE:\s+authjwt-test[\s\S]*Phase:\s+Succeeded/);
  });

  it('the real API server accepts the ServiceMonitor and PrometheusRule (prometheus-operator CRDs from its Go module)', async () => {
    const sm = await suite.kubectl.json<{ spec: { endpoints: { port: string; path: string }[] } }>([
      '-n',
      suite.namespace,
      'get',
      'servicemonitor.monitoring.coreos.com',
      release,
    ]);
    assert.deepEqual(
      sm.spec.endpoints.map((e) => [e.port, e.path]),
      [['http', '/metrics']],
    );
    const rule = await suite.kubectl.json<{ spec: { groups: { rules: { alert?: string; expr: string }[] }[] } }>([
      '-n',
      suite.namespace,
      'get',
      'prometheusrule.monitoring.coreos.com',
      release,
    ]);
    const alerts = rule.spec.groups.flatMap((g) => g.rules).filter((r) => r.alert);
    assert.ok(alerts.some((a) => a.alert === 'AuthJwtKeyReloadFailing'));
    // The CRD's schema is enforced by the API server: a malformed object is refused.
    await assert.rejects(
      suite.kubectl.apply(
        { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: { name: 'bad' }, spec: { endpoints: 'not a list' } },
        { namespace: suite.namespace },
      ),
      /endpoints|Invalid value/,
    );
  });

  it('a workload pod gets a token through the Service DNS name; a second pod verifies it against the JWKS through the Service', async () => {
    const env = inPodEnv(suite, release);
    await Promise.all([
      startClientPod(suite.kubectl, suite.cluster, suite.namespace, 'client', env),
      startClientPod(suite.kubectl, suite.cluster, suite.namespace, 'verifier', env),
    ]);
    const { token } = await inPod<{ token: string }>(suite.cluster, suite.namespace, 'client', 'exchange');
    assert.ok(token);
    const { verified } = await inPod<{ verified: { kid: string; sub: string; provider: string; jwksKids: string[] } }>(
      suite.cluster,
      suite.namespace,
      'verifier',
      'verify',
      { TOKEN: token },
    );
    assert.equal(verified.kid, key.kid, 'signed with the key from the Secret');
    assert.deepEqual(verified.jwksKids, [key.kid]);
    assert.equal(verified.provider, 'keycloak');
    assert.ok(verified.sub);
    // The provider's allow rule holds in the cluster too: bob has no deployer role.
    const denied = await inPod<{ error?: string; code?: string }>(suite.cluster, suite.namespace, 'client', 'exchange', {
      KC_USERNAME: 'bob',
      KC_PASSWORD: 'bob',
    });
    assert.equal(denied.exitCode, 1);
    assert.equal(denied.code, 'PERMISSION_DENIED');
  });

  it('security in place, read from the running pod: non-root, no capabilities, read-only root, no SA token, key files 0440 root:10001', async () => {
    const [pod] = await releasePods(suite.kubectl, suite.namespace, release);
    const facts = JSON.parse(
      await nodeInPod(
        suite.kubectl,
        suite.namespace,
        pod!.name,
        `const fs = require('node:fs');
         const status = fs.readFileSync('/proc/self/status', 'utf8');
         const field = (n) => (new RegExp('^' + n + ':\\\\s*(.*)$', 'm').exec(status) || [])[1];
         const canWrite = (p) => { try { fs.writeFileSync(p, 'x'); return true; } catch (e) { return e.code; } };
         const dir = fs.realpathSync('/var/run/secrets/authjwt/keys');
         const file = fs.realpathSync(dir + '/signing-2026-11.pem');
         const st = fs.statSync(file);
         console.log(JSON.stringify({
           uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(),
           capEff: field('CapEff'), noNewPrivs: field('NoNewPrivs'),
           rootWrite: canWrite('/authjwt-probe'), tmpWrite: canWrite('/tmp/authjwt-probe'),
           saToken: fs.existsSync('/var/run/secrets/kubernetes.io/serviceaccount'),
           keyMode: (st.mode & 0o777).toString(8), keyUid: st.uid, keyGid: st.gid,
           keyMount: fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\\n').filter((l) => l.includes(' ' + dir + ' ')).map((l) => l.split(' - ')[1].split(' ')[0] + ' ' + l.split(' - ')[0].split(' ')[5]),
         }));`,
      ),
    ) as Record<string, unknown>;
    assert.equal(facts.uid, 10001);
    assert.equal(facts.gid, 10001);
    assert.equal(facts.capEff, '0000000000000000', 'no effective capability');
    assert.equal(facts.noNewPrivs, '1');
    assert.equal(facts.rootWrite, 'EROFS', 'read-only root filesystem');
    assert.equal(facts.tmpWrite, 'EROFS', 'no writable /tmp either');
    assert.equal(facts.saToken, false, 'no service-account token mounted');
    assert.equal(facts.keyMode, '440', 'defaultMode 0440');
    assert.equal(facts.keyUid, 0);
    assert.equal(facts.keyGid, 10001, 'group = the pod fsGroup: readable by the pod user only');
    // mountinfo: the filesystem type and the per-mount options (a tmpfs: key material never touches the node's disk)
    assert.match(String((facts.keyMount as string[])[0]), /^tmpfs ro(,|$)/, 'a read-only tmpfs mount');
  });

  it('edge doors and the token endpoint (second install): forward-auth and RFC 8693 through the internal Service from a pod', async () => {
    const edge = 'authjwt-edge';
    const values = productionLikeValues(suite, {
      edge: { extAuthz: { enabled: true }, forwardAuth: { enabled: true } },
      serviceMonitor: { enabled: false },
      prometheusRule: { enabled: false },
      podDisruptionBudget: { enabled: false },
      replicaCount: 1,
    });
    const config = values.config as Record<string, unknown>;
    values.config = {
      ...config,
      grpc: { plaintext: true, maxReceiveMessageBytes: 65536 },
      edge: { identityHeaders: { 'x-authjwt-sub': 'sub', 'x-authjwt-provider': 'provider' } },
      tokenEndpoint: { enabled: true },
    };
    await install(edge, values);
    const services = await suite.kubectl.json<{ items: { metadata: { name: string } }[] }>(['-n', suite.namespace, 'get', 'services']);
    assert.ok(services.items.some((s) => s.metadata.name === `${edge}-internal`));
    const env = {
      ...inPodEnv(suite, edge),
      FORWARD_AUTH_URL: `http://${edge}-internal:8081/forward-auth`,
      TOKEN_ENDPOINT: `http://${edge}-internal:8081/token`,
    };
    await startClientPod(suite.kubectl, suite.cluster, suite.namespace, 'edge-client', env);
    const fa = await inPod<{ status: number; identity: Record<string, string>; verified: { kid: string; provider: string } }>(
      suite.cluster,
      suite.namespace,
      'edge-client',
      'forward-auth',
    );
    assert.equal(fa.status, 200);
    assert.equal(fa.identity['x-authjwt-provider'], 'keycloak');
    assert.ok(fa.identity['x-authjwt-sub']);
    assert.equal(fa.verified.kid, key.kid);
    const te = await inPod<{ status: number; issuedTokenType: string; verified: { kid: string; provider: string } }>(
      suite.cluster,
      suite.namespace,
      'edge-client',
      'token-endpoint',
    );
    assert.equal(te.status, 200);
    assert.equal(te.issuedTokenType, 'urn:ietf:params:oauth:token-type:access_token');
    assert.equal(te.verified.provider, 'keycloak');
  });

  it('a pod whose FIRST key load fails: the kubelet gRPC probe keeps it NotReady; the log does not claim a "last good keyring"', async () => {
    const broken = 'authjwt-broken';
    await applyKeySecret(suite.kubectl, suite.namespace, 'authjwt-broken-keys', {
      'broken.pem': '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
    });
    const values = productionLikeValues(suite, {
      keys: { existingSecret: 'authjwt-broken-keys' },
      replicaCount: 1,
      serviceMonitor: { enabled: false },
      prometheusRule: { enabled: false },
      podDisruptionBudget: { enabled: false },
      tests: { enabled: false },
    });
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-k8s-values-'));
    writeFileSync(join(dir, 'values.yaml'), stringify(values));
    await suite.helm(['install', broken, CHART, '-n', suite.namespace, '-f', join(dir, 'values.yaml')]);
    rmSync(dir, { recursive: true, force: true });
    const pod = await waitFor(async () => (await releasePods(suite.kubectl, suite.namespace, broken))[0], {
      what: 'the pod',
      timeout: 60_000,
    });
    // Running (liveness is /livez) but never Ready: the kubelet's gRPC probe gets NOT_SERVING.
    const event = await waitFor(
      async () => {
        const events = await suite.kubectl.json<{ items: { reason: string; message: string; involvedObject: { name: string } }[] }>([
          '-n',
          suite.namespace,
          'get',
          'events',
          '--field-selector',
          `involvedObject.name=${pod.name}`,
        ]);
        return events.items.find((e) => e.reason === 'Unhealthy' && /Readiness probe failed/.test(e.message));
      },
      { what: 'a failed readiness probe event', timeout: 90_000, interval: 1_000 },
    );
    assert.match(event.message, /NOT_SERVING/);
    const [now] = await releasePods(suite.kubectl, suite.namespace, broken);
    assert.equal(now!.ready, false);
    const readyz = await podHttp(suite.kubectl, suite.namespace, pod.name, '/readyz');
    assert.equal(readyz.status, 503);
    assert.equal((JSON.parse(readyz.body) as { lastKeyReloadError: string }).lastKeyReloadError, 'ERR_AUTHJWT_KEYS_FILE_INVALID');
    const messages = (await podLogs(suite.kubectl, suite.namespace, pod.name)).map((l) => l.msg);
    assert.ok(messages.includes('key load failed; no signing key until the key directory loads (NOT_SERVING)'), messages.join('\n'));
    assert.ok(!messages.some((m) => m.includes('keeping the last good keyring')));
    await suite.helm(['uninstall', broken, '-n', suite.namespace]);
  });

  it('the API server issues projected service-account tokens that verify against its discovery and JWKS and pass a TokenReview (what the kubernetes provider kind will use)', async () => {
    const { kubectl, cluster, namespace } = suite;
    await kubectl.apply(
      [
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'workload' } },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'workload' },
          spec: {
            serviceAccountName: 'workload',
            automountServiceAccountToken: false,
            securityContext: RESTRICTED_POD.podSecurityContext,
            containers: [
              {
                name: 'app',
                image: `${cluster.image.repository}:${cluster.image.tag}`,
                command: ['node', '-e', 'setInterval(() => {}, 1 << 30)'],
                securityContext: RESTRICTED_POD.containerSecurityContext,
                volumeMounts: [{ name: 'token', mountPath: '/var/run/secrets/tokens', readOnly: true }],
              },
            ],
            volumes: [
              {
                name: 'token',
                projected: { sources: [{ serviceAccountToken: { path: 'authjwt', audience: 'authjwt', expirationSeconds: 600 } }] },
              },
            ],
          },
        },
      ],
      { namespace },
    );
    await kubectl(['-n', namespace, 'wait', '--for=condition=Ready', 'pod/workload', '--timeout=120s'], { timeout: 130_000 });
    const token = (
      await kubectl([
        '-n',
        namespace,
        'exec',
        'workload',
        '--',
        'node',
        '-e',
        "process.stdout.write(require('node:fs').readFileSync('/var/run/secrets/tokens/authjwt', 'utf8'))",
      ])
    ).trim();
    // Discovery and JWKS from the API server (admin credentials of the kubeconfig; a real setup grants
    // system:service-account-issuer-discovery instead).
    const user = (parse(readFileSync(cluster.kubeconfig, 'utf8')) as { users: { user: Record<string, string> }[] }).users[0]!.user;
    const tls = {
      ca: readFileSync(cluster.caFile),
      cert: readFileSync(user['client-certificate']!),
      key: readFileSync(user['client-key']!),
    };
    const getJson = (url: string) =>
      new Promise<Record<string, unknown>>((resolve, reject) =>
        httpsGet(url, tls, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c));
          res.on('end', () =>
            res.statusCode === 200
              ? resolve(JSON.parse(body) as Record<string, unknown>)
              : reject(new Error(`${url}: ${res.statusCode} ${body}`)),
          );
        }).on('error', reject),
      );
    const discovery = await getJson(`${cluster.apiUrl}/.well-known/openid-configuration`);
    assert.equal(discovery.issuer, cluster.serviceAccountIssuer);
    const jwks = await getJson(`${cluster.apiUrl}/openid/v1/jwks`);
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks as unknown as JSONWebKeySet), {
      issuer: cluster.serviceAccountIssuer,
      audience: 'authjwt',
    });
    assert.equal(payload.sub, `system:serviceaccount:${namespace}:workload`);
    const review = JSON.parse(
      await kubectl(['create', '-o', 'json', '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: ['authjwt'] } }),
      }),
    ) as { status: { authenticated: boolean; user: { username: string }; audiences: string[] } };
    assert.equal(review.status.authenticated, true);
    assert.equal(review.status.user.username, `system:serviceaccount:${namespace}:workload`);
    assert.deepEqual(review.status.audiences, ['authjwt']);
  });

  it('README Install, run as written: the Secret idiom prints no warning (also for key-rotation.md step 1), helm test passes, GitHub is "unknown"', async () => {
    const ns = `${suite.namespace}-readme`;
    await suite.kubectl.apply({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
    });
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-readme-'));
    try {
      symlinkSync(join(REPO, 'helm'), join(dir, 'helm'));
      // A kubeconfig whose context namespace is the test's: the commands run unchanged.
      const kubeconfig = join(dir, 'kubeconfig');
      const config = parse(readFileSync(suite.cluster.kubeconfig, 'utf8')) as { contexts: { context: { namespace?: string } }[] };
      for (const c of config.contexts) c.context.namespace = ns;
      writeFileSync(join(dir, 'kubeconfig'), stringify(config), { mode: 0o600 });
      await waitFor(
        () =>
          suite.kubectl(['-n', ns, 'get', 'serviceaccount', 'default']).then(
            () => true,
            () => false,
          ),
        {
          what: 'the namespace',
          timeout: 60_000,
          interval: 250,
        },
      );
      const install = shBlockAfter('helm/authjwt/README.md', '## Install')
        // the image the tests built: the README's registry does not exist here
        .replace(/repository: \S+/, `repository: ${suite.cluster.image.repository}`)
        .replace(/tag: "\S+"/, `tag: "${suite.cluster.image.tag}"`);
      assert.ok(install.includes('--dry-run=client -o yaml | kubectl apply -f -'));
      const rotate = shBlockAfter('docs/key-rotation.md', '1. **Add** the new key');
      const env = {
        ...process.env,
        KUBECONFIG: kubeconfig,
        GITHUB_CLIENT_SECRET: 'stand-in-client-secret',
        PATH: `${join(suite.cluster.kubectl, '..')}:${join(helmBin()!, '..')}:${process.env.PATH}`,
      };
      const sh = async (script: string) => {
        const { stdout, stderr } = await run('bash', ['-euo', 'pipefail', '-c', script], {
          cwd: dir,
          env,
          maxBuffer: 16 << 20,
          timeout: 600_000,
        });
        return { stdout, stderr };
      };
      const first = await sh(
        install.replace(/helm install (\S+) (\S+) -f my-values.yaml/, 'helm install $1 $2 -f my-values.yaml --wait --timeout 5m'),
      );
      assert.doesNotMatch(first.stderr, /warning/i, first.stderr);
      assert.match(first.stdout, /Phase:\s+Succeeded/, 'helm test passed');
      const second = await sh(rotate);
      assert.doesNotMatch(second.stderr, /warning/i, 'the rotation update warns after the README create');
      assert.match(second.stdout, /secret\/authjwt-keys configured/);
      const secret = await suite.kubectl.json<{ data: Record<string, string> }>(['-n', ns, 'get', 'secret', 'authjwt-keys']);
      assert.deepEqual(Object.keys(secret.data).sort(), ['signing-2026-11.pem', 'signing-2026-12.pem']);
      // No egress to GitHub from here, and no call was made: "unknown", never "reachable".
      const [pod] = await releasePods(suite.kubectl, ns, 'authjwt');
      const readyz = JSON.parse((await podHttp(suite.kubectl, ns, pod!.name, '/readyz')).body) as { providers: Record<string, string> };
      assert.deepEqual(readyz.providers, { github: 'unknown' });
      const metrics = (await podHttp(suite.kubectl, ns, pod!.name, '/metrics')).body;
      assert.match(metrics, /authjwt_provider_up\{provider="github"\} 0/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await suite.kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    }
  });
});
