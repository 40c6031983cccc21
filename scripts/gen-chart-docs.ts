/**
 * Generates two files of the Helm chart (helm/authjwt) from their sources, so they cannot drift:
 *
 *   values.schema.json  the chart's own keys (CHART_SCHEMA below) + `config`, derived from authjwt's
 *                       config schema (src/config/schema.ts, zod → JSON Schema, input side), minus
 *                       the fields the chart sets itself (keys.dir, listeners, TLS files)
 *   README.md           the values table between <!-- values:start --> and <!-- values:end -->, from
 *                       the `# --` comments of values.yaml (helm-docs style)
 *
 *   node scripts/gen-chart-docs.ts           write both
 *   node scripts/gen-chart-docs.ts --check   exit 1 when either is out of date, or a values key is undocumented
 *
 * test/integration/helm.test.ts runs the check. Edit CHART_SCHEMA here, never values.schema.json.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema } from '../src/config/schema.ts';

const CHART = fileURLToPath(new URL('../helm/authjwt/', import.meta.url));
export const SCHEMA_FILE = `${CHART}values.schema.json`;
export const README_FILE = `${CHART}README.md`;
export const VALUES_FILE = `${CHART}values.yaml`;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Schema = { [k: string]: Json };

// ---------------------------------------------------------------- values.schema.json

/** Durations as authjwt parses them (src/config/duration.ts): `15m`, `1h30m`, `250ms`, `1.5s`, or seconds. */
const DURATION_PATTERN = '^\\s*(\\d+(\\.\\d+)?|(\\d+(\\.\\d+)?(ms|s|m|h|d))+)\\s*$';

/** `config`: authjwt's own schema, minus what the chart owns. */
export function configValuesSchema(): Schema {
  const generated = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-7' }) as Schema;
  delete generated.$schema;
  const walk = (node: Json): Json => {
    if (Array.isArray(node)) return node.map(walk);
    if (!node || typeof node !== 'object') return node;
    const out: Schema = {};
    for (const [k, v] of Object.entries(node)) {
      // zod's non-standard formats ("includes") mean nothing to Helm's validator
      if (k === 'format' && typeof v === 'string' && !['uri', 'email', 'date-time'].includes(v)) continue;
      out[k] = walk(v);
    }
    const type = out.type;
    if (Array.isArray(type) && type.length === 2 && type.includes('string') && type.includes('number') && out.pattern === undefined) {
      out.pattern = DURATION_PATTERN; // applies to strings only
      out.minimum = 0; // applies to numbers only
      out.description = 'duration: 30s, 15m, 1h, 250ms, 1h30m, or a number of seconds';
    }
    return out;
  };
  const schema = walk(generated) as Schema;
  const props = schema.properties as Record<string, Schema>;
  const owned = (obj: Schema, fields: string[], how: string) => {
    const p = obj.properties as Record<string, Json>;
    for (const f of fields) delete p[f];
    if (Array.isArray(obj.required)) obj.required = obj.required.filter((r) => !fields.includes(r as string));
    obj.$comment = `${fields.join(', ')}: set by the chart (${how})`;
  };
  owned(props.keys!, ['dir', 'ephemeral', 'ephemeralAlgorithm'], 'keys.existingSecret / keys.generate');
  owned(props.grpc!, ['listen', 'tls'], 'ports.grpc, grpcListenAddress, tls.*');
  owned(props.http!, ['listen', 'tls'], 'ports.http, tls.http');
  owned(props.internalHttp!, ['listen', 'tls'], 'ports.internal, tls.http');
  schema.required = (schema.required as string[]).filter((r) => r !== 'keys');
  schema.description = "authjwt's configuration (docs/configuration.md); keys.dir, listeners and TLS files are set by the chart";
  return schema;
}

