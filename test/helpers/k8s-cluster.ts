/**
 * The real single-node Kubernetes cluster of the e2e suites (.ci/k8s-cluster.sh; docs/testing.md).
 *
 * The e2e global setup (test/helpers/e2e-global-setup.ts) starts it once, next to the shared Keycloak,
 * imports the authjwt image into its containerd, and publishes it to the test files in K8S_CLUSTER_ENV;
 * the global teardown stops it. A file run on its own (`node --test test/e2e/k8s-install.test.ts`) starts
 * it itself (or joins the one running: the script counts holders, and the last one to leave stops it).
 *
 * What a suite gets: the admin kubeconfig, the cached kubectl, the API server URL and CA (for a later
 * suite that points authjwt at the real API server's discovery/JWKS/TokenReview: service-account
 * issuer `serviceAccountIssuer`), the node address (where pods reach the host: the shared Keycloak's
 * published port), the prometheus-operator CRD files, and the authjwt image as imported (a content tag,
 * never `latest` or a moving tag: pods use imagePullPolicy IfNotPresent and nothing can be pulled).
 *
 * Not root, or the cluster binaries not built (`bash .ci/k8s-cluster.sh build`, ~10+ min once): the
 * suites skip locally and FAIL with CI set (test/helpers/prerequisite.ts).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { helmBin } from './k8s-validate.ts';
import { waitFor } from './wait-for.ts';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../.ci/k8s-cluster.sh', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** Environment variable through which the global setup publishes the running cluster (JSON of K8sCluster). */
export const K8S_CLUSTER_ENV = 'AUTHJWT_TEST_K8S';

export interface K8sCluster {
  kubeconfig: string;
  kubectl: string;
  /** https://<node address>:<port>: reachable from the host and, through the `kubernetes` Service, from pods. */
  apiUrl: string;
  caFile: string;
  /** The node's (this host's) address: pods reach the host's published ports here. */
  nodeIp: string;
  /** --service-account-issuer of the API server (its discovery serves this issuer and the JWKS). */
  serviceAccountIssuer: string;
  version: string;
  /** Directory of the prometheus-operator CRD files (monitoring.coreos.com_*.yaml). */
  prometheusCrds: string;
  /** The authjwt image in the cluster's containerd. */
  image: { repository: string; tag: string };
}

/** Why the cluster cannot run here, or undefined. */
export function clusterUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the test cluster needs root (kubelet, containerd, iptables)';
  if (!existsSync(SCRIPT)) return `${SCRIPT} is missing`;
  return undefined;
}

function parseExports(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z0-9_]+)='([^']*)'$/.exec(line.trim());
    if (m) vars[m[1]!] = m[2]!;
  }
  return vars;
}

/** The authjwt image to run: AUTHJWT_IMAGE (default the stable tag of .ci/authjwt-image.sh), by its content tag. */
async function authjwtImageRef(): Promise<{ repository: string; tag: string }> {
  const ref = process.env.AUTHJWT_IMAGE ?? 'localhost/authjwt/authjwt:dev';
  const { stdout } = await run('podman', ['image', 'inspect', '--format', '{{json .RepoTags}} {{.Id}}', ref]).catch((error: Error) => {
    throw new Error(`the authjwt image ${ref} is missing (bash .ci/authjwt-image.sh): ${error.message}`);
  });
  const [tagsJson, id] = stdout.trim().split(' ');
  const tags = JSON.parse(tagsJson!) as string[];
  // .ci/authjwt-image.sh's content tag (<version>-<12 hex of the inputs>): the same content keeps its name.
  const content = tags.find((t) => /:[^:]+-[0-9a-f]{12}$/.test(t));
  if (content) {
    const i = content.lastIndexOf(':');
    return { repository: content.slice(0, i), tag: content.slice(i + 1) };
  }
  const repository = ref.slice(0, ref.lastIndexOf(':') > ref.lastIndexOf('/') ? ref.lastIndexOf(':') : ref.length);
  const tag = `img-${id!.replace(/^sha256:/, '').slice(0, 12)}`;
  await run('podman', ['tag', ref, `${repository}:${tag}`]);
  return { repository, tag };
}

