/**
 * .ci/versions.env is the one place the shared versions are written: the TypeScript parser reads it as
 * sh does, and every mention of those versions in docs, Dockerfiles, scripts and tests equals it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parseVersions, VERSIONS_FILE, version } from '../helpers/versions.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KEYS = [
  'KEYCLOAK_VERSION',
  'NODE_MAJOR',
  'NPM_VERSION',
  'HELM_VERSION',
  'KUSTOMIZE_VERSION',
  'KUBERNETES_VALIDATE_VERSION',
  'REDIS_SERVER_VERSION',
  'ENVOY_VERSION',
  'TRAEFIK_VERSION',
  'SLOTH_VERSION',
  'KUBERNETES_VERSION',
  'ETCD_VERSION',
  'COREDNS_VERSION',
  'PROMETHEUS_OPERATOR_VERSION',
] as const;

describe('.ci/versions.env parser', () => {
  it('reads KEY=VALUE lines, skips comments and blank lines, unwraps matching quotes', () => {
    const text = '# comment\n\nA=1.2.3\n  B="24"\nC=\'x_y\'\n';
    assert.deepEqual(parseVersions(text, 'f'), { A: '1.2.3', B: '24', C: 'x_y' });
  });

  for (const line of ['A = 1', 'A=1 2', 'A=$B', 'A="$B"', 'A=`x`', 'export A=1', 'a=1', 'A=1 # trailing', 'A="1', 'just text']) {
    it(`rejects a line that is not a plain KEY=VALUE (sh could read it differently): ${JSON.stringify(line)}`, () => {
      assert.throws(() => parseVersions(`${line}\n`, 'f'), /f:1: expected KEY=VALUE/);
    });
  }

  it('rejects a key set twice', () => {
    assert.throws(() => parseVersions('A=1\nA=2\n', 'f'), /f:2: A is set twice/);
  });

  it('sh reads the real file exactly as the parser does', () => {
    const parsed = parseVersions(readFileSync(VERSIONS_FILE, 'utf8'));
    const keys = Object.keys(parsed);
    const script = `. "$1"; printf '%s\\n' ${keys.map((k) => `"$${k}"`).join(' ')}`;
    const fromSh = execFileSync('sh', ['-c', script, 'sh', VERSIONS_FILE], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    assert.deepEqual(fromSh.split('\n').slice(0, keys.length), Object.values(parsed));
  });

  it(`defines ${KEYS.join(', ')}`, () => {
    for (const key of KEYS) assert.match(version(key), /^v?\d+(\.\d+)*$/, key);
  });
});

/** How each version is mentioned; `prefix: true` allows a shorter prose form ("Keycloak 26.7" for 26.7.3). */
const MENTIONS: { key: (typeof KEYS)[number]; re: RegExp; prefix?: boolean }[] = [
  { key: 'KEYCLOAK_VERSION', re: /keycloak:(\d+\.\d+\.\d+)/gi },
  { key: 'KEYCLOAK_VERSION', re: /keycloak-quarkus-dist:(\d+\.\d+\.\d+)/g },
  { key: 'KEYCLOAK_VERSION', re: /\bKeycloak (\d+(?:\.\d+){0,2})\b/g, prefix: true },
  { key: 'NODE_MAJOR', re: /\bnode:(\d+)-/g },
  { key: 'NODE_MAJOR', re: /\bnode-build:(\d+)\b/g },
  { key: 'NODE_MAJOR', re: /\bnode@(\d+)\b/g },
  { key: 'NODE_MAJOR', re: /\bNode(?:\.js)? (\d+)(?![\d.])/g },
  { key: 'NPM_VERSION', re: /\bnpm@(\d+\.\d+\.\d+)/g },
  { key: 'HELM_VERSION', re: /\bhelm[@ ](v\d+\.\d+\.\d+)/g },
  { key: 'KUSTOMIZE_VERSION', re: /\bkustomize[@ ](v\d+\.\d+\.\d+)/g },
  { key: 'KUBERNETES_VALIDATE_VERSION', re: /\bkubernetes-validate(?: |==)(\d+\.\d+\.\d+)/g },
  { key: 'REDIS_SERVER_VERSION', re: /\bredis-server (\d+\.\d+\.\d+)/g },
  { key: 'ENVOY_VERSION', re: /\bEnvoy (\d+\.\d+(?:\.\d+)?)\b/g, prefix: true },
  { key: 'ENVOY_VERSION', re: /\benvoy-server(?:==| )(\d+\.\d+\.\d+)/g },
  { key: 'TRAEFIK_VERSION', re: /\bTraefik (\d+\.\d+(?:\.\d+)?)\b/g, prefix: true },
  { key: 'TRAEFIK_VERSION', re: /\btraefik-bin(?:==| )(\d+\.\d+\.\d+)/g },
  { key: 'SLOTH_VERSION', re: /\b[Ss]loth[@ ](v\d+\.\d+\.\d+)/g },
  // The test cluster (.ci/k8s-cluster.sh): "Kubernetes v1.34.4", "k8s.io/kubernetes@v1.34.4"; "etcd v3.6.4"; "CoreDNS v1.12.1".
  { key: 'KUBERNETES_VERSION', re: /\bKubernetes (v\d+\.\d+\.\d+)\b/g },
  { key: 'KUBERNETES_VERSION', re: /\bk8s\.io\/kubernetes[@ ](v\d+\.\d+\.\d+)\b/g },
  { key: 'ETCD_VERSION', re: /\betcd[@ ](v\d+\.\d+\.\d+)\b/g },
  { key: 'COREDNS_VERSION', re: /\bCoreDNS[@ ](v\d+\.\d+\.\d+)\b/g },
  { key: 'PROMETHEUS_OPERATOR_VERSION', re: /\bprometheus-operator[@ ](v\d+\.\d+\.\d+)\b/g },
];