const str = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
const bool: Schema = { type: 'boolean' };
const int = (min?: number, max?: number): Schema => ({
  type: 'integer',
  ...(min !== undefined ? { minimum: min } : {}),
  ...(max !== undefined ? { maximum: max } : {}),
});
const obj = (properties: Record<string, Schema>, extra: Schema = {}): Schema => ({
  type: 'object',
  additionalProperties: false,
  properties,
  ...extra,
});
const anyObject: Schema = { type: 'object' };
const stringMap: Schema = { type: 'object', additionalProperties: { type: 'string' } };
const arrayOf = (items: Schema, extra: Schema = {}): Schema => ({ type: 'array', items, ...extra });
const dnsLabel = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const absPath = str({ pattern: '^/', minLength: 2 });
const port = int(1, 65535);
const promDuration = str({ pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$' });
const intOrPercent: Schema = { type: ['integer', 'string', 'null'], pattern: '^[0-9]+%$', minimum: 0 };
const probe = (fields: string[]) => obj(Object.fromEntries(fields.map((f) => [f, f === 'mode' ? { enum: ['http', 'grpc'] } : int(1)])));

export function chartSchema(): Schema {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $comment:
      'GENERATED by scripts/gen-chart-docs.ts from its CHART_SCHEMA and src/config/schema.ts: do not edit, run `node scripts/gen-chart-docs.ts`',
    title: 'authjwt Helm chart values',
    ...obj({
      nameOverride: str({ pattern: `^$|${dnsLabel}`, maxLength: 63 }),
      fullnameOverride: str({ pattern: `^$|${dnsLabel}`, maxLength: 63 }),
      image: obj(
        {
          repository: str({ minLength: 1 }),
          tag: str(),
          digest: str({ pattern: '^$|^sha256:[a-f0-9]{64}$' }),
          pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
        },
        { required: ['repository'] },
      ),
      imagePullSecrets: arrayOf(obj({ name: str({ minLength: 1 }) }, { required: ['name'] })),
      replicaCount: int(0),
      updateStrategy: anyObject,
      revisionHistoryLimit: int(0),
      config: configValuesSchema(),
      keys: obj({
        existingSecret: str(),
        generate: bool,
        generateAlgorithm: { enum: ['ecdsa', 'ed25519', 'rsa'] },
        mountPath: absPath,
        defaultMode: int(0, 511),
      }),
      tls: obj(
        { enabled: bool, secretName: str(), mountPath: absPath, clientAuth: bool, http: bool },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keywords
        { if: { properties: { enabled: { const: true } }, required: ['enabled'] }, then: { properties: { secretName: { minLength: 1 } } } },
      ),
      providerSecrets: arrayOf(
        obj(
          {
            name: str({ pattern: dnsLabel, maxLength: 40 }),
            secretName: str({ minLength: 1 }),
            items: arrayOf(
              obj({ key: str({ minLength: 1 }), path: str({ minLength: 1 }), mode: int(0, 511) }, { required: ['key', 'path'] }),
            ),
          },
          { required: ['name', 'secretName'] },
        ),
      ),
      ports: obj({ grpc: port, http: port, internal: port }, { required: ['grpc', 'http'] }),
      edge: obj({ extAuthz: obj({ enabled: bool }), forwardAuth: obj({ enabled: bool }) }),
      tokenEndpoint: obj({
        enabled: bool,
        // ConfigMap names are DNS subdomains (dots allowed).
        clientTrustBundle: obj({
          configMap: str({ pattern: '^$|^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253 }),
          key: str({ minLength: 1 }),
          mountPath: absPath,
        }),
      }),
      grpcListenAddress: { enum: ['0.0.0.0', '[::]', '127.0.0.1', '[::1]'] },
      extraContainers: arrayOf({ type: 'object', required: ['name', 'image'] }),
      nativeSidecar: bool,
      env: arrayOf({ type: 'object', required: ['name'] }),
      envFrom: arrayOf(anyObject),
      extraVolumes: arrayOf({ type: 'object', required: ['name'] }),
      extraVolumeMounts: arrayOf({ type: 'object', required: ['name', 'mountPath'] }),
      serviceAccount: obj({ create: bool, name: str(), annotations: stringMap, automountServiceAccountToken: bool }),
      kubernetesProviders: obj({
        mountServiceAccountToken: { enum: ['auto', true, false] },
        tokenExpirationSeconds: int(600, 86400),
        tokenReviewBinding: { enum: ['auto', true, false] },
        issuerDiscoveryBinding: bool,
        egressPorts: arrayOf(port),
      }),
      podAnnotations: stringMap,
      podLabels: stringMap,
      podSecurityContext: anyObject,
      securityContext: anyObject,
      resources: anyObject,
      probes: obj({
        liveness: probe(['mode', 'periodSeconds', 'timeoutSeconds', 'failureThreshold']),
        readiness: probe(['periodSeconds', 'timeoutSeconds', 'failureThreshold']),
        startup: probe(['periodSeconds', 'failureThreshold']),
        grpcService: str(),
      }),
      lifecycle: anyObject,
      terminationGracePeriodSeconds: int(0),
      topologySpreadConstraints: arrayOf({ type: 'object', required: ['maxSkew', 'topologyKey', 'whenUnsatisfiable'] }),
      nodeSelector: stringMap,
      tolerations: arrayOf(anyObject),
      affinity: anyObject,
      priorityClassName: str(),
      service: obj({ type: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] }, annotations: stringMap, labels: stringMap }),
      podDisruptionBudget: obj({ enabled: bool, minAvailable: intOrPercent, maxUnavailable: intOrPercent }),
      autoscaling: obj({
        enabled: bool,
        minReplicas: int(1),
        maxReplicas: int(1),
        targetCPUUtilizationPercentage: { type: ['integer', 'null'], minimum: 1 },
        targetMemoryUtilizationPercentage: { type: ['integer', 'null'], minimum: 1 },
        behavior: anyObject,
      }),
      networkPolicy: obj({
        enabled: bool,
        grpcFrom: arrayOf(anyObject),
        httpFrom: arrayOf(anyObject),
        internalFrom: arrayOf(anyObject),
        egress: obj({ enabled: bool, extraRules: arrayOf(anyObject) }),
      }),
      serviceMonitor: obj({
        enabled: bool,
        interval: promDuration,
        scrapeTimeout: promDuration,
        labels: stringMap,
        tlsConfig: anyObject,
        relabelings: arrayOf(anyObject),
        metricRelabelings: arrayOf(anyObject),
      }),
      prometheusRule: obj({ enabled: bool, labels: stringMap }),
      grafanaDashboard: obj({ enabled: bool, namespace: str(), labels: stringMap, annotations: stringMap }),
      tests: obj({ enabled: bool }),
    }),
  };
}

// ---------------------------------------------------------------- README values table

export interface ValueDoc {
  key: string;
  description: string;
  default: string | undefined;
}

/**
 * Reads the `# --` comments of values.yaml. Returns the documented keys and the keys that need a
 * comment but have none (a key inside a documented map needs none).
 */
export function readValueDocs(text: string): { docs: ValueDoc[]; undocumented: string[] } {
  const lines = text.split('\n');
  const docs: ValueDoc[] = [];
  const undocumented: string[] = [];
  const stack: { indent: number; key: string; documented: boolean }[] = [];
  let comment: string[] | undefined;
  let defaultText: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const c = /^\s*# ?(.*)$/.exec(line);
    if (c) {
      const body = c[1]!;
      if (body.startsWith('-- ')) comment = [body.slice(3)];
      else if (body.startsWith('@default -- ')) defaultText = body.slice('@default -- '.length);
      else if (comment) comment.push(body);
      continue;
    }
    const m = /^( *)([A-Za-z_][A-Za-z0-9_]*):(.*)$/.exec(line);
    if (!m) {
      if (!line.trim()) {
        comment = undefined;
        defaultText = undefined;
      }
      continue;
    }
    const indent = m[1]!.length;
    while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
    // keys inside list items (e.g. topologySpreadConstraints entries) are data, not values keys
    const parent = stack[stack.length - 1];
    if (parent && indent > parent.indent + 2) continue;
    const key = [...stack.map((s) => s.key), m[2]!].join('.');
    const insideDocumented = stack.some((s) => s.documented);
    const rest = m[3]!.trim();
    let next = i + 1;
    while (next < lines.length && (/^\s*#/.test(lines[next]!) || !lines[next]!.trim())) next++;
    const isParent =
      rest === '' &&
      next < lines.length &&
      /^( *)[A-Za-z_][A-Za-z0-9_]*:/.test(lines[next]!) &&
      /^( *)/.exec(lines[next]!)![1]!.length > indent;
    if (comment) docs.push({ key, description: comment.join(' ').trim(), default: defaultText });
    else if (!insideDocumented && !isParent) undocumented.push(key);
    stack.push({ indent, key: m[2]!, documented: comment !== undefined });
    comment = undefined;
    defaultText = undefined;
  }
  return { docs, undocumented };
}

const lookup = (values: unknown, key: string): unknown =>
  key.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), values);
