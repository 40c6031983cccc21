/**
 * The Helm chart (helm/authjwt): lint, render every values file of helm/authjwt/ci/, validate every
 * rendered object offline (test/helpers/k8s-validate.ts: Kubernetes schemas strict + CRD validators),
 * assert the security settings and probes, run the rendered config through authjwt's own validator,
 * and check that values.schema.json rejects bad values with clear messages.
 *
 * Needs helm (and kubernetes-validate): `bash .ci/k8s-tools.sh`. Missing tools FAIL with CI set,
 * and skip loudly otherwise. The generated files (README table, values.schema.json) are checked
 * without helm.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, createPrivateKey } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { helmBin, kubernetesValidateBin, parseManifests, validateObjects, type K8sObject } from '../helpers/k8s-validate.ts';
import { missingPrerequisite } from '../helpers/prerequisite.ts';
import { buildConfig } from '../../src/config/load.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHART = join(ROOT, 'helm/authjwt');
const CI_VALUES = readdirSync(join(CHART, 'ci'))
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const RELEASE = 'authjwt';
const NAMESPACE = 'auth';

const HELM = helmBin();
const STRICT = kubernetesValidateBin();
const missing = [!HELM && 'helm', !STRICT && 'kubernetes-validate'].filter(Boolean);
const skipReason = missing.length
  ? missingPrerequisite('Helm chart rendering tests', `${missing.join(' and ')} not found: run bash .ci/k8s-tools.sh`)
  : undefined;

const helm = (...args: string[]) => execFileSync(HELM!, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const render = (...args: string[]) => parseManifests(helm('template', RELEASE, CHART, '--namespace', NAMESPACE, ...args), 'helm template');
/** Runs helm template expecting a failure; returns its stderr. */
const renderError = (...args: string[]): string => {
  try {
    helm('template', RELEASE, CHART, '--namespace', NAMESPACE, ...args);
  } catch (e) {
    return String((e as { stderr?: string }).stderr ?? e);
  }
  assert.fail(`helm template ${args.join(' ')} succeeded, expected an error`);
};

type Container = {
  name: string;
  image: string;
  ports?: { name: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: Record<string, unknown>;
  readinessProbe?: Record<string, unknown>;
  livenessProbe?: Record<string, unknown>;
  startupProbe?: Record<string, unknown>;
  restartPolicy?: string;
};
type PodSpec = {
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; secret?: { secretName: string }; configMap?: { name: string } }[];
  securityContext?: Record<string, unknown>;
  automountServiceAccountToken?: boolean;
  serviceAccountName?: string;
};
const find = (objects: K8sObject[], kind: string, name?: string) =>
  objects.find((o) => o.kind === kind && (!name || o.metadata?.name === name));
const podSpecOf = (deployment: K8sObject) => (deployment as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
const authjwtContainer = (spec: PodSpec) => [...(spec.initContainers ?? []), ...spec.containers].find((c) => c.name === 'authjwt')!;

/** authjwt's own validator over the rendered config, with secrets as the pod would see them. */
function validateRenderedConfig(objects: K8sObject[]) {
  const cm = find(objects, 'ConfigMap', RELEASE) as unknown as { data: Record<string, string> };
  const spec = podSpecOf(find(objects, 'Deployment')!);
  const container = authjwtContainer(spec);
  const mounts = container.volumeMounts ?? [];
  const secretMounts = mounts.filter((m) => spec.volumes?.find((v) => v.name === m.name)?.secret);
  const read = (path: string) => {
    // clientSecretFile must live in a mounted Secret volume; its content is not knowable here
    if (secretMounts.some((m) => path.startsWith(`${m.mountPath}/`))) return 'secret-from-mounted-volume\n';
    throw Object.assign(new Error(`ENOENT: ${path} is not inside any Secret volume of the pod`), { code: 'ENOENT' });
  };
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? 'value-from-secretKeyRef']));
  const config = buildConfig(parseYaml(cm.data['config.yaml']!), { readFile: read, env, source: 'rendered ConfigMap' });
  return { config, container, spec, mounts };
}

