/**
 * The deploy/ examples: kustomize builds of deploy/kubernetes (base and the native-sidecar example),
 * Istio and external-secrets objects, validated offline (test/helpers/k8s-validate.ts); the authjwt configs
 * they carry accepted by authjwt's own validator; the Envoy jwt_authn configuration checked for
 * structure and for agreement with authjwt's config (no envoy binary is installable offline).
 *
 * Needs kustomize and kubernetes-validate (`bash .ci/k8s-tools.sh`): missing tools FAIL with CI
 * set, skip loudly otherwise (the Envoy, Istio and external-secrets checks run regardless).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { kubernetesValidateBin, kustomizeBin, parseManifests, validateObjects, type K8sObject } from '../helpers/k8s-validate.ts';
import { missingPrerequisite } from '../helpers/prerequisite.ts';
import { buildConfig, type Config } from '../../src/config/load.ts';
import { parseDuration } from '../../src/config/duration.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const KUSTOMIZE = kustomizeBin();
const STRICT = kubernetesValidateBin();
const missing = [!KUSTOMIZE && 'kustomize', !STRICT && 'kubernetes-validate'].filter(Boolean);
const skipReason = missing.length
  ? missingPrerequisite('deploy/ kustomize tests', `${missing.join(' and ')} not found: run bash .ci/k8s-tools.sh`)
  : undefined;

const kustomize = (dir: string) =>
  parseManifests(execFileSync(KUSTOMIZE!, ['build', join(DEPLOY, dir)], { encoding: 'utf8' }), `kustomize build ${dir}`);
const load = (file: string) => parseManifests(readFileSync(join(DEPLOY, file), 'utf8'), file);
const base = () => parseYaml(readFileSync(join(DEPLOY, 'kubernetes/base/config.yaml'), 'utf8')) as Record<string, unknown>;

type Container = {
  name: string;
  restartPolicy?: string;
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: Record<string, unknown>;
  readinessProbe?: Record<string, unknown>;
};
type PodSpec = {
  containers: Container[];
  initContainers?: Container[];
  volumes: { name: string; secret?: { secretName: string }; configMap?: { name: string } }[];
  automountServiceAccountToken?: boolean;
};
const podSpec = (objects: K8sObject[]) =>
  (objects.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;

/** The authjwt config of a built kustomization, validated as the pod would load it. */
function configOf(objects: K8sObject[]): { config: Config; container: Container; spec: PodSpec } {
  const spec = podSpec(objects);
  const container = [...(spec.initContainers ?? []), ...spec.containers].find((c) => c.name === 'authjwt')!;
  const configVolume = spec.volumes.find((v) => v.name === container.volumeMounts!.find((m) => m.mountPath === '/etc/authjwt')!.name)!;
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === configVolume.configMap!.name) as unknown as {
    data: Record<string, string>;
  };
  assert.ok(cm, `the config volume's ConfigMap ${configVolume.configMap!.name} (hashed name) is part of the build`);
  const secretDirs = container.volumeMounts!.filter((m) => spec.volumes.find((v) => v.name === m.name)?.secret).map((m) => m.mountPath);
  const config = buildConfig(parseYaml(cm.data['config.yaml']!), {
    readFile: (p) => {
      if (secretDirs.some((d) => p.startsWith(`${d}/`))) return 'secret\n';
      throw Object.assign(new Error(`${p} is not inside a Secret volume`), { code: 'ENOENT' });
    },
    env: { GITHUB_CLIENT_SECRET: 'from-secretKeyRef' },
  });
  assert.ok(secretDirs.includes(config.keys.dir!), 'keys.dir is a mounted Secret');
  return { config, container, spec };
}

function assertHardened(container: Container, spec: PodSpec) {
  assert.equal(spec.automountServiceAccountToken, false);
  assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
  assert.equal(container.securityContext?.runAsNonRoot, true);
  assert.equal(container.securityContext?.runAsUser, 10001);
  assert.deepEqual(container.securityContext?.capabilities, { drop: ['ALL'] });
  assert.ok(
    container.volumeMounts!.every((m) => m.readOnly),
    'read-only mounts',
  );
}