/**
 * Starts the cluster (or joins the running one) for `holder`, and imports the authjwt image. Builds
 * nothing unless `build` (CI builds in .ci/run before the tests; a developer runs the build once).
 */
export async function startCluster(holder: string, options: { build?: boolean } = {}): Promise<K8sCluster> {
  const env = { ...process.env, ...(options.build ? {} : { AUTHJWT_K8S_NO_BUILD: '1' }) };
  const image = await authjwtImageRef();
  let up: { stdout: string; stderr: string };
  try {
    up = await run('bash', [SCRIPT, 'up', holder], { env, maxBuffer: 16 << 20, timeout: 30 * 60_000 });
  } catch (error) {
    const e = error as Error & { stderr?: string };
    throw new Error(`.ci/k8s-cluster.sh up failed: ${e.message}\n${e.stderr ?? ''}`);
  }
  if (process.env.AUTHJWT_TEST_K8S_VERBOSE) process.stderr.write(up.stderr);
  const vars = parseExports(up.stdout);
  await run('bash', [SCRIPT, 'import-image', `${image.repository}:${image.tag}`], { env, maxBuffer: 16 << 20, timeout: 10 * 60_000 });
  return {
    kubeconfig: vars.AUTHJWT_K8S_KUBECONFIG!,
    kubectl: join(vars.AUTHJWT_K8S_BIN!, 'kubectl'),
    apiUrl: vars.AUTHJWT_K8S_API!,
    caFile: vars.AUTHJWT_K8S_CA!,
    nodeIp: vars.AUTHJWT_K8S_NODE_IP!,
    serviceAccountIssuer: vars.AUTHJWT_K8S_SA_ISSUER!,
    version: vars.AUTHJWT_K8S_VERSION!,
    prometheusCrds: vars.AUTHJWT_K8S_PROMETHEUS_CRDS!,
    image,
  };
}

/** Leaves the cluster; the last holder stops it (pods deleted first, processes by PID, mounts unmounted). */
export async function stopCluster(holder: string): Promise<void> {
  await run('bash', [SCRIPT, 'down', holder], { maxBuffer: 16 << 20, timeout: 5 * 60_000 });
}

/** The cluster for a test file: the shared one, else one started (joined) for this process. */
export async function useCluster(): Promise<{ cluster: K8sCluster; close(): Promise<void> }> {
  const shared = process.env[K8S_CLUSTER_ENV];
  if (shared) return { cluster: JSON.parse(shared) as K8sCluster, close: async () => {} };
  const unavailable = clusterUnavailable();
  if (unavailable) throw new Error(unavailable);
  const holder = `suite-${process.pid}`;
  const cluster = await startCluster(holder, { build: Boolean(process.env.CI) });
  return { cluster, close: () => stopCluster(holder) };
}

export interface Kubectl {
  (args: readonly string[], options?: { input?: string; timeout?: number }): Promise<string>;
  /** `kubectl apply -f -` of objects (server-side validation; warnings fail: see strict below). */
  apply(objects: object | readonly object[], options?: { namespace?: string }): Promise<string>;
  json<T = Record<string, unknown>>(args: readonly string[]): Promise<T>;
  /** stdout and stderr of a command that must succeed (stderr: warnings). */
  withStderr(args: readonly string[], options?: { input?: string; shell?: boolean }): Promise<{ stdout: string; stderr: string }>;
}