/**
 * Where versions are mentioned. Left out: .ci/versions.env itself, docs/benchmarks.md (a record of a
 * measurement: it names the versions that were measured, rewritten by `npm run bench`), node_modules,
 * generated code and lockfiles.
 */
const SCANNED = ['README.md', 'SECURITY.md', 'Dockerfile', 'docs', 'helm/authjwt/README.md', 'monitoring', '.ci', 'scripts', 'src', 'test'];
const EXCLUDED = new Set(['.ci/versions.env', 'docs/benchmarks.md', 'src/generated']);

function textFiles(path: string): string[] {
  const rel = relative(ROOT, path);
  if (EXCLUDED.has(rel)) return [];
  if (statSync(path).isDirectory()) return readdirSync(path).flatMap((name) => textFiles(join(path, name)));
  return /\.(md|ts|sh|yaml|json)$|(^|\/)(Dockerfile|Containerfile|run)$/.test(rel) ? [rel] : [];
}

describe('version mentions', () => {
  const files = SCANNED.flatMap((p) => textFiles(join(ROOT, p)));
  const found = new Map<string, number>();
  const mismatches: string[] = [];
  for (const file of files) {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      for (const { key, re, prefix } of MENTIONS) {
        for (const m of line.matchAll(re)) {
          const expected = version(key);
          const mentioned = m[1]!;
          found.set(key, (found.get(key) ?? 0) + 1);
          if (mentioned === expected || (prefix && expected.startsWith(`${mentioned}.`))) continue;
          mismatches.push(`${file}:${i + 1}: "${m[0]}" but .ci/versions.env has ${key}=${expected}`);
        }
      }
    });
  }

  it('every mention in docs, Dockerfiles, scripts and tests equals .ci/versions.env', () => {
    assert.deepEqual(mismatches, []);
  });

  it('the scan sees the known mentions (README, docs/testing.md, docs/deploy.md, the Dockerfile)', () => {
    for (const file of ['README.md', 'Dockerfile', 'docs/testing.md', 'docs/deploy.md', '.ci/run']) assert.ok(files.includes(file), file);
    for (const key of KEYS) assert.ok((found.get(key) ?? 0) > 0, `no mention of ${key} found: the patterns no longer match`);
  });
});