const typeOf = (v: unknown) =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'list'
      : typeof v === 'number'
        ? Number.isInteger(v)
          ? 'int'
          : 'float'
        : typeof v === 'object'
          ? 'object'
          : typeof v;
const cell = (s: string) => s.replace(/\|/g, '\\|');

export function valuesTable(valuesText: string): string {
  const values = parseYaml(valuesText) as unknown;
  const { docs } = readValueDocs(valuesText);
  const rows = docs.map((d) => {
    const v = lookup(values, d.key);
    const def = d.default ?? `\`${JSON.stringify(v)}\``;
    return `| ${d.key} | ${typeOf(v)} | ${cell(def)} | ${cell(d.description)} |`;
  });
  return ['| Key | Type | Default | Description |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

const START = '<!-- values:start (generated by scripts/gen-chart-docs.ts) -->';
const END = '<!-- values:end -->';

export function renderReadme(readme: string, valuesText: string): string {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${README_FILE}: markers ${START} … ${END} not found`);
  return `${readme.slice(0, a + START.length)}\n${valuesTable(valuesText)}\n${readme.slice(b)}`;
}

// ---------------------------------------------------------------- main

export function expectedFiles(): { schema: string; readme: string; undocumented: string[] } {
  const valuesText = readFileSync(VALUES_FILE, 'utf8');
  return {
    schema: `${JSON.stringify(chartSchema(), null, 2)}\n`,
    readme: renderReadme(readFileSync(README_FILE, 'utf8'), valuesText),
    undocumented: readValueDocs(valuesText).undocumented,
  };
}

if (import.meta.main) {
  const check = process.argv.includes('--check');
  const { schema, readme, undocumented } = expectedFiles();
  let ok = true;
  if (undocumented.length) {
    console.error(`values.yaml: keys without a "# --" comment: ${undocumented.join(', ')}`);
    ok = false;
  }
  for (const [file, content] of [
    [SCHEMA_FILE, schema],
    [README_FILE, readme],
  ] as const) {
    let current = '';
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      /* missing */
    }
    if (current === content) continue;
    if (check) {
      console.error(`${file} is out of date: run node scripts/gen-chart-docs.ts`);
      ok = false;
    } else {
      writeFileSync(file, content);
      console.error(`wrote ${file}`);
    }
  }
  process.exit(ok ? 0 : 1);
}