export function kubectlFor(cluster: K8sCluster): Kubectl {
  const env = { ...process.env, KUBECONFIG: cluster.kubeconfig };
  const exec = (args: readonly string[], options: { input?: string; timeout?: number } = {}) =>
    new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      const child = execFile(
        cluster.kubectl,
        args,
        { env, maxBuffer: 64 << 20, timeout: options.timeout ?? 120_000 },
        (error, stdout, stderr) =>
          error ? reject(new Error(`kubectl ${args.join(' ')}: ${error.message}\n${stderr}`)) : resolve({ stdout, stderr }),
      );
      child.stdin?.end(options.input ?? '');
    });
  const kubectl = (async (args, options) => (await exec(args, options)).stdout) as Kubectl;
  kubectl.apply = (objects, options = {}) =>
    kubectl(['apply', ...(options.namespace ? ['-n', options.namespace] : []), '-f', '-'], {
      input: (Array.isArray(objects) ? objects : [objects]).map((o) => stringify(o)).join('---\n'),
    });
  kubectl.json = async <T>(args: readonly string[]) => JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
  kubectl.withStderr = (args, options = {}) => exec(args, options);
  return kubectl;
}

/** helm against the cluster (the binary of .ci/k8s-tools.sh). */
export function helmFor(cluster: K8sCluster): (args: readonly string[], options?: { timeout?: number }) => Promise<string> {
  const helm = helmBin();
  if (!helm) throw new Error('helm is not installed (bash .ci/k8s-tools.sh)');
  return async (args, options = {}) => {
    try {
      const { stdout } = await run(helm, [...args, '--kubeconfig', cluster.kubeconfig], {
        maxBuffer: 64 << 20,
        timeout: options.timeout ?? 600_000,
      });
      return stdout;
    } catch (error) {
      const e = error as Error & { stdout?: string; stderr?: string };
      throw new Error(`helm ${args.join(' ')}: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  };
}

/** A namespace that enforces Pod Security `restricted` (latest), named `authjwt-e2e-<what>-<random>`. */
export async function createRestrictedNamespace(kubectl: Kubectl, what: string): Promise<string> {
  const name = `authjwt-e2e-${what}-${randomBytes(3).toString('hex')}`;
  await kubectl.apply({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name,
      labels: {
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
        'pod-security.kubernetes.io/warn': 'restricted',
      },
    },
  });
  // The namespace's default ServiceAccount (needed before any pod) is created by the controller-manager.
  await waitFor(
    () =>
      kubectl(['-n', name, 'get', 'serviceaccount', 'default']).then(
        () => true,
        () => false,
      ),
    { what: `ServiceAccount default in ${name}`, timeout: 60_000, interval: 250 },
  );
  return name;
}

/** The hardened security context every test pod uses (admitted under `restricted`). */
export const RESTRICTED_POD = {
  podSecurityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
  containerSecurityContext: {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
  },
};

const IN_POD_SCRIPT = join(REPO, 'test/e2e/k8s/in-pod.ts');

/**
 * A long-running client pod in the authjwt image with test/e2e/k8s/in-pod.ts mounted at /app/e2e/ (a
 * ConfigMap), idle until commands are exec'd in it. Returns its name once it is Running.
 */
export async function startClientPod(
  kubectl: Kubectl,
  cluster: K8sCluster,
  namespace: string,
  name: string,
  env: Record<string, string> = {},
  options: { serviceAccountName?: string; projectedTokenAudience?: string } = {},
) {
  // A projected service-account token at /var/run/secrets/authjwt/token (a workload identity).
  const token = options.projectedTokenAudience
    ? {
        volume: {
          name: 'authjwt-token',
          projected: {
            sources: [{ serviceAccountToken: { audience: options.projectedTokenAudience, expirationSeconds: 3600, path: 'token' } }],
          },
        },
        mount: { name: 'authjwt-token', mountPath: '/var/run/secrets/authjwt', readOnly: true },
      }
    : undefined;
  await kubectl.apply(
    [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `${name}-script` },
        data: { 'in-pod.ts': readFileSync(IN_POD_SCRIPT, 'utf8') },
      },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, labels: { 'app.kubernetes.io/name': 'authjwt-e2e-client' } },
        spec: {
          ...(options.serviceAccountName ? { serviceAccountName: options.serviceAccountName } : {}),
          automountServiceAccountToken: false,
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: 1,
          securityContext: RESTRICTED_POD.podSecurityContext,
          containers: [
            {
              name: 'client',
              image: `${cluster.image.repository}:${cluster.image.tag}`,
              imagePullPolicy: 'IfNotPresent',
              // node is PID 1 and idles; the suites exec in-pod.ts commands in it
              command: ['node', '-e', 'setInterval(() => {}, 1 << 30); process.on("SIGTERM", () => process.exit(0))'],
              env: Object.entries(env).map(([k, value]) => ({ name: k, value })),
              securityContext: RESTRICTED_POD.containerSecurityContext,
              resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '256Mi' } },
              volumeMounts: [{ name: 'script', mountPath: '/app/e2e', readOnly: true }, ...(token ? [token.mount] : [])],
            },
          ],
          volumes: [{ name: 'script', configMap: { name: `${name}-script` } }, ...(token ? [token.volume] : [])],
        },
      },
    ],
    { namespace },
  );
  await kubectl(['-n', namespace, 'wait', '--for=condition=Ready', `pod/${name}`, '--timeout=120s'], { timeout: 130_000 });
  return name;
}

/**
 * Runs `node /app/e2e/in-pod.ts COMMAND` in a client pod; returns the last JSON line it printed with
 * its exit code (a failed call prints `{"error", "code"}` and exits 1).
 */
export async function inPod<T = Record<string, unknown>>(
  cluster: K8sCluster,
  namespace: string,
  pod: string,
  command: string,
  env: Record<string, string> = {},
): Promise<T & { exitCode: number }> {
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const args = ['-n', namespace, 'exec', pod, '--', 'env', ...assignments, 'node', '/app/e2e/in-pod.ts', command];
  const { stdout, stderr, exitCode } = await run(cluster.kubectl, args, {
    env: { ...process.env, KUBECONFIG: cluster.kubeconfig },
    maxBuffer: 16 << 20,
    timeout: 60_000,
  }).then(
    (r) => ({ ...r, exitCode: 0 }),
    (e: { stdout?: string; stderr?: string; code?: number }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '', exitCode: e.code ?? 1 }),
  );
  const last = stdout.trim().split('\n').filter(Boolean).at(-1);
  if (!last?.startsWith('{')) throw new Error(`in-pod ${command}: no result (exit ${exitCode}): ${stderr}`);
  return { ...(JSON.parse(last) as T), exitCode };
}

export interface LoadEvent {
  t: number;
  event: 'started' | 'kid' | 'failure' | 'stats' | 'summary';
  [key: string]: unknown;
}

export interface LoadSummary {
  calls: number;
  ok: number;
  failed: number;
  retried: number;
  verifyFailed: number;
  byKid: Record<string, number>;
  byCode: Record<string, number>;
}

/** Continuous load from a client pod (in-pod.ts load) until stop(): events as they arrive, then the summary. */
export function startLoad(
  cluster: K8sCluster,
  namespace: string,
  pod: string,
  env: Record<string, string>,
): { events: LoadEvent[]; started: Promise<void>; stop(): Promise<LoadSummary> } {
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const child: ChildProcess = spawn(
    cluster.kubectl,
    ['-n', namespace, 'exec', '-i', pod, '--', 'env', ...assignments, 'node', '/app/e2e/in-pod.ts', 'load'],
    { env: { ...process.env, KUBECONFIG: cluster.kubeconfig }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const events: LoadEvent[] = [];
  let stderr = '';
  let buffer = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const line = buffer.slice(0, i).trim();
      buffer = buffer.slice(i + 1);
      if (line) events.push(JSON.parse(line) as LoadEvent);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const started = waitFor(() => events.some((e) => e.event === 'stats' && (e.ok as number) > 0) || undefined, {
    what: 'the load to mint its first tokens',
    timeout: 60_000,
    interval: 200,
  }).then(() => undefined);
  return {
    events,
    started,
    async stop() {
      child.stdin!.end();
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
      if (code === 'timeout') child.kill('SIGKILL');
      const summary = events.find((e) => e.event === 'summary');
      if (!summary) throw new Error(`the load ended without a summary (exit ${code}): ${stderr}`);
      return summary as unknown as LoadSummary;
    },
  };
}