describe('deploy/kubernetes (kustomize)', { skip: skipReason }, () => {
  it('base: builds, every object validates, hardened, config accepted, gRPC readiness probe', async () => {
    const objects = kustomize('kubernetes/base');
    assert.deepEqual(objects.map((o) => o.kind).sort(), [
      'ConfigMap',
      'Deployment',
      'Namespace',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Service',
      'ServiceAccount',
    ]);
    assert.deepEqual(await validateObjects(objects, { strictBin: STRICT }), []);
    const { config, container, spec } = configOf(objects);
    assertHardened(container, spec);
    assert.deepEqual(container.readinessProbe?.grpc, { port: 50051, service: 'auth.v1alpha1.AuthAPI' });
    assert.equal(config.grpc.listen, '0.0.0.0:50051');
    const svc = objects.find((o) => o.kind === 'Service') as unknown as { spec: { ports: { name: string; appProtocol: string }[] } };
    assert.equal(svc.spec.ports.find((p) => p.name === 'grpc')?.appProtocol, 'grpc');
    for (const kind of ['PodDisruptionBudget', 'NetworkPolicy']) {
      const o = objects.find((x) => x.kind === kind) as unknown as {
        spec: { selector?: { matchLabels: object }; podSelector?: { matchLabels: object } };
      };
      assert.deepEqual(
        (o.spec.selector ?? o.spec.podSelector)?.matchLabels,
        { 'app.kubernetes.io/name': 'authjwt', 'app.kubernetes.io/instance': 'authjwt' },
        `${kind} selects authjwt only`,
      );
    }
  });

  it('examples/sidecar: authjwt is a native sidecar on loopback next to the app; HTTP probes', async () => {
    const objects = kustomize('kubernetes/examples/sidecar');
    assert.deepEqual(await validateObjects(objects, { strictBin: STRICT }), []);
    const { config, container, spec } = configOf(objects);
    assert.equal(container.restartPolicy, 'Always', 'native sidecar: initContainer with restartPolicy Always');
    assert.equal(spec.initContainers?.[0]?.name, 'authjwt');
    assertHardened(container, { ...spec, automountServiceAccountToken: spec.automountServiceAccountToken });
    assert.equal(config.grpc.listen, '127.0.0.1:50051');
    assert.ok(container.readinessProbe?.httpGet, 'the kubelet cannot reach a loopback gRPC listener');
    const app = spec.containers.find((c) => c.name === 'app')!;
    assert.equal(app.env?.find((e) => e.name === 'AUTHJWT_ADDR')?.value, config.grpc.listen);
  });
});

describe('deploy/istio, deploy/external-secrets', () => {
  it('objects validate against their CRD models (and metadata is complete)', async () => {
    const objects = [
      ...load('istio/request-authentication.yaml'),
      ...load('istio/authorization-policy.yaml'),
      ...load('external-secrets/secret-store.yaml'),
      ...load('external-secrets/external-secret.yaml'),
    ];
    assert.deepEqual(
      objects.map((o) => o.kind),
      ['RequestAuthentication', 'AuthorizationPolicy', 'SecretStore', 'ExternalSecret'],
    );
    assert.deepEqual(await validateObjects(objects, { strictBin: STRICT }), []);
  });

  it("Istio verifies authjwt's issuer/audience at its JWKS; the policy requires that issuer", () => {
    const [ra] = load('istio/request-authentication.yaml') as unknown as {
      spec: { jwtRules: { issuer: string; audiences: string[]; jwksUri: string }[] };
    }[];
    const cfg = base();
    const rule = ra!.spec.jwtRules[0]!;
    assert.equal(rule.issuer, cfg.issuer);
    assert.deepEqual(rule.audiences, cfg.audience);
    assert.match(rule.jwksUri, /^http:\/\/authjwt\.auth\.svc\.cluster\.local:8080\/\.well-known\/jwks\.json$/);
    const [ap] = load('istio/authorization-policy.yaml') as unknown as {
      spec: { rules: { from?: { source: { requestPrincipals: string[] } }[] }[] };
    }[];
    assert.deepEqual(ap!.spec.rules[0]!.from![0]!.source.requestPrincipals, [`${cfg.issuer}/*`]);
    // istiod refreshes JWKS every 20 minutes by default: the publish lead time must exceed it
    assert.ok(parseDuration(String((cfg.keys as { publishLeadTime: string }).publishLeadTime))! > 20 * 60_000);
  });

  it('external-secrets: every property becomes a key file of authjwt-keys, never deleted with the ExternalSecret', () => {
    const [es] = load('external-secrets/external-secret.yaml') as unknown as {
      spec: { target: { name: string; deletionPolicy: string }; dataFrom: { extract: { key: string } }[] };
    }[];
    assert.equal(es!.spec.target.name, 'authjwt-keys');
    assert.equal(es!.spec.target.deletionPolicy, 'Retain');
    assert.ok(es!.spec.dataFrom[0]!.extract.key);
  });
});