describe('Helm chart: generated files', () => {
  it('every values.yaml key is documented, README table and values.schema.json are up to date (scripts/gen-chart-docs.ts --check)', () => {
    // Run as a command, like helm: test/ never imports scripts/.
    const check = spawnSync(process.execPath, ['scripts/gen-chart-docs.ts', '--check'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(check.status, 0, `node scripts/gen-chart-docs.ts --check failed:\n${check.stderr}`);
  });
});

describe('Helm chart: lint and render', { skip: skipReason }, () => {
  for (const file of CI_VALUES) {
    describe(`ci/${file}`, () => {
      const values = ['-f', join(CHART, 'ci', file)];
      const objects = HELM ? render(...values) : [];

      it('helm lint --strict', () => {
        const out = helm('lint', '--strict', CHART, '--namespace', NAMESPACE, ...values);
        assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      });

      it('every rendered object validates (Kubernetes 1.37 schemas strict; CRDs)', async () => {
        assert.ok(objects.length >= 5, `${objects.length} objects`);
        const problems = await validateObjects(objects, { strictBin: STRICT });
        assert.deepEqual(problems, []);
        for (const o of objects)
          assert.equal(
            o.metadata?.namespace ?? NAMESPACE,
            o.kind === 'ConfigMap' && o.metadata?.name?.endsWith('-dashboard') ? o.metadata.namespace : NAMESPACE,
          );
      });

      it('hardened pod: non-root 10001, read-only rootfs, drop ALL, no escalation, seccomp, no SA token', () => {
        const spec = podSpecOf(find(objects, 'Deployment')!);
        assert.equal(spec.automountServiceAccountToken, false);
        assert.deepEqual(spec.securityContext, {
          runAsNonRoot: true,
          runAsUser: 10001,
          runAsGroup: 10001,
          fsGroup: 10001,
          seccompProfile: { type: 'RuntimeDefault' },
        });
        const c = authjwtContainer(spec);
        assert.equal(c.securityContext?.runAsNonRoot, true);
        assert.equal(c.securityContext?.runAsUser, 10001);
        assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
        assert.deepEqual(c.securityContext?.capabilities, { drop: ['ALL'] });
        assert.deepEqual(c.securityContext?.seccompProfile, { type: 'RuntimeDefault' });
        assert.ok(
          (c.volumeMounts ?? []).every((m) => m.readOnly === true),
          'every authjwt mount is read-only',
        );
        assert.ok(!spec.volumes?.some((v) => 'emptyDir' in v), 'no emptyDir: authjwt writes nothing');
        // A service-account token only for a kubernetes provider that needs the API server, in the authjwt container only.
        const { config } = validateRenderedConfig(objects);
        const needsApi = config.providers.some((p) => p.kubernetes && (p.kubernetes.jwksFile === undefined || p.kubernetes.tokenReview));
        const tokenMounts = [...(spec.initContainers ?? []), ...spec.containers].filter((x) =>
          (x.volumeMounts ?? []).some((m) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount'),
        );
        assert.deepEqual(
          tokenMounts.map((x) => x.name),
          needsApi ? ['authjwt'] : [],
        );
        const sa = find(objects, 'ServiceAccount');
        if (sa) assert.equal((sa as { automountServiceAccountToken?: boolean }).automountServiceAccountToken, false);
        const test = find(objects, 'Pod');
        if (test) {
          const ts = (test as unknown as { spec: PodSpec }).spec;
          assert.equal(ts.automountServiceAccountToken, false);
          assert.equal(ts.containers[0]!.securityContext?.readOnlyRootFilesystem, true);
        }
      });

      it('probes: readiness is the native gRPC health check (HTTP(S) /readyz when gRPC is TLS or loopback), liveness /livez', () => {
        const { config, container } = validateRenderedConfig(objects);
        const grpcReachable = !config.grpc.tls && !/^(127\.0\.0\.1|\[::1\]):/.test(config.grpc.listen);
        if (grpcReachable) {
          assert.deepEqual(container.readinessProbe?.grpc, { port: 50051, service: 'auth.v1alpha1.AuthAPI' });
        } else {
          assert.equal((container.readinessProbe!.httpGet as { path: string }).path, '/readyz');
          assert.equal((container.readinessProbe!.httpGet as { scheme: string }).scheme, config.http.tls ? 'HTTPS' : 'HTTP');
        }
        assert.equal((container.livenessProbe!.httpGet as { path: string }).path, '/livez');
        assert.deepEqual(container.startupProbe?.httpGet, container.livenessProbe?.httpGet);
        const svc = find(objects, 'Service', RELEASE) as unknown as {
          spec: { ports: { name: string; appProtocol?: string; targetPort: string }[] };
        };
        const grpcPort = svc.spec.ports.find((p) => p.name === 'grpc');
        if (grpcReachable || config.grpc.tls) assert.equal(grpcPort?.appProtocol, 'grpc');
        else assert.equal(grpcPort, undefined, 'a loopback gRPC listener is not exposed by the Service');
      });

      it("the rendered ConfigMap is accepted by authjwt's validator and matches the pod", () => {
        const { config, container, mounts } = validateRenderedConfig(objects);
        const mountOf = (volume: string) => mounts.find((m) => m.name === volume)?.mountPath;
        assert.equal(config.keys.dir, mountOf('keys'));
        assert.equal(config.keys.ephemeral, false);
        assert.equal(mountOf('config'), '/etc/authjwt');
        assert.equal(container.env?.find((e) => e.name === 'AUTHJWT_CONFIG')?.value, '/etc/authjwt/config.yaml');
        const portOf = (name: string) => container.ports?.find((p) => p.name === name)?.containerPort;
        assert.equal(Number(config.grpc.listen.split(':').pop()), portOf('grpc'));
        assert.equal(config.http.listen, `0.0.0.0:${portOf('http')}`);
        for (const f of [config.grpc.tls?.certFile, config.grpc.tls?.keyFile, config.grpc.tls?.clientCaFile, config.http.tls?.certFile]) {
          if (f) assert.ok(f.startsWith(`${mountOf('tls')}/`), `${f} is in the TLS Secret volume`);
        }
      });

      it('checksum/config annotation is the hash of the rendered config', () => {
        const deployment = find(objects, 'Deployment') as unknown as {
          spec: { template: { metadata: { annotations: Record<string, string> } } };
        };
        const cm = find(objects, 'ConfigMap', RELEASE) as unknown as { data: Record<string, string> };
        const rendered = cm.data['config.yaml']!.split('\n').slice(1).join('\n').trimEnd();
        const sum = createHash('sha256').update(rendered).digest('hex');
        assert.equal(deployment.spec.template.metadata.annotations['checksum/config'], sum);
      });
    });
  }
});

describe('Helm chart: behaviour', { skip: skipReason }, () => {
  const minimal = ['-f', join(CHART, 'ci/minimal-values.yaml')];

  it('a config change changes checksum/config (pods roll); an unrelated change does not', () => {
    const sum = (...args: string[]) =>
      (
        find(render(...minimal, ...args), 'Deployment') as unknown as {
          spec: { template: { metadata: { annotations: Record<string, string> } } };
        }
      ).spec.template.metadata.annotations['checksum/config'];
    const base = sum();
    assert.notEqual(sum('--set', 'config.tokenTtl=5m'), base);
    assert.equal(sum('--set', 'replicaCount=3'), base);
  });

  it('safe drain by default (issue 20): a preStop sleep before SIGTERM, and a grace period above preStop + shutdownGrace', () => {
    for (const args of [minimal, ['-f', join(CHART, 'ci/production-values.yaml')], ['-f', join(CHART, 'ci/edge-values.yaml')]]) {
      const objects = render(...args);
      const { container, spec, config } = validateRenderedConfig(objects);
      const preStop = (container as { lifecycle?: { preStop?: { sleep?: { seconds: number } } } }).lifecycle?.preStop?.sleep?.seconds;
      assert.equal(preStop, 10, args.join(' '));
      const grace = (spec as { terminationGracePeriodSeconds?: number }).terminationGracePeriodSeconds!;
      assert.ok(
        grace > preStop! + config.shutdownGrace / 1000,
        `${grace}s > ${preStop}s + ${config.shutdownGrace / 1000}s (${args.join(' ')})`,
      );
    }
    // An explicit `lifecycle: null` removes it (what the rollout e2e test's negative check uses).
    const bare = authjwtContainer(podSpecOf(find(render(...minimal, '--set', 'lifecycle=null'), 'Deployment')!));
    assert.equal((bare as { lifecycle?: unknown }).lifecycle, undefined);
  });

  it('keys.generate (DEV ONLY): a Secret with a private key authjwt can load, checksum/keys, loud warnings', () => {
    const objects = render('-f', join(CHART, 'ci/dev-values.yaml'));
    const secret = find(objects, 'Secret') as unknown as {
      metadata: { name: string; annotations: Record<string, string> };
      data: Record<string, string>;
    };
    assert.equal(secret.metadata.name, `${RELEASE}-keys`);
    assert.match(secret.metadata.annotations['authjwt.dev/warning']!, /DEV ONLY/);
    const pem = Buffer.from(secret.data['dev-signing-key.pem']!, 'base64').toString();
    assert.equal(createPrivateKey(pem).asymmetricKeyType, 'ec');
    const spec = podSpecOf(find(objects, 'Deployment')!);
    assert.equal(spec.volumes?.find((v) => v.name === 'keys')?.secret?.secretName, `${RELEASE}-keys`);
    const annotations = (
      find(objects, 'Deployment') as unknown as { spec: { template: { metadata: { annotations: Record<string, string> } } } }
    ).spec.template.metadata.annotations;
    assert.match(annotations['checksum/keys'] ?? '', /^[a-f0-9]{64}$/);
    // NOTES.txt only renders on install (needs a cluster): check the banner is guarded by keys.generate
    assert.match(
      readFileSync(join(CHART, 'templates/NOTES.txt'), 'utf8'),
      /\{\{ if \.Values\.keys\.generate \}\}\s*\n\*+\n\* {2}DEV ONLY: keys\.generate=true/,
    );
  });

  it('sidecar: authjwt is a native sidecar bound to loopback next to the app; the Service has no grpc port', () => {
    const objects = render('-f', join(CHART, 'ci/sidecar-values.yaml'));
    const spec = podSpecOf(find(objects, 'Deployment')!);
    assert.equal(spec.initContainers?.[0]?.name, 'authjwt');
    assert.equal(spec.initContainers?.[0]?.restartPolicy, 'Always');
    assert.deepEqual(
      spec.containers.map((c) => c.name),
      ['app'],
    );
    assert.equal(spec.containers[0]!.env?.find((e) => e.name === 'RELEASE')?.value, RELEASE, 'extraContainers go through tpl');
  });

  it('production: mTLS files, HPA instead of replicas, PDB, NetworkPolicy, monitoring objects from files/', () => {
    const objects = render('-f', join(CHART, 'ci/production-values.yaml'));
    const kinds = objects.map((o) => o.kind).sort();
    for (const k of ['HorizontalPodAutoscaler', 'PodDisruptionBudget', 'NetworkPolicy', 'ServiceMonitor', 'PrometheusRule'])
      assert.ok(kinds.includes(k), k);
    const deployment = find(objects, 'Deployment') as unknown as { spec: { replicas?: number } };
    assert.equal(deployment.spec.replicas, undefined, 'the HPA owns replicas');
    const rule = find(objects, 'PrometheusRule') as unknown as { spec: unknown };
    const source = parseYaml(readFileSync(join(ROOT, 'helm/authjwt/files/authjwt-rules.yaml'), 'utf8')) as unknown;
    assert.deepEqual(rule.spec, source, 'PrometheusRule spec = helm/authjwt/files/authjwt-rules.yaml, templates untouched');
    const dashboard = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === `${RELEASE}-dashboard`) as unknown as {
      metadata: { labels: Record<string, string>; namespace: string };
      data: Record<string, string>;
    };
    assert.equal(dashboard.metadata.labels.grafana_dashboard, '1');
    assert.equal(dashboard.metadata.namespace, 'monitoring');
    assert.deepEqual(
      JSON.parse(dashboard.data['authjwt-dashboard.json']!),
      JSON.parse(readFileSync(join(ROOT, 'helm/authjwt/files/authjwt-dashboard.json'), 'utf8')),
    );
    const sm = find(objects, 'ServiceMonitor') as unknown as { spec: { endpoints: { scheme: string; port: string }[] } };
    assert.equal(sm.spec.endpoints[0]!.scheme, 'https');
    const { config } = validateRenderedConfig(objects);
    assert.equal(config.grpc.tls?.clientCaFile, '/var/run/secrets/authjwt/tls/ca.crt');
  });

  // values.schema.json and the templates reject mistakes with a message naming the field
  // (with ci/minimal-values.yaml underneath, unless the arguments start with '--no-base')
  const rejections: [string, string[], RegExp][] = [
    [
      'no signing keys configured',
      ['--set', 'keys.existingSecret='],
      /keys: set keys\.existingSecret .* or keys\.generate=true for a DEV ONLY/,
    ],
    ['both key sources', ['--set', 'keys.generate=true'], /set either keys\.existingSecret or keys\.generate/],
    ['unknown config field (typo)', ['--set', 'config.tokenTTL=5m'], /at '\/config': additional properties 'tokenTTL' not allowed/],
    ['chart-owned config.keys.dir', ['--set', 'config.keys.dir=/x'], /at '\/config\/keys': additional properties 'dir' not allowed/],
    [
      'chart-owned config.grpc.listen',
      ['--set', 'config.grpc.listen=0.0.0.0:1'],
      /at '\/config\/grpc': additional properties 'listen' not allowed/,
    ],
    [
      'config without issuer, audience, providers',
      ['--no-base', '--set', 'keys.existingSecret=k'],
      /at '\/config': missing properties 'issuer', 'audience', 'providers'/,
    ],
    ['issuer of the wrong type', ['--set', 'config.issuer=null'], /at '\/config\/issuer': got null, want string/],
    [
      'duration that authjwt cannot parse',
      ['--set', 'config.tokenTtl=15 minutes'],
      /at '\/config\/tokenTtl': '15 minutes' does not match pattern/,
    ],
    [
      'unknown provider field',
      ['--set', 'config.providers[0].clientSecrett=x'],
      /at '\/config\/providers\/0': additional properties 'clientSecrett' not allowed/,
    ],
    [
      'a provider allow rule that is not a string or a rule',
      ['--set', 'config.providers[0].allow[0].name=x,config.providers[0].allow[0].expr=true'],
      /at '\/config\/providers\/0\/allow/,
    ],
    ['replicaCount of the wrong type', ['--set', 'replicaCount=two'], /at '\/replicaCount': got string, want integer/],
    ['unknown top-level key', ['--set', 'replicas=3'], /additional properties 'replicas' not allowed/],
    ['TLS without a Secret', ['--set', 'tls.enabled=true'], /at '\/tls\/secretName': minLength/],
    [
      'TLS and plaintext together',
      ['--set', 'tls.enabled=true,tls.secretName=t,config.grpc.plaintext=true'],
      /tls\.enabled and config\.grpc\.plaintext cannot both be set/,
    ],
    ['mTLS without TLS', ['--set', 'tls.clientAuth=true'], /tls\.clientAuth and tls\.http need tls\.enabled/],
    ['bad pull policy', ['--set', 'image.pullPolicy=Sometimes'], /at '\/image\/pullPolicy': value must be one of/],
    ['bad digest', ['--set', 'image.digest=latest'], /at '\/image\/digest': 'latest' does not match pattern/],
    ['nativeSidecar without app containers', ['--set', 'nativeSidecar=true'], /nativeSidecar: true needs extraContainers/],
    [
      'PDB with both bounds',
      ['--set', 'podDisruptionBudget.enabled=true,podDisruptionBudget.minAvailable=1'],
      /set either minAvailable or maxUnavailable/,
    ],
    ['provider secret without secretName', ['--set', 'providerSecrets[0].name=kc'], /missing propert(y|ies) 'secretName'/],
    [
      'grpcListenAddress not an address the chart knows',
      ['--set', 'grpcListenAddress=10.0.0.1'],
      /at '\/grpcListenAddress': value must be one of/,
    ],
  ];
  for (const [name, args, message] of rejections) {
    it(`rejects: ${name}`, () => {
      assert.match(args[0] === '--no-base' ? renderError(...args.slice(1)) : renderError(...minimal, ...args), message);
    });
  }
});

describe('Helm chart: kubernetes providers (kubernetesProviders)', { skip: skipReason }, () => {
  type Volume = { name: string; projected?: { sources: Record<string, Record<string, unknown>>[] } };
  type Binding = { metadata: { name: string }; roleRef: { name: string }; subjects: { kind: string; name: string; namespace: string }[] };
  type Egress = { spec: { egress: { ports: { port: number | string }[] }[] } };
  const tokenVolume = (objects: ReturnType<typeof render>) =>
    (podSpecOf(find(objects, 'Deployment')!).volumes as Volume[] | undefined)?.find((v) => v.name === 'kube-api-access');

  it('kubernetes-values: a projected token (1h) and the cluster CA at the in-cluster path, auth-delegator binding, API server egress', () => {
    const objects = render('-f', join(CHART, 'ci/kubernetes-values.yaml'));
    const { config, spec } = validateRenderedConfig(objects);
    assert.equal(spec.automountServiceAccountToken, false, 'never the automount of every container');
    const k = config.providers[0]!.kubernetes!;
    const volume = tokenVolume(objects)!;
    assert.deepEqual(volume.projected!.sources, [
      { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
    ]);
    assert.equal(k.tokenFile, '/var/run/secrets/kubernetes.io/serviceaccount/token');
    assert.equal(k.caFile, '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt');
    const binding = find(objects, 'ClusterRoleBinding') as unknown as Binding;
    assert.equal(binding.roleRef.name, 'system:auth-delegator');
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: RELEASE, namespace: NAMESPACE }]);
    const policy = find(objects, 'NetworkPolicy') as unknown as Egress;
    assert.ok(policy.spec.egress.some((r) => r.ports.some((p) => p.port === 6443)));
  });

  it('auto: a static JWKS file without TokenReview mounts no token and binds nothing; true/false force them', () => {
    const fileOnly = [
      '--set',
      'config.providers[0].kubernetes.tokenReview=false',
      '--set',
      'config.providers[0].kubernetes.jwksFile=/etc/k8s/jwks.json',
    ];
    let objects = render('-f', join(CHART, 'ci/kubernetes-values.yaml'), ...fileOnly);
    assert.equal(tokenVolume(objects), undefined);
    assert.equal(find(objects, 'ClusterRoleBinding'), undefined);
    objects = render('-f', join(CHART, 'ci/kubernetes-values.yaml'), '--set', 'config.providers[0].kubernetes.tokenReview=false');
    assert.ok(tokenVolume(objects), 'discovery from the API server needs the token');
    assert.equal(find(objects, 'ClusterRoleBinding'), undefined, 'no TokenReview, no auth-delegator');
    objects = render(
      '-f',
      join(CHART, 'ci/kubernetes-values.yaml'),
      '--set',
      'kubernetesProviders.mountServiceAccountToken=false,kubernetesProviders.tokenReviewBinding=false,kubernetesProviders.issuerDiscoveryBinding=true',
    );
    assert.equal(tokenVolume(objects), undefined);
    assert.deepEqual(
      (objects.filter((o) => o.kind === 'ClusterRoleBinding') as unknown as Binding[]).map((b) => b.roleRef.name),
      ['system:service-account-issuer-discovery'],
    );
    assert.match(
      renderError('-f', join(CHART, 'ci/kubernetes-values.yaml'), '--set', 'kubernetesProviders.mountServiceAccountToken=maybe'),
      /at '\/kubernetesProviders\/mountServiceAccountToken': value must be one of/,
    );
  });
});

