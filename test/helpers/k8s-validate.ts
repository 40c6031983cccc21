/**
 * Offline validation of Kubernetes objects (used by test/integration/helm.test.ts and deploy.test.ts;
 * also a CLI: `node test/helpers/k8s-validate.ts FILE.yaml…`, exit 1 on any problem).
 *
 * Two validators, both working without network (kubeconform's schemas would come from GitHub):
 *   1. kubernetes-validate --strict (PyPI, installed by .ci/k8s-tools.sh): the Kubernetes
 *      OpenAPI-derived JSON schemas, strict variant — unknown fields (typos) are errors. Built-in kinds.
 *   2. kubernetes-models (npm, devDependency): compiled validators per kind for built-in kinds and,
 *      through @kubernetes-models/{prometheus-operator,istio,external-secrets}, for those CRDs (types,
 *      required fields, enums; CRD schemas do not reject unknown fields).
 * A kind neither knows is an error, never a silent pass.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type K8sObject = { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string }; [k: string]: unknown };

/** Kubernetes version the strict schemas are taken for (kubernetes-validate ships 1.37 and older). */
export const KUBE_VERSION = process.env.KUBE_VERSION ?? '1.37.0';

/** Finds a tool: $ENV_NAME, then PATH, then the cache of .ci/k8s-tools.sh. */
export function findTool(name: string, envName: string): string | undefined {
  const fromEnv = process.env[envName];
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  const dirs = [
    ...(process.env.PATH ?? '').split(delimiter),
    process.env.AUTHJWT_TOOLS_BIN ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'authjwt-tools', 'bin'),
  ];
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export const helmBin = () => findTool('helm', 'HELM');
export const kustomizeBin = () => findTool('kustomize', 'KUSTOMIZE');
export const kubernetesValidateBin = () => findTool('kubernetes-validate', 'KUBERNETES_VALIDATE');

/** Parses a multi-document YAML stream into objects (empty documents dropped); throws on YAML errors. */
export function parseManifests(text: string, source = 'manifest'): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as K8sObject | null;
    if (value) out.push(value);
  }
  return out;
}

const describe = (o: K8sObject) => `${o.kind ?? '?'} ${o.metadata?.name ?? '?'} (${o.apiVersion ?? '?'})`;

/** Groups whose kinds kubernetes-validate knows (built-in API groups). */
const isBuiltIn = (apiVersion: string) =>
  !apiVersion.includes('/') || /^[a-z0-9.]*k8s\.io\/|^(apps|batch|policy|autoscaling)\//.test(apiVersion);

/** The kubernetes-models module exporting `kind` of `apiVersion`, if any. */
function modelModule(apiVersion: string, kind: string): string | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (isBuiltIn(apiVersion)) return group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/v1/${kind}`;
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  if (group!.endsWith('.istio.io')) return `@kubernetes-models/istio/${group}/${version}/${kind}`;
  if (group === 'external-secrets.io') return `@kubernetes-models/external-secrets/${group}/${version}/${kind}`;
  return undefined;
}

/** Validates objects; returns one message per problem (empty: all valid). */
export async function validateObjects(objects: K8sObject[], options: { strictBin?: string | undefined } = {}): Promise<string[]> {
  const problems: string[] = [];
  const builtIn: K8sObject[] = [];
  for (const o of objects) {
    if (!o.apiVersion || !o.kind) {
      problems.push(`object without apiVersion/kind: ${JSON.stringify(o).slice(0, 120)}`);
      continue;
    }
    if (!o.metadata?.name) problems.push(`${describe(o)}: metadata.name is required`);
    const mod = modelModule(o.apiVersion, o.kind);
    if (!mod) {
      problems.push(`${describe(o)}: no schema known for this kind (add its validator to test/helpers/k8s-validate.ts)`);
      continue;
    }
    try {
      const exported = (await import(mod)) as Record<string, new (data: unknown) => { validate(): void }>;
      const Model = exported[o.kind];
      if (!Model) throw new Error(`no export ${o.kind}`);
      new Model(o).validate();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      problems.push(
        code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_PACKAGE_PATH_NOT_EXPORTED'
          ? `${describe(o)}: no schema known for this kind (${mod})`
          : `${describe(o)}: ${(e as Error).message}`,
      );
    }
    if (isBuiltIn(o.apiVersion)) builtIn.push(o);
  }
  if (builtIn.length && options.strictBin) problems.push(...strictValidate(builtIn, options.strictBin));
  return problems;
}

/** kubernetes-validate --strict over built-in kinds (one process for all objects). */
function strictValidate(objects: K8sObject[], bin: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'k8s-validate-'));
  try {
    const file = join(dir, 'objects.yaml');
    writeFileSync(file, objects.map((o) => JSON.stringify(o)).join('\n---\n'));
    try {
      execFileSync(bin, ['--strict', '--quiet', '--no-warn', '-k', KUBE_VERSION, file], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      return [];
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; message: string };
      const out = `${err.stdout ?? ''}${err.stderr ?? ''}`.trim() || err.message;
      return out
        .split('\n')
        .filter(Boolean)
        .map((l) => `kubernetes-validate --strict: ${l.replace(file, '<rendered>')}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const files = process.argv.slice(2);
  if (!files.length) {
    console.error(
      'usage: node test/helpers/k8s-validate.ts FILE.yaml…  (strict validation needs kubernetes-validate: bash .ci/k8s-tools.sh)',
    );
    process.exit(2);
  }
  const strictBin = kubernetesValidateBin();
  if (!strictBin) console.error('WARNING: kubernetes-validate not found: unknown fields are NOT checked (bash .ci/k8s-tools.sh)');
  let bad = 0;
  for (const f of files) {
    const problems = await validateObjects(parseManifests(readFileSync(f, 'utf8'), f), { strictBin });
    for (const p of problems) console.error(`${f}: ${p}`);
    if (problems.length) bad++;
    else console.log(`${f}: ok`);
  }
  process.exit(bad ? 1 : 0);
}