describe('deploy/envoy/envoy.yaml (structure; no envoy binary offline)', () => {
  type Filter = { name: string; typed_config: Record<string, unknown> & { '@type': string } };
  const envoy = parseYaml(readFileSync(join(DEPLOY, 'envoy/envoy.yaml'), 'utf8')) as {
    static_resources: {
      listeners: { filter_chains: { filters: Filter[] }[] }[];
      clusters: { name: string; load_assignment: { cluster_name: string } }[];
    };
  };
  const hcm = envoy.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!;
  const httpFilters = (hcm.typed_config.http_filters ?? []) as Filter[];
  const jwt = httpFilters.find((f) => f.name === 'envoy.filters.http.jwt_authn')!;
  type Provider = {
    issuer: string;
    audiences: string[];
    remote_jwks: { http_uri: { uri: string; cluster: string; timeout: string }; cache_duration: string };
    from_headers: { name: string; value_prefix: string }[];
  };
  const providers = jwt?.typed_config.providers as Record<string, Provider>;

  it('HTTP connection manager with jwt_authn before the router (last)', () => {
    assert.equal(
      hcm.typed_config['@type'],
      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    );
    assert.ok(jwt, 'jwt_authn filter present');
    assert.equal(jwt.typed_config['@type'], 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication');
    assert.equal(httpFilters.at(-1)!.name, 'envoy.filters.http.router');
    assert.equal(httpFilters.at(-1)!.typed_config['@type'], 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router');
  });

  it("provider = authjwt's issuer and audience, remote_jwks at its JWKS through a defined cluster", () => {
    const cfg = base();
    const p = providers.authjwt!;
    assert.equal(p.issuer, cfg.issuer);
    assert.deepEqual(p.audiences, cfg.audience);
    assert.match(p.remote_jwks.http_uri.uri, /\/\.well-known\/jwks\.json$/);
    const cluster = envoy.static_resources.clusters.find((c) => c.name === p.remote_jwks.http_uri.cluster);
    assert.ok(cluster, `cluster ${p.remote_jwks.http_uri.cluster} defined`);
    assert.equal(cluster.load_assignment.cluster_name, cluster.name);
    assert.deepEqual(p.from_headers, [{ name: 'Authorization', value_prefix: 'Bearer ' }]);
    const rules = jwt.typed_config.rules as { match: { prefix: string }; requires?: { provider_name: string } }[];
    assert.deepEqual(
      rules.at(-1),
      { match: { prefix: '/' }, requires: { provider_name: 'authjwt' } },
      'everything else requires an authjwt token',
    );
    for (const r of rules) if (r.requires) assert.ok(providers[r.requires.provider_name], `rule names a defined provider`);
  });

  it('JWKS cache_duration is shorter than authjwt publishLeadTime (new keys are fetched before they sign)', () => {
    const cache = parseDuration(providers.authjwt!.remote_jwks.cache_duration)!;
    const lead = parseDuration(String((base().keys as { publishLeadTime: string }).publishLeadTime))!;
    assert.ok(cache > 0 && cache < lead, `cache_duration ${cache} ms < publishLeadTime ${lead} ms`);
    for (const c of envoy.static_resources.clusters) assert.ok(c.load_assignment, `${c.name} has endpoints`);
  });
});