describe('Helm chart: edge doors (edge.extAuthz, edge.forwardAuth)', { skip: skipReason }, () => {
  type Service = {
    metadata: { name: string };
    spec: { type?: string; ports: { name: string; port: number; targetPort: string }[]; selector: object };
  };
  type Policy = { spec: { ingress: { ports: { port: string }[]; from?: object[] }[] } };

  it('edge-values: doors on in the config, internal port on the pod and on its own ClusterIP Service, gateways allowed', () => {
    const objects = render('-f', join(CHART, 'ci/edge-values.yaml'), '--set', 'service.type=LoadBalancer');
    const { config, container } = validateRenderedConfig(objects);
    assert.equal(config.edge.extAuthz.enabled, true);
    assert.equal(config.edge.forwardAuth.enabled, true);
    assert.deepEqual(config.edge.identityHeaders, { 'x-authjwt-sub': 'sub', 'x-authjwt-provider': 'provider' });
    const internalPort = container.ports?.find((p) => p.name === 'internal')?.containerPort;
    assert.equal(config.internalHttp.listen, `0.0.0.0:${internalPort}`);
    const services = objects.filter((o) => o.kind === 'Service') as unknown as Service[];
    const main = services.find((s) => s.metadata.name === RELEASE)!;
    const internal = services.find((s) => s.metadata.name === `${RELEASE}-internal`)!;
    assert.equal(main.spec.type, 'LoadBalancer');
    assert.ok(!main.spec.ports.some((p) => p.name === 'internal'), 'the public Service never carries the internal port');
    assert.equal(internal.spec.type, 'ClusterIP', 'whatever service.type is');
    assert.deepEqual(
      internal.spec.ports.map((p) => [p.name, p.port, p.targetPort]),
      [['internal', 8081, 'internal']],
    );
    assert.deepEqual(internal.spec.selector, main.spec.selector);
    const policy = find(objects, 'NetworkPolicy') as unknown as Policy;
    const rule = policy.spec.ingress.find((r) => r.ports.some((p) => p.port === 'internal'))!;
    assert.deepEqual(rule.from, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }]);
  });

  it('without a door on it: no internal port, no internal Service, no NetworkPolicy rule; forward-auth on the public listener needs none', () => {
    for (const args of [
      ['--set', 'networkPolicy.enabled=true'],
      ['--set', 'networkPolicy.enabled=true,edge.extAuthz.enabled=true'],
      ['--set', 'networkPolicy.enabled=true,edge.forwardAuth.enabled=true,config.edge.forwardAuth.listener=public'],
    ]) {
      const objects = render('-f', join(CHART, 'ci/minimal-values.yaml'), ...args);
      const { container } = validateRenderedConfig(objects);
      assert.equal(
        container.ports?.find((p) => p.name === 'internal'),
        undefined,
        args.join(' '),
      );
      assert.equal(objects.filter((o) => o.kind === 'Service').length, 1, args.join(' '));
      const policy = find(objects, 'NetworkPolicy') as unknown as Policy;
      assert.ok(!policy.spec.ingress.some((r) => r.ports.some((p) => p.port === 'internal')));
    }
  });

  it('the RFC 8693 token endpoint (config.tokenEndpoint.enabled) also opens the internal port, its Service and NetworkPolicy rule (issue 20)', () => {
    const objects = render(
      '-f',
      join(CHART, 'ci/minimal-values.yaml'),
      '--set',
      'networkPolicy.enabled=true,config.tokenEndpoint.enabled=true',
    );
    const { container, config } = validateRenderedConfig(objects);
    assert.equal(config.tokenEndpoint.enabled, true);
    assert.equal(container.ports?.find((p) => p.name === 'internal')?.containerPort, 8081);
    assert.ok(find(objects, 'Service', `${RELEASE}-internal`), 'the endpoint is reachable in the cluster');
    const policy = find(objects, 'NetworkPolicy') as unknown as Policy;
    assert.ok(policy.spec.ingress.some((r) => r.ports.some((p) => p.port === 'internal')));
  });

  it('config.edge.forwardAuth.enabled set directly also opens the internal port; chart-owned internalHttp fields are refused', () => {
    const objects = render('-f', join(CHART, 'ci/minimal-values.yaml'), '--set', 'config.edge.forwardAuth.enabled=true');
    assert.ok(find(objects, 'Service', `${RELEASE}-internal`));
    assert.match(
      renderError('-f', join(CHART, 'ci/minimal-values.yaml'), '--set', 'config.internalHttp.listen=0.0.0.0:1'),
      /at '\/config\/internalHttp': additional properties 'listen' not allowed/,
    );
    assert.match(
      renderError('-f', join(CHART, 'ci/minimal-values.yaml'), '--set', 'edge.forwardAuth.enabled=yes'),
      /at '\/edge\/forwardAuth\/enabled': got string, want boolean/,
    );
  });
});

describe('Helm chart: token endpoint callers (tokenEndpoint, issue 21)', { skip: skipReason }, () => {
  it('token-endpoint-values: the endpoint on the internal port, the trust bundle mounted and set as clientCaFile, client authentication as configured', () => {
    const objects = render('-f', join(CHART, 'ci/token-endpoint-values.yaml'));
    const { config, container, spec, mounts } = validateRenderedConfig(objects);
    assert.equal(config.tokenEndpoint.enabled, true);
    assert.deepEqual(config.tokenEndpoint.clientAuthentication.methods, ['tls_client_auth', 'private_key_jwt', 'federated_jwt']);
    assert.equal(config.tokenEndpoint.delegation.actor, 'caller');
    const trust = mounts.find((m) => m.name === 'client-trust')!;
    assert.equal(trust.readOnly, true);
    assert.equal(config.internalHttp.tls?.clientCaFile, `${trust.mountPath}/ca.crt`);
    assert.deepEqual(spec.volumes?.find((v) => v.name === 'client-trust')?.configMap, { name: 'spire-bundle' });
    assert.ok(
      container.ports?.some((p) => p.name === 'internal'),
      'the internal port is open for the token endpoint',
    );
    assert.ok(find(objects, 'Service', `${RELEASE}-internal`));
    assert.equal(
      config.clientAuthSecrets.redisPassword?.reveal(),
      'secret-from-mounted-volume',
      'the Redis password file is in a mounted Secret',
    );
  });

  it('a trust bundle needs the HTTPS internal listener; config.tokenEndpoint.enabled alone opens the internal port', () => {
    assert.match(
      renderError(
        '-f',
        join(CHART, 'ci/minimal-values.yaml'),
        '--set',
        'tokenEndpoint.enabled=true,tokenEndpoint.clientTrustBundle.configMap=bundle',
      ),
      /tokenEndpoint\.clientTrustBundle needs tls\.enabled and tls\.http/,
    );
    const objects = render('-f', join(CHART, 'ci/minimal-values.yaml'), '--set', 'config.tokenEndpoint.enabled=true');
    assert.ok(find(objects, 'Service', `${RELEASE}-internal`));
    assert.match(
      renderError('-f', join(CHART, 'ci/minimal-values.yaml'), '--set', 'tokenEndpoint.clientTrustBundle.configMap=Not_A_Name'),
      /clientTrustBundle\/configMap/,
    );
  });
});
