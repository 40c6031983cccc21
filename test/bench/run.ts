/**
 * `npm run bench`: throughput, latency and memory of GetJWT, side by side with the floor (a bare
 * sign-only gRPC server) and with Keycloak's standard token exchange, on this machine, loopback only, bounded
 * in time. Writes docs/benchmarks.md and bench-results/results.json.
 *
 * Load generators run in their own processes: ghz (Go, `go install`) for gRPC, test/bench/http-load.ts
 * (forward-auth) and test/bench/token-load.ts (authjwt's and Keycloak's token endpoints) for HTTP,
 * test/bench/flood.ts for the million-token memory run.
 * Options: --duration S (per measured run, default 10), --flood N (distinct tokens, default 1000000),
 * --quick (duration 4, flood 100000), --no-keycloak, --only edge (the floor and the edge rows only:
 * results in bench-results/results-edge.json, docs/benchmarks.md untouched), --only envoy (the real-Envoy
 * rows only, results in bench-results/results-envoy.json), --only hit, --only keycloak, --soak,
 * --algs, --no-edge, --baseline DIR, --profile DIR (issue 24; see docs/benchmarks.md).
 *
 * Edge rows (issue 12): Envoy ext_authz Check (ghz with Envoy's protos from @grpc/grpc-js-xds) and HTTP
 * forward-auth (test/bench/http-load.ts), each at a minted-token cache hit (the same provider token
 * every call: a lookup, no signature) and miss (distinct tokens: verify + sign), beside GetJWT on the
 * same server and the sign-only floor.
 *
 * Real-Envoy rows (issue 19): the shipped deploy/envoy files with only their addresses changed, in front
 * of an nginx `return 200` upstream, side by side: no auth, jwt_authn alone (verified-token cache hit),
 * gRPC ext_authz → authjwt (minted-token cache hit, then jwt_authn as the file has it) and HTTP ext_authz
 * → forward-auth (hit); the CPU per request of Envoy, authjwt and the upstream says where the time goes.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { credentials } from '@grpc/grpc-js';
import { importJWK, SignJWT } from 'jose';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { loadAuthProto } from '../../src/grpc/proto.ts';
import { renderExample, startEnvoy, startNginx, type Gateway } from '../helpers/gateways.ts';
import { findTool } from '../helpers/interop-tools.ts';
import { API_RESOURCE, newSigningKey, startOidcProvider, USERS, INTROSPECTION_CLIENT } from '../helpers/oidc.ts';
import { freePort } from '../helpers/net.ts';
import { version } from '../helpers/versions.ts';
import { EXT_AUTHZ_CHECK_CALL, GETJWT_CALL, GHZ_MODULE, ghz as runGhz, runTool, type GhzResult } from './ghz.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string' },
    flood: { type: 'string' },
    quick: { type: 'boolean' },
    'no-keycloak': { type: 'boolean' },
    only: { type: 'string' },
    profile: { type: 'string' },
    baseline: { type: 'string' },
    algs: { type: 'string' },
    'no-edge': { type: 'boolean' },
    soak: { type: 'boolean' },
    'soak-minutes': { type: 'string' },
  },
});
// issue 22: the Transaction Token rows live in their own file (results in bench-results/results-txn.json).
if (args.only === 'txn') {
  await import('./txn-tokens.ts');
  process.exit(0);
}
const ONLY_ENVOY = args.only === 'envoy';
/** `--only hit`: the per-call overhead rows only (floor and cache hit per algorithm, half peak, the edge doors' hits). */
const ONLY_HIT = args.only === 'hit';
/** `--only keycloak`: the Keycloak comparison rows only (results in bench-results/results-keycloak.json). */
const ONLY_KC = args.only === 'keycloak';
/** `--soak`: all doors mixed at half their peak for `--soak-minutes` (default 30), sampled every minute; nothing else runs. */
const SOAK = args.soak === true;
const SOAK_MINUTES = Number(args['soak-minutes'] ?? 30);
const EDGE_ONLY = args.only === 'edge' || ONLY_ENVOY;
if (args.only !== undefined && !EDGE_ONLY && !ONLY_HIT && !ONLY_KC)
  throw new Error(`--only ${args.only}: only "edge", "envoy", "hit", "keycloak" and "txn" are known`);
/** `--profile DIR`: authjwt servers run with `--cpu-prof --cpu-prof-dir DIR` (read with test/bench/top-frames.ts). */
const PROFILE_DIR = args.profile;
/**
 * `--baseline DIR`: the `dist/` of another build (inside this checkout, so it resolves node_modules), e.g.
 * `cp -r dist dist-baseline` before a change (a sibling of dist/: it imports ../package.json): every round of the cache-hit rows then also
 * measures it, alternating with this build, so a before/after comparison sees the same machine noise.
 */
const BASELINE_DIST = args.baseline;
/** `--algs ES256,EdDSA`: the signing algorithms of the cache-hit rows (default all three); `--no-edge`: no edge rows. */
const ALGS = args.algs ? args.algs.split(',') : ['ES256', 'EdDSA', 'RS256'];
const DURATION = Number(args.duration ?? (args.quick ? 4 : 10));
const FLOOD = Number(args.flood ?? (args.quick ? 100_000 : 1_000_000));
const CONCURRENCY = 32;
const BIN = process.env.AUTHJWT_BENCH_BIN ?? join(process.env.HOME ?? '/root', '.cache/authjwt-bench/bin');
const work = mkdtempSync(join(tmpdir(), 'authjwt-bench-'));
const log = (s: string) => console.log(`[bench] ${s}`);
/** The V8 limits the container image sets (Dockerfile NODE_OPTIONS): heap bounded, young generation small. */
export const PRODUCTION_NODE_FLAGS = ['--max-old-space-size=96', '--max-semi-space-size=8'];
/**
 * Diagnostics: AUTHJWT_BENCH_SERVER_FLAGS (e.g. `--trace-gc`) are added to the floor's and authjwt's
 * Node flags; with AUTHJWT_BENCH_SERVER_STDOUT=DIR each server's stdout goes to DIR/<kind>-<port>.log.
 */
const SERVER_FLAGS = (process.env.AUTHJWT_BENCH_SERVER_FLAGS ?? '').split(' ').filter(Boolean);
const serverStdout = (name: string): 'ignore' | number => {
  const dir = process.env.AUTHJWT_BENCH_SERVER_STDOUT;
  if (!dir) return 'ignore';
  mkdirSync(dir, { recursive: true });
  return openSync(join(dir, `${name}.log`), 'w');
};

interface RunResult {
  scenario: string;
  server: string;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  count: number;
  peakRssMb: number | undefined;
  /** Server CPU time (all threads) per completed call. */
  cpuUsPerCall?: number | undefined;
  note?: string;
}
const results: RunResult[] = [];
const ROUNDS = Number(process.env.AUTHJWT_BENCH_ROUNDS ?? 3);
/** Envoy worker threads (`--concurrency`) of the real-Envoy rows. */
const ENVOY_WORKERS = Number(process.env.AUTHJWT_BENCH_ENVOY_WORKERS ?? 1);

/** The load generators (Go), each installed into its own BIN/<name>-<version>/ so a version bump never reuses an older binary. */
const TOOLS = { ghz: GHZ_MODULE } as const;
const tool = (name: keyof typeof TOOLS) => join(BIN, `${name}-${TOOLS[name].split('@')[1]}`, name);

function ensureTools(): void {
  for (const [name, mod] of Object.entries(TOOLS) as [keyof typeof TOOLS, string][]) {
    const bin = tool(name);
    if (existsSync(bin)) continue;
    log(`installing ${name} (go install ${mod})`);
    mkdirSync(dirname(bin), { recursive: true });
    execFileSync('go', ['install', mod], { env: { ...process.env, GOBIN: dirname(bin), GOFLAGS: '-mod=mod' }, stdio: 'inherit' });
  }
}

const rssMb = (pid: number, field: 'VmRSS' | 'VmHWM') => {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
};

const { AuthAPI } = loadAuthProto().auth.v1alpha1;
async function waitGrpc(port: number): Promise<void> {
  const client = new AuthAPI(`127.0.0.1:${port}`, credentials.createInsecure());
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 20_000, (e: Error | undefined) => (e ? reject(e) : resolve())),
  );
  client.close();
}

async function startServer(
  kind: 'authjwt' | 'bare',
  keys: { dir: string; file: string },
  opts: {
    edge?: boolean;
    dist?: string;
    /** `taskset -c` CPU list the server is pinned to (the Keycloak comparison: one vCPU each). */
    pin?: string;
    /** Verification cache entries (default 10,000; 0: off). */
    cacheEntries?: number;
  } = {},
): Promise<{ proc: ChildProcess; port: number; httpPort: number; internalPort: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const internalPort = await freePort();
  const httpPort = await freePort();
  let proc: ChildProcess;
  if (kind === 'bare') {
    proc = spawn(
      process.execPath,
      [
        ...PRODUCTION_NODE_FLAGS,
        ...SERVER_FLAGS,
        ...(PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', join(PROFILE_DIR, 'floor')] : []),
        'test/bench/bare-server.ts',
        '--port',
        String(port),
        '--key',
        keys.file,
        '--issuer',
        'https://authjwt.bench',
      ],
      { cwd: root, stdio: ['ignore', serverStdout(`floor-${port}`), 'inherit'] },
    );
  } else {
    const cfg = workFile(
      `config-${port}.yaml`,
      `# production-like: keys from a directory, TLS off (loopback), info logging
issuer: https://authjwt.bench
audience: [internal-services]
grpc: { listen: "127.0.0.1:${port}", plaintext: true, maxConcurrentCalls: 4096 }
http: { listen: "127.0.0.1:${httpPort}" }
keys: { dir: ${keys.dir} }
cache: { maxEntries: ${opts.cacheEntries ?? 10000}, maxTtl: 5m }
logging: { level: info }
${opts.edge ? `edge: { extAuthz: { enabled: true }, forwardAuth: { enabled: true } }\ninternalHttp: { listen: "127.0.0.1:${internalPort}" }\ntokenEndpoint: { enabled: true, defaultProvider: op-jwt, clientAuthentication: { methods: [none] } }\n` : ''}providers:
${providers}`,
    );
    const dist = resolve(root, opts.dist ?? 'dist');
    const profile = PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', join(PROFILE_DIR, opts.dist ? 'baseline' : 'current')] : [];
    const argv = [
      ...PRODUCTION_NODE_FLAGS,
      ...SERVER_FLAGS,
      ...profile,
      '--import',
      join(dist, 'telemetry/tracing.js'),
      join(dist, 'main.js'),
      '--config',
      cfg,
    ];
    // taskset execs node: the child's pid is the server's.
    proc = spawn(opts.pin ? 'taskset' : process.execPath, opts.pin ? ['-c', opts.pin, process.execPath, ...argv] : argv, {
      cwd: root,
      stdio: ['ignore', serverStdout(`authjwt-${port}`), 'inherit'],
      env: { ...process.env, NODE_ENV: 'production' },
    });
  }
  await waitGrpc(port);
  return {
    proc,
    port,
    httpPort,
    internalPort,
    stop: () =>
      new Promise<void>((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 5_000).unref();
      }),
  };
}

/** Runs a load generator asynchronously: the OIDC provider lives in this process and must keep answering. */

/**
 * One ghz run. Measured runs are count-based (the count from the warm-up's rate × duration) so every
 * call completes: a time-based run cancels the calls in flight when time is up.
 */
/** What a load run calls: a gRPC method (ghz) or an HTTP URL (http-load.ts). */
type Target =
  | { kind: 'grpc'; proto: string; importPaths?: readonly string[]; call: string }
  | { kind: 'http'; url: (server: { internalPort: number }) => string; headers?: readonly string[] }
  /** The RFC 8693 token endpoint: test/bench/token-load.ts POSTs the form bodies of the data file (one per line, reused). */
  | { kind: 'token'; url: (server: { internalPort: number }) => string };
const GETJWT: Target = { kind: 'grpc', ...GETJWT_CALL };
const EXT_AUTHZ_CHECK: Target = { kind: 'grpc', ...EXT_AUTHZ_CHECK_CALL };

const TOKEN_ENDPOINT: Target = { kind: 'token', url: (server) => `http://127.0.0.1:${server.internalPort}/token` };
/** token-load.ts bodies: one RFC 8693 request per subject token (client authentication none). */
function tokenBodies(name: string, tokens: readonly string[]): string {
  const body = (token: string) =>
    new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: token,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    }).toString();
  return workFile(`token-bodies-${name}.txt`, `${tokens.map(body).join('\n')}\n`);
}

type LoadResult = GhzResult;

function ghz(
  port: number,
  dataFile: string,
  options: { duration?: number; total?: number; concurrency?: number; rps?: number },
  target: Extract<Target, { kind: 'grpc' }> = GETJWT as Extract<Target, { kind: 'grpc' }>,
): Promise<LoadResult> {
  return runGhz(tool('ghz'), port, target, dataFile, { ...options, concurrency: options.concurrency ?? CONCURRENCY });
}

/** Writes an input file of a server or load generator into the work directory; returns its path. */
function workFile(name: string, text: string): string {
  const file = join(work, name);
  writeFileSync(file, text);
  return file;
}

/** A ghz data file of GetJWT requests for alice's account at `provider`, one per access token (round-robin). */
function writeData(name: string, provider: string, tokens: readonly string[]): string {
  const requests = tokens.map((accessToken) => ({ account: { provider, type: 'oidc', providerAccountId: alice.sub, accessToken } }));
  return workFile(`${name}.json`, JSON.stringify(requests));
}

/** utime + stime of a process (all threads), in µs. */
const cpuUs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000; // clock ticks of 10 ms
};

/** One http-load.ts run (forward-auth): its own process, like ghz. */
async function httpLoad(
  url: string,
  tokensFile: string,
  options: { duration?: number; total?: number; rps?: number },
  headers: readonly string[] = [],
): Promise<LoadResult> {
  const out = JSON.parse(
    await runTool(process.execPath, [
      join(root, 'test/bench/http-load.ts'),
      '--url',
      url,
      '--tokens',
      tokensFile,
      '--concurrency',
      String(CONCURRENCY),
      ...(options.total ? ['--count', String(options.total)] : ['--duration', String(options.duration)]),
      ...(options.rps ? ['--rps', String(options.rps)] : []),
      ...headers.flatMap((h) => ['--header', h]),
    ]),
  ) as { rps: number; count: number; errors: number; statusCodes: Record<string, number>; p50: number; p95: number; p99: number };
  const errorKinds = Object.fromEntries(Object.entries(out.statusCodes).filter(([k]) => k !== '200'));
  return { rps: out.rps, p50: out.p50, p95: out.p95, p99: out.p99, errors: out.errors, count: out.count, errorKinds };
}

/**
 * One token-load.ts run (token endpoints: authjwt's and Keycloak's): its own process. Bodies are reused
 * round-robin unless `distinct` (each used once, from `skip`); `pin`: `taskset -c` CPU list of the generator.
 */
async function tokenLoad(
  url: string,
  bodiesFile: string,
  options: { duration?: number; total?: number; rps?: number; concurrency?: number; distinct?: boolean; skip?: number; pin?: string },
): Promise<LoadResult> {
  const argv = [
    join(root, 'test/bench/token-load.ts'),
    '--url',
    url,
    '--bodies',
    bodiesFile,
    ...(options.distinct ? ['--skip', String(options.skip ?? 0)] : ['--repeat']),
    ...(options.total ? ['--count', String(options.total)] : ['--duration', String(options.duration ?? DURATION)]),
    '--concurrency',
    String(options.concurrency ?? CONCURRENCY),
    ...(options.rps ? ['--rps', String(options.rps)] : []),
  ];
  const out = JSON.parse(
    options.pin ? await runTool('taskset', ['-c', options.pin, process.execPath, ...argv]) : await runTool(process.execPath, argv),
  ) as { rps: number; count: number; errors: number; statusCodes: Record<string, number>; p50: number; p95: number; p99: number };
  const errorKinds = Object.fromEntries(Object.entries(out.statusCodes).filter(([k]) => k !== '200'));
  return { rps: out.rps, p50: out.p50, p95: out.p95, p99: out.p99, errors: out.errors, count: out.count, errorKinds };
}

/** One load run against a target of any kind (ghz, http-load.ts, token-load.ts). */
function loadTarget(
  target: Target,
  server: { port: number; internalPort?: number },
  data: string,
  options: { duration?: number; total?: number; rps?: number },
): Promise<LoadResult> {
  if (target.kind === 'grpc') return ghz(server.port, data, options, target);
  const url = target.url({ internalPort: server.internalPort! });
  return target.kind === 'http' ? httpLoad(url, data, options, target.headers) : tokenLoad(url, data, options);
}

async function measure(
  scenario: string,
  serverLabel: string,
  server: { proc: ChildProcess; port: number; internalPort?: number },
  dataFile: string,
  extra: { rps?: number; note?: string; record?: boolean; target?: Target; warmData?: string } = {},
): Promise<RunResult> {
  const target = extra.target ?? GETJWT;
  const load = (options: { duration?: number; total?: number; rps?: number }, data = dataFile) => loadTarget(target, server, data, options);
  // JIT, JWKS, connections. Miss scenarios warm up with OTHER tokens: the measured run starts again
  // at the first token of its file, which the warm-up would otherwise have put in the caches.
  const warm = await load({ duration: 2, rps: extra.rps }, extra.warmData);
  const cpuBefore = cpuUs(server.proc.pid!);
  const { errorKinds, ...r } = await load({
    total: Math.max(200, Math.round((extra.rps ?? warm.rps) * DURATION)),
    rps: extra.rps,
  });
  const cpuUsPerCall = Math.round((cpuUs(server.proc.pid!) - cpuBefore) / Math.max(1, r.count));
  // A scenario that measures failures is broken (e.g. provider tokens expired or evicted): say so loudly.
  if (r.errors > r.count * 0.01)
    log(
      `WARNING: ${scenario}: ${r.errors}/${r.count} calls failed ${JSON.stringify(errorKinds)} — the row does not measure the path it names`,
    );
  const notes = [extra.note, r.errors ? `errors: ${JSON.stringify(errorKinds)}` : undefined].filter(Boolean).join('; ');
  const result: RunResult = {
    scenario,
    server: serverLabel,
    ...r,
    cpuUsPerCall,
    peakRssMb: rssMb(server.proc.pid!, 'VmHWM'),
    ...(notes ? { note: notes } : {}),
  };
  if (extra.record !== false) results.push(result);
  log(
    `${scenario} [${serverLabel}] ${r.rps.toFixed(0)} req/s p50 ${r.p50.toFixed(2)} ms p95 ${r.p95.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms errors ${r.errors}/${r.count} peak RSS ${result.peakRssMb} MB`,
  );
  return result;
}

/** Resolves once something accepts TCP connections on the loopback port (bounded). */
async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

/** utime + stime (µs) of a process and all its descendants (nginx's workers are children of its master). */
function cpuTreeUs(pid: number): number {
  let total = 0;
  try {
    total = cpuUs(pid);
    for (const task of readdirSync(`/proc/${pid}/task`))
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean))
        total += cpuTreeUs(Number(child));
  } catch {
    /* the process ended */
  }
  return total;
}

/**
 * The real-Envoy rows (issue 19): the shipped deploy/envoy files with only their addresses (and the
 * issuer) changed, one Envoy per file (ENVOY_WORKERS worker threads) in front of nginx answering
 * `return 200`, driven by http-load.ts; rounds alternate the four scenarios so machine noise hits them
 * alike, and the median round is kept. Per request, the CPU of Envoy, authjwt and the upstream says
 * where the time goes.
 */
async function envoyRows(svc: { proc: ChildProcess; port: number; httpPort: number; internalPort: number }, providerTokens: string) {
  const envoyBin = findTool('envoy');
  const nginxBin = findTool('nginx');
  const server = `Envoy ${version('ENVOY_VERSION')} (${ENVOY_WORKERS} worker)`;
  if (!envoyBin || !nginxBin) {
    const missing = !envoyBin ? 'envoy' : 'nginx';
    log(`Envoy rows skipped: ${missing} is not installed (eval "$(bash .ci/tools.sh)")`);
    results.push({
      scenario: 'Envoy rows',
      server,
      rps: NaN,
      p50: NaN,
      p95: NaN,
      p99: NaN,
      errors: 0,
      count: 0,
      peakRssMb: undefined,
      note: `not run: ${missing} not installed`,
    });
    return;
  }
  const upPort = await freePort();
  const upstream = await startNginx(nginxBin, upPort, `server { listen 127.0.0.1:${upPort}; location / { return 200 "ok\\n"; } }`);
  // The authjwt token the verify-only rows send: what forward-auth mints for the provider token.
  const minted = (
    await fetch(`http://127.0.0.1:${svc.internalPort}/forward-auth`, {
      headers: { authorization: `Bearer ${readFileSync(providerTokens, 'utf8').trim()}` },
    })
  ).headers
    .get('authorization')!
    .slice('Bearer '.length);
  const mintedTokens = workFile('tokens-minted.txt', `${minted}\n`);
  const addresses = (port: number): Record<string, string> => ({
    '{ address: 0.0.0.0, port_value: 10000 }': `{ address: 127.0.0.1, port_value: ${port} }`,
    '{ address: backend.default.svc.cluster.local, port_value: 3000 }': `{ address: 127.0.0.1, port_value: ${upPort} }`,
  });
  const jwks = {
    '{ address: authjwt.auth.svc.cluster.local, port_value: 8080 }': `{ address: 127.0.0.1, port_value: ${svc.httpPort} }`,
    'https://authjwt.example.com': 'https://authjwt.bench',
  };
  type Bootstrap = {
    static_resources: { listeners: { filter_chains: { filters: { typed_config: { http_filters: { name: string }[] } }[] }[] }[] };
  };
  /** envoy.yaml without its jwt_authn filter: the proxy alone. */
  const withoutJwtAuthn = (text: string) => {
    const config = parseYaml(text) as Bootstrap;
    const hcm = config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config;
    hcm.http_filters = hcm.http_filters.filter((f) => f.name !== 'envoy.filters.http.jwt_authn');
    return stringifyYaml(config);
  };
  // The gRPC transport's floor: a bare grpc-js Check answering the minted token, behind the same file.
  const floorPort = await freePort();
  const floor = spawn(
    process.execPath,
    [...PRODUCTION_NODE_FLAGS, 'test/bench/bare-ext-authz.ts', '--port', String(floorPort), '--token', minted],
    { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await waitPort(floorPort);
  const extAuthzAt = (port: number, grpcPort: number) =>
    renderExample('deploy/envoy/ext-authz.yaml', {
      ...addresses(port),
      ...jwks,
      '{ address: authjwt.auth.svc.cluster.local, port_value: 50051 }': `{ address: 127.0.0.1, port_value: ${grpcPort} }`,
    });
  type Scenario = {
    name: string;
    file: string;
    tokens: string;
    config: (port: number) => string;
    /** The authorization service behind Envoy, if any: its CPU is measured too. */
    service?: { label: string; pid: number };
  };
  const authjwt = { label: 'authjwt', pid: svc.proc.pid! };
  const scenarios: Scenario[] = [
    {
      name: 'Envoy → upstream, no auth',
      file: 'deploy/envoy/envoy.yaml without jwt_authn',
      tokens: mintedTokens,
      config: (port) => withoutJwtAuthn(renderExample('deploy/envoy/envoy.yaml', { ...addresses(port), ...jwks })),
    },
    {
      name: 'Envoy jwt_authn (verified-token cache hit)',
      file: 'deploy/envoy/envoy.yaml',
      tokens: mintedTokens,
      config: (port) => renderExample('deploy/envoy/envoy.yaml', { ...addresses(port), ...jwks }),
    },
    {
      name: 'Envoy + gRPC ext_authz → authjwt (minted-token cache hit) + jwt_authn',
      file: 'deploy/envoy/ext-authz.yaml',
      tokens: providerTokens,
      config: (port) => extAuthzAt(port, svc.port),
      service: authjwt,
    },
    {
      name: 'Envoy + gRPC ext_authz → bare grpc-js Check (constant answer: the transport floor) + jwt_authn',
      file: 'deploy/envoy/ext-authz.yaml, test/bench/bare-ext-authz.ts',
      tokens: providerTokens,
      config: (port) => extAuthzAt(port, floorPort),
      service: { label: 'bare grpc-js', pid: floor.pid! },
    },
    {
      name: 'Envoy + HTTP ext_authz → forward-auth (minted-token cache hit)',
      file: 'deploy/envoy/ext-authz-http.yaml',
      tokens: providerTokens,
      config: (port) =>
        renderExample('deploy/envoy/ext-authz-http.yaml', {
          ...addresses(port),
          '{ address: authjwt.auth.svc.cluster.local, port_value: 8081 }': `{ address: 127.0.0.1, port_value: ${svc.internalPort} }`,
        }),
      service: authjwt,
    },
  ];
  const envoys: Gateway[] = [];
  const runs = new Map<string, { result: RunResult; cpu: Record<string, number> }[]>();
  try {
    for (const sc of scenarios) {
      const port = await freePort();
      envoys.push(await startEnvoy(envoyBin, port, sc.config(port), { concurrency: ENVOY_WORKERS, discardStdout: true }));
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, sc] of scenarios.entries()) {
        const envoy = envoys[i]!;
        const url = `${envoy.url}/api/items`;
        const procs: Record<string, number> = { envoy: envoy.pid, service: sc.service?.pid ?? 0, upstream: upstream.pid };
        const warm = await httpLoad(url, sc.tokens, { duration: 2 });
        const before = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, cpuTreeUs(pid)]));
        const { errorKinds, ...r } = await httpLoad(url, sc.tokens, { total: Math.max(200, Math.round(warm.rps * DURATION)) });
        const cpu = Object.fromEntries(
          Object.entries(procs).map(([k, pid]) => [k, pid ? Math.round((cpuTreeUs(pid) - before[k]!) / Math.max(1, r.count)) : 0]),
        );
        if (r.errors > r.count * 0.01) log(`WARNING: ${sc.name}: ${r.errors}/${r.count} failed ${JSON.stringify(errorKinds)}`);
        const result: RunResult = {
          scenario: sc.name,
          server,
          ...r,
          cpuUsPerCall: cpu.envoy! + cpu.service!,
          peakRssMb: rssMb(envoy.pid, 'VmHWM'),
        };
        log(
          `${sc.name} ${r.rps.toFixed(0)} req/s p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms errors ${r.errors}/${r.count} CPU µs/request ${JSON.stringify(cpu)}`,
        );
        runs.set(sc.name, [...(runs.get(sc.name) ?? []), { result, cpu }]);
      }
    }
  } finally {
    for (const e of envoys) await e.stop();
    await upstream.stop();
    floor.kill('SIGTERM');
  }
  const kept: Record<string, { result: RunResult; cpu: Record<string, number> }> = {};
  for (const sc of scenarios) {
    const all = runs.get(sc.name)!;
    const m = median(all.map((x) => x.result));
    const cpu = Object.fromEntries(
      Object.keys(all[0]!.cpu).map((k) => [k, all.map((x) => x.cpu[k]!).sort((a, b) => a - b)[Math.floor(all.length / 2)]!]),
    );
    kept[sc.name] = { result: m, cpu };
    results.push({
      ...m,
      cpuUsPerCall: cpu.envoy! + cpu.service!,
      note: [
        `${sc.file}; CPU µs/request: Envoy ${cpu.envoy}${sc.service ? `, ${sc.service.label} ${cpu.service}` : ''}, upstream (nginx) ${cpu.upstream}`,
        m.note,
      ]
        .filter(Boolean)
        .join('; '),
    });
  }
  const [plain, jwt, grpc, bare, http] = scenarios.map((sc) => kept[sc.name]!);
  ratios['Envoy + gRPC ext_authz (hit) / Envoy jwt_authn, throughput (goal ≥ 0.5)'] = grpc!.result.rps / jwt!.result.rps;
  ratios['Envoy + gRPC ext_authz → bare grpc-js floor / Envoy jwt_authn, throughput'] = bare!.result.rps / jwt!.result.rps;
  ratios['Envoy + HTTP ext_authz → forward-auth (hit) / Envoy jwt_authn, throughput'] = http!.result.rps / jwt!.result.rps;
  ratios['Envoy jwt_authn / Envoy no auth, throughput'] = jwt!.result.rps / plain!.result.rps;
  // Where the time of the gRPC exchange goes, per request (CPU µs).
  ratios['gRPC ext_authz per request: Envoy CPU µs (ext_authz client, header mutation, access log, jwt_authn, proxying)'] =
    grpc!.cpu.envoy!;
  ratios['… of which Envoy jwt_authn alone + proxying (the jwt_authn row), µs'] = jwt!.cpu.envoy!;
  ratios['gRPC ext_authz per request: authjwt CPU µs'] = grpc!.cpu.service!;
  ratios['… of which the grpc-js transport (the bare Check floor), µs'] = bare!.cpu.service!;
  ratios['HTTP ext_authz per request: Envoy CPU µs'] = http!.cpu.envoy!;
  ratios['HTTP ext_authz per request: authjwt (forward-auth) CPU µs'] = http!.cpu.service!;
}

// ---------------------------------------------------------------------------------------------
ensureTools();
log('production build (npm run build)');
execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });

const signing = await newSigningKey('ES256');
// Realistic in-cluster IdP latency for the remote strategy: +5 ms on every introspection.
const introspectionDelayMs = 5;
const op = await startOidcProvider({ signingKeys: [signing], introspectionLatencyMs: introspectionDelayMs });
const alice = USERS.alice!;
log('pre-generating access tokens with the OIDC provider (oidc-provider)');
const t0 = Date.now();
/** `count` provider tokens for alice, minted one after the other. */
const mint = async (count: number, token: () => Promise<string>) => {
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) tokens.push(await token());
  return tokens;
};
// The soak reuses one provider token for its whole run: it must outlive the run (the provider's default
// access-token lifetime, 10 minutes, made every door refuse it from the soak's 11th minute on).
const hitToken = await op.jwtToken(alice, SOAK ? { expiresIn: (SOAK_MINUTES + 15) * 60 } : {});
const FEW_TOKENS = ONLY_ENVOY || ONLY_HIT || SOAK || ONLY_KC;
const distinctJwt = await mint(FEW_TOKENS ? 1 : 20_000, () => op.jwtToken(alice));
const hitData = writeData('hit', 'op-jwt', [hitToken]);
const missData = writeData('miss', 'op-jwt', distinctJwt);
// Warm-up tokens for the miss scenarios, distinct from the measured ones.
const warmJwt = await mint(FEW_TOKENS ? 1 : 2_000, () => op.jwtToken(alice));
const missWarmData = writeData('miss-warm', 'op-jwt', warmJwt);
// oidc-provider's development store keeps about a thousand artifacts (token + grant each, LRU), so the
// opaque set stays well below that and is minted LAST (later grants would evict these tokens); they are never cached by authjwt (cacheTtl 0), so every call
// is still a provider round trip.
const distinctOpaque = await mint(FEW_TOKENS ? 1 : 400, () => op.opaqueToken(alice));
log(
  `generated ${distinctJwt.length + warmJwt.length} JWT and ${distinctOpaque.length} opaque tokens in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
);
const introspectionData = writeData('introspection', 'op-introspection', distinctOpaque);
// The same token through a provider with a policy (docs/policy.md): two allow rules, three computed claims.
const hitPolicyData = writeData('hit-policy', 'op-policy', [hitToken]);
const providers = `  - { id: op-jwt, type: oidc, issuer: "${op.issuer}", audiences: [frontend], strategy: jwt }
  - { id: op-introspection, type: oidc, issuer: "${op.issuer}", audiences: [frontend], strategy: introspection, clientId: ${INTROSPECTION_CLIENT.id}, clientSecret: ${INTROSPECTION_CLIENT.secret}, timeout: 2s }
  - id: op-policy
    type: oidc
    issuer: "${op.issuer}"
    audiences: [frontend]
    strategy: jwt
    allow:
      - "claims.client_id == 'frontend'"
      - name: not-blocked
        expression: "!(account.id in ['blocked-1', 'blocked-2'])"
    claims:
      scopes: "claims.scope.split(' ')"
      origin: claims.iss
      tenant: "account.provider + ':' + claims.client_id"
`;

const keyDirs: Record<string, { dir: string; file: string }> = {};
for (const [alg, gen] of [
  ['ES256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' })],
  ['EdDSA', () => generateKeyPairSync('ed25519')],
  ['RS256', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
] as const) {
  const dir = join(work, `keys-${alg}`);
  mkdirSync(dir);
  const file = join(dir, 'signing.pem');
  writeFileSync(file, gen().privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  keyDirs[alg] = { dir, file };
}

const ratios: Record<string, number> = {};
/** The policy row (issue 11: goal within 5 % of the cache-hit row). */
const POLICY_SCENARIO = 'cache hit + two-rule policy + three computed claims';
/** The run with the median throughput of several; rounds alternate servers so machine noise hits both alike. */
const median = (runs: RunResult[]): RunResult => {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps);
  const m = sorted[Math.floor(sorted.length / 2)]!;
  const cpus = runs.map((r) => r.cpuUsPerCall ?? NaN).sort((a, b) => a - b);
  return {
    ...m,
    cpuUsPerCall: cpus[Math.floor(cpus.length / 2)],
    note: [m.note, `median of ${runs.length}: ${runs.map((r) => Math.round(r.rps)).join(', ')} req/s`].filter(Boolean).join('; '),
  };
};
/** One round of the sign-only floor, on a fresh bare server (not recorded: the median of the rounds is). */
async function floorRound(alg: string): Promise<RunResult> {
  const bare = await startServer('bare', keyDirs[alg]!);
  const result = await measure(`sign only (${alg})`, 'bare grpc-js (floor)', bare, hitData, { record: false });
  await bare.stop();
  return result;
}

for (const alg of EDGE_ONLY || SOAK || ONLY_KC ? [] : ALGS) {
  const k = keyDirs[alg]!;
  const bareRuns: RunResult[] = [];
  const hitRuns: RunResult[] = [];
  const policyRuns: RunResult[] = [];
  const baselineRuns: RunResult[] = [];
  let svc!: Awaited<ReturnType<typeof startServer>>;
  for (let round = 0; round < ROUNDS; round++) {
    bareRuns.push(await floorRound(alg));
    if (BASELINE_DIST) {
      const before = await startServer('authjwt', k, { dist: BASELINE_DIST });
      baselineRuns.push(await measure(`cache hit (${alg})`, 'authjwt, baseline build', before, hitData, { record: false }));
      await before.stop();
    }
    svc = await startServer('authjwt', k);
    hitRuns.push(await measure(`cache hit (${alg})`, 'authjwt', svc, hitData, { record: false }));
    // Same server, same round: the policy row sees the same machine noise as the row it is compared with.
    if (alg === 'ES256') policyRuns.push(await measure(`${POLICY_SCENARIO} (${alg})`, 'authjwt', svc, hitPolicyData, { record: false }));
    if (round < ROUNDS - 1) await svc.stop();
  }
  const bareResult = median(bareRuns);
  const hit = median(hitRuns);
  results.push(bareResult, hit);
  if (baselineRuns.length) {
    const before = median(baselineRuns);
    results.push(before);
    ratios[`cache hit − floor (${alg}), baseline build, server CPU µs per call`] = before.cpuUsPerCall! - bareResult.cpuUsPerCall!;
  }
  if (policyRuns.length) {
    const withPolicy = median(policyRuns);
    results.push(withPolicy);
    ratios[`${POLICY_SCENARIO} / cache hit (${alg}), throughput`] = withPolicy.rps / hit.rps;
    ratios[`${POLICY_SCENARIO} / cache hit (${alg}), server CPU per call`] = withPolicy.cpuUsPerCall! / hit.cpuUsPerCall!;
  }
  ratios[`cache hit / floor (${alg}), throughput`] = hit.rps / bareResult.rps;
  ratios[`floor / cache hit (${alg}), server CPU per call`] = bareResult.cpuUsPerCall! / hit.cpuUsPerCall!;
  ratios[`cache hit − floor (${alg}), server CPU µs per call (goal ≤ 60)`] = hit.cpuUsPerCall! - bareResult.cpuUsPerCall!;
  if (alg === 'ES256') {
    const half = await measure(`cache hit at half peak rate (${alg})`, 'authjwt', svc, hitData, {
      rps: Math.round(hit.rps / 2),
      note: `fixed rate ${Math.round(hit.rps / 2)} req/s`,
    });
    ratios['p99 at half peak (ms)'] = half.p99;
    // Context for that target: the floor's own p99 at half of its peak, same generator, same machine.
    const bareAgain = await startServer('bare', k);
    const bareHalf = await measure(`sign only at half peak rate (${alg})`, 'bare grpc-js (floor)', bareAgain, hitData, {
      rps: Math.round(bareResult.rps / 2),
      note: `fixed rate ${Math.round(bareResult.rps / 2)} req/s`,
    });
    await bareAgain.stop();
    ratios['floor p99 at half its peak (ms)'] = bareHalf.p99;
    ratios['p99 at half peak / floor p99 at half its peak (goal ≤ 1.5)'] = half.p99 / bareHalf.p99;
  }
  if (alg === 'ES256' && !ONLY_HIT) {
    const miss = await measure('cache miss, local JWT verification (ES256 key)', 'authjwt', svc, missData, {
      note: `${distinctJwt.length} distinct provider tokens, round-robin`,
      warmData: missWarmData,
    });
    ratios['cache miss / cache hit'] = miss.rps / hit.rps;
    await measure('introspection (opaque tokens, no cache)', 'authjwt', svc, introspectionData, {
      note: `provider introspection latency +${introspectionDelayMs} ms`,
    });
  }
  await svc.stop();
}

// Edge doors (issue 12): ext_authz Check and forward-auth at a minted-token cache hit and miss,
// beside GetJWT on the same server and the sign-only floor.
if (!args['no-edge'] && !SOAK && !ONLY_KC) {
  const k = keyDirs.ES256!;
  let floor = results.find((r) => r.scenario === 'sign only (ES256)');
  if (!floor && !ONLY_ENVOY) {
    const runs: RunResult[] = [];
    for (let round = 0; round < ROUNDS; round++) runs.push(await floorRound('ES256'));
    floor = median(runs);
    results.push(floor);
  }
  // What Envoy sends for a GET with a bearer token (allowed_headers: authorization only).
  const check = (token: string) => ({
    attributes: {
      request: {
        http: { method: 'GET', host: 'api.test', path: '/api/items', scheme: 'https', headers: { authorization: `Bearer ${token}` } },
      },
    },
  });
  const checks = (name: string, tokens: readonly string[]) => workFile(`check-${name}.json`, JSON.stringify(tokens.map(check)));
  const checkHit = checks('hit', [hitToken]);
  const checkMiss = checks('miss', distinctJwt);
  const checkWarm = checks('warm', warmJwt);
  // http-load.ts reads one token per line.
  const tokenLines = (name: string, tokens: readonly string[]) => workFile(`tokens-${name}.txt`, `${tokens.join('\n')}\n`);
  const tokensHit = tokenLines('hit', [hitToken]);
  const tokensMiss = tokenLines('miss', distinctJwt);
  const tokensWarm = tokenLines('warm', warmJwt);
  const forwardAuth: Target = { kind: 'http', url: (server) => `http://127.0.0.1:${server.internalPort}/forward-auth` };
  const tokenBodiesHit = tokenBodies('hit', [hitToken]);
  const missNote = `${distinctJwt.length} distinct provider tokens, round-robin through 10,000-entry caches`;

  const svc = await startServer('authjwt', k, { edge: true });
  if (!ONLY_ENVOY) {
    const getjwt = await measure('GetJWT, verification-cache hit (edge config; signs every call)', 'authjwt', svc, hitData);
    const extHit = await measure('ext_authz Check, minted-token cache hit', 'authjwt', svc, checkHit, { target: EXT_AUTHZ_CHECK });
    const extMiss = ONLY_HIT
      ? undefined
      : await measure('ext_authz Check, miss (verify + sign)', 'authjwt', svc, checkMiss, {
          target: EXT_AUTHZ_CHECK,
          note: missNote,
          warmData: checkWarm,
        });
    const faHit = await measure('forward-auth, minted-token cache hit', 'authjwt', svc, tokensHit, {
      target: forwardAuth,
      note: 'HTTP/1.1 keep-alive, test/bench/http-load.ts',
    });
    const tokenHit = await measure('token endpoint (RFC 8693), verification-cache hit (signs every call)', 'authjwt', svc, tokenBodiesHit, {
      target: TOKEN_ENDPOINT,
      note: 'HTTP/1.1 keep-alive, test/bench/token-load.ts; client authentication none',
    });
    ratios['token endpoint hit / floor (ES256), server CPU per call'] = tokenHit.cpuUsPerCall! / floor!.cpuUsPerCall!;
    const faMiss = ONLY_HIT
      ? undefined
      : await measure('forward-auth, miss (verify + sign)', 'authjwt', svc, tokensMiss, {
          target: forwardAuth,
          note: missNote,
          warmData: tokensWarm,
        });
    ratios['ext_authz hit / floor (ES256), throughput (goal ≥ 1.3)'] = extHit.rps / floor!.rps;
    ratios['ext_authz hit / floor (ES256), server CPU per call (goal < 1)'] = extHit.cpuUsPerCall! / floor!.cpuUsPerCall!;
    ratios['ext_authz hit / GetJWT hit, server CPU per call'] = extHit.cpuUsPerCall! / getjwt.cpuUsPerCall!;
    if (extMiss) ratios['ext_authz miss / hit, server CPU per call'] = extMiss.cpuUsPerCall! / extHit.cpuUsPerCall!;
    ratios['forward-auth hit / floor (ES256), server CPU per call'] = faHit.cpuUsPerCall! / floor!.cpuUsPerCall!;
    if (faMiss) ratios['forward-auth miss / hit, server CPU per call'] = faMiss.cpuUsPerCall! / faHit.cpuUsPerCall!;
  }
  if (!ONLY_HIT) await envoyRows(svc, tokensHit);
  await svc.stop();
}

/**
 * The soak (`--soak`): one authjwt with every door on (ES256), each door's peak measured alone first
 * (5 s), then all four driven at once, each at peak / 8 so the mix is half of what the server does
 * alone, in one-minute windows for SOAK_MINUTES. After each window: RSS (/proc), heap used and the
 * event-loop lag p99 (the server's own /metrics: prom-client resets its lag histogram at each scrape),
 * and each door's p99 in that window. The drift is last window / first window.
 */
async function soak(): Promise<void> {
  const svc = await startServer('authjwt', keyDirs.ES256!, { edge: true });
  const checkHit = workFile(
    'soak-check.json',
    JSON.stringify([
      {
        attributes: {
          request: { http: { method: 'GET', host: 'api.test', path: '/api/items', headers: { authorization: `Bearer ${hitToken}` } } },
        },
      },
    ]),
  );
  const doors: { name: string; target: Target; data: string }[] = [
    { name: 'GetJWT', target: GETJWT, data: hitData },
    { name: 'ext_authz', target: EXT_AUTHZ_CHECK, data: checkHit },
    {
      name: 'forward-auth',
      target: { kind: 'http', url: (x) => `http://127.0.0.1:${x.internalPort}/forward-auth` },
      data: workFile('soak-tokens.txt', `${hitToken}\n`),
    },
    { name: 'token endpoint', target: TOKEN_ENDPOINT, data: tokenBodies('soak', [hitToken]) },
  ];
  const rates: Record<string, number> = {};
  for (const d of doors) {
    const peak = await loadTarget(d.target, svc, d.data, { duration: 5 });
    rates[d.name] = Math.max(1, Math.round(peak.rps / (2 * doors.length)));
    log(`soak: ${d.name} peak alone ${peak.rps.toFixed(0)} req/s → ${rates[d.name]} req/s in the mix`);
  }
  const metric = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
  const scrape = async () => (await fetch(`http://127.0.0.1:${svc.httpPort}/metrics`)).text();
  await scrape(); // resets the event-loop lag histogram: the first window starts clean
  type Window = {
    minute: number;
    rssMb: number;
    heapMb: number;
    lagP99Ms: number;
    cpuUsPerCall: number;
    p99: Record<string, number>;
    errors: number;
    /** ghz counts the calls its time limit cancels at the end of a window as `Canceled`. */
    errorKinds: Record<string, number>;
  };
  const windows: Window[] = [];
  for (let minute = 1; minute <= SOAK_MINUTES; minute++) {
    const cpuBefore = cpuUs(svc.proc.pid!);
    const runs = await Promise.all(doors.map((d) => loadTarget(d.target, svc, d.data, { duration: 60, rps: rates[d.name] })));
    const text = await scrape();
    const calls = runs.reduce((n, r) => n + r.count, 0);
    const w: Window = {
      minute,
      rssMb: rssMb(svc.proc.pid!, 'VmRSS') ?? NaN,
      heapMb: Math.round((metric(text, 'nodejs_heap_size_used_bytes') / 2 ** 20) * 10) / 10,
      lagP99Ms: Math.round(metric(text, 'nodejs_eventloop_lag_p99_seconds') * 1e4) / 10,
      cpuUsPerCall: Math.round((cpuUs(svc.proc.pid!) - cpuBefore) / Math.max(1, calls)),
      p99: Object.fromEntries(doors.map((d, i) => [d.name, Math.round(runs[i]!.p99 * 100) / 100])),
      errors: runs.reduce((n, r) => n + r.errors, 0),
      errorKinds: runs.reduce<Record<string, number>>((all, r) => {
        for (const [kind, n] of Object.entries(r.errorKinds)) all[kind] = (all[kind] ?? 0) + n;
        return all;
      }, {}),
    };
    windows.push(w);
    log(
      `soak minute ${minute}: RSS ${w.rssMb} MB, heap ${w.heapMb} MB, event-loop lag p99 ${w.lagP99Ms} ms, CPU ${w.cpuUsPerCall} µs/call, p99 ${JSON.stringify(w.p99)} ms, errors ${w.errors}/${calls} ${JSON.stringify(w.errorKinds)}`,
    );
  }
  await svc.stop();
  // First and last windows: the median of up to three at each end, so one noisy minute on a shared machine does not decide it.
  const k = Math.max(1, Math.min(3, Math.floor(windows.length / 2)));
  const med = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const ends = (pick: (w: Window) => number) => [med(windows.slice(0, k).map(pick)), med(windows.slice(-k).map(pick))] as const;
  const drift = ([a, b]: readonly [number, number]) => (b - a) / a;
  const table = [
    `| minute | RSS MB | heap used MB | event-loop lag p99 ms | CPU µs/call | ${doors.map((d) => `${d.name} p99 ms`).join(' | ')} | errors |`,
    `| ---: | ---: | ---: | ---: | ---: | ${doors.map(() => '---:').join(' | ')} | ---: |`,
    ...windows.map(
      (w) =>
        `| ${w.minute} | ${w.rssMb} | ${w.heapMb} | ${w.lagP99Ms} | ${w.cpuUsPerCall} | ${doors.map((d) => w.p99[d.name]).join(' | ')} | ${w.errors} |`,
    ),
  ].join('\n');
  const drifts: Record<string, number> = {
    [`RSS drift, last ${k} / first ${k} minutes (medians) − 1 (goal ≤ 5 %)`]: drift(ends((w) => w.rssMb)),
    'heap used drift': drift(ends((w) => w.heapMb)),
    'event-loop lag p99 drift': drift(ends((w) => w.lagP99Ms)),
    'CPU per call drift': drift(ends((w) => w.cpuUsPerCall)),
    ...Object.fromEntries(doors.map((d) => [`${d.name} p99 drift (goal ≤ 5 %)`, drift(ends((w) => w.p99[d.name]!))])),
  };
  const driftLines = Object.entries(drifts)
    .map(([k, v]) => `| ${k} | ${(v * 100).toFixed(1)} % |`)
    .join('\n');
  mkdirSync(join(root, 'bench-results'), { recursive: true });
  writeFileSync(join(root, 'bench-results/results-soak.json'), JSON.stringify({ minutes: SOAK_MINUTES, rates, windows, drifts }, null, 2));
  console.log(
    `\nsoak: ${SOAK_MINUTES} min, rates ${JSON.stringify(rates)} req/s\n\n${table}\n\n| drift | value |\n| --- | ---: |\n${driftLines}\n`,
  );
}
if (SOAK) {
  await soak();
  await op.close();
  rmSync(work, { recursive: true, force: true });
  process.exit(0);
}

/**
 * Keycloak beside authjwt, per vCPU (issue 24). Keycloak 26 in a container limited to one CPU
 * (`--cpus 1`), authjwt pinned to one core (`taskset -c 1`), the HTTP load generator pinned to the
 * other (`taskset -c 0`), 16 concurrent requests, keep-alive, rows measured one after the other:
 * - Keycloak's STANDARD token exchange (V2): the confidential client `bench-requester`
 *   (`standard.token.exchange.enabled`) exchanges alice's access token (issued to `bench-initial`, whose
 *   audience mapper names bench-requester) for `audience=bench-target` (an audience mapper of the
 *   requester) — the job authjwt's token endpoint does; and `client_credentials` beside it.
 *   The clients are added through the admin API, the shared realm fixture is untouched.
 * - Warm-up: token exchange in KC_WINDOW-second windows until, after at least KC_WARMUP_MIN minutes,
 *   three consecutive windows are within 3 % of each other (max/min ≤ 1.03), at most KC_WARMUP_MAX
 *   minutes (the note says which ended it). A fresh subject token for every window.
 * - CPU per call: utime+stime of the container's processes (/proc, the same measure as authjwt's).
 * - authjwt: the token endpoint and GetJWT at a verification-cache hit (ES256, the default), and the
 *   like-for-like rows: RS256 (what Keycloak signs with), verification cache off, a distinct subject
 *   token per request (signed with the test provider's key beforehand), never reused.
 */
const KC_WINDOW = Number(process.env.AUTHJWT_BENCH_KC_WINDOW ?? 30);
const KC_WARMUP_MAX = Number(process.env.AUTHJWT_BENCH_KC_WARMUP_MAX ?? 20);
/** Minutes before the plateau criterion may end the warm-up: Keycloak plateaus briefly on its way up (seen at ~1.5 min). */
const KC_WARMUP_MIN = Math.min(KC_WARMUP_MAX, Number(process.env.AUTHJWT_BENCH_KC_WARMUP_MIN ?? 10));
const KC_CONCURRENCY = 16;
async function keycloakComparison(): Promise<void> {
  const { startKeycloak, KC_INTROSPECTION, KEYCLOAK_VERSION } = await import('../helpers/keycloak.ts');
  log('starting Keycloak (testcontainers, --cpus 1)');
  const kc = await startKeycloak({ cpus: 1 });
  try {
    const kcPid = Number(execFileSync('podman', ['inspect', '--format', '{{.State.Pid}}', kc.containerId]).toString().trim());
    const containerMemMb = () => {
      try {
        const out = execFileSync('podman', ['stats', '--no-stream', '--format', '{{.MemUsage}}', kc.containerId]).toString();
        const m = /([\d.]+)\s*([kMG]i?B)/.exec(out);
        if (!m) return undefined;
        const unit = m[2]!.startsWith('G') ? 1024 : m[2]!.startsWith('k') ? 1 / 1024 : 1;
        return Math.round(Number(m[1]) * unit);
      } catch {
        return undefined;
      }
    };
    const admin = async (method: string, path: string, body?: unknown) => {
      const res = await kc.admin(method, path, body);
      if (!res.ok) throw new Error(`Keycloak admin ${method} ${path}: ${res.status} ${await res.text()}`);
      return res;
    };
    const audienceMapper = (audience: string) => ({
      name: `audience-${audience}`,
      protocol: 'openid-connect',
      protocolMapper: 'oidc-audience-mapper',
      config: { 'included.client.audience': audience, 'access.token.claim': 'true', 'id.token.claim': 'false' },
    });
    const REQUESTER = { clientId: 'bench-requester', secret: 'bench-requester-secret' };
    await admin('POST', '/clients', {
      clientId: 'bench-target',
      publicClient: false,
      secret: 'bench-target-secret',
      standardFlowEnabled: false,
    });
    await admin('POST', '/clients', {
      clientId: REQUESTER.clientId,
      publicClient: false,
      secret: REQUESTER.secret,
      standardFlowEnabled: false,
      attributes: { 'standard.token.exchange.enabled': 'true' },
      protocolMappers: [audienceMapper('bench-target')],
    });
    await admin('POST', '/clients', {
      clientId: 'bench-initial',
      publicClient: true,
      directAccessGrantsEnabled: true,
      standardFlowEnabled: false,
      protocolMappers: [audienceMapper(REQUESTER.clientId)],
    });
    const url = `${kc.issuer}/protocol/openid-connect/token`;
    /**
     * A fresh subject token for alice before every window: Keycloak's access tokens live minutes (the
     * realm's lifespan), and an expired one is refused at once with 400 — which would be measured as a
     * very fast exchange. Every window also fails loudly on errors (mustSucceed).
     */
    const freshExchangeBodies = async () => {
      const subject = (await kc.userToken('alice', 'alice', 'bench-initial')).access_token;
      const body = new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        client_id: REQUESTER.clientId,
        client_secret: REQUESTER.secret,
        subject_token: subject,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        audience: 'bench-target',
      }).toString();
      const check = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      if (!check.ok) throw new Error(`Keycloak token exchange refused: ${check.status} ${await check.text()}`);
      const exchanged = (await check.json()) as { access_token: string };
      const aud = JSON.parse(Buffer.from(exchanged.access_token.split('.')[1]!, 'base64url').toString()).aud as unknown;
      if (aud !== 'bench-target' && !(Array.isArray(aud) && aud.includes('bench-target')))
        throw new Error(`Keycloak token exchange: aud ${JSON.stringify(aud)}, not bench-target`);
      return workFile('kc-exchange.txt', `${body}\n`);
    };
    await freshExchangeBodies();
    log('Keycloak standard token exchange works: aud bench-target');
    /** A window with failed requests measures the failure path: refused, never recorded. */
    const mustSucceed = (what: string, r: LoadResult) => {
      if (r.errors > 0) throw new Error(`${what}: ${r.errors}/${r.count} requests failed ${JSON.stringify(r.errorKinds)}`);
      return r;
    };
    const ccBodies = workFile(
      'kc-client-credentials.txt',
      `${new URLSearchParams({ grant_type: 'client_credentials', client_id: KC_INTROSPECTION.clientId, client_secret: KC_INTROSPECTION.secret })}\n`,
    );
    const kcRun = (bodies: string, duration: number) => tokenLoad(url, bodies, { duration, concurrency: KC_CONCURRENCY, pin: '0' });

    // Warm-up until the throughput stops rising.
    const windows: number[] = [];
    const warmStarted = Date.now();
    let warmEnd = 'cap';
    while (Date.now() - warmStarted < KC_WARMUP_MAX * 60_000) {
      windows.push(mustSucceed(`Keycloak warm-up window ${windows.length + 1}`, await kcRun(await freshExchangeBodies(), KC_WINDOW)).rps);
      log(`Keycloak warm-up window ${windows.length}: ${windows.at(-1)!.toFixed(0)} exchanges/s`);
      const last = windows.slice(-3);
      if (Date.now() - warmStarted >= KC_WARMUP_MIN * 60_000 && last.length === 3 && Math.max(...last) / Math.min(...last) <= 1.03) {
        warmEnd = 'stable';
        break;
      }
    }
    const warmNote = `warm-up ${windows.length} × ${KC_WINDOW} s (${warmEnd === 'stable' ? 'three windows within 3 %' : `cap of ${KC_WARMUP_MAX} min reached`}): ${windows.map((w) => w.toFixed(0)).join(', ')}/s`;
    const kcMeasure = async (scenario: string, bodies: () => Promise<string>, note: string) => {
      const file = await bodies();
      const before = cpuTreeUs(kcPid);
      const { errorKinds, ...r } = mustSucceed(scenario, await kcRun(file, DURATION));
      const cpu = Math.round((cpuTreeUs(kcPid) - before) / Math.max(1, r.count));
      const result: RunResult = {
        scenario,
        server: `Keycloak ${KEYCLOAK_VERSION} (container, --cpus 1)`,
        ...r,
        cpuUsPerCall: cpu,
        peakRssMb: containerMemMb(),
        note: `${note}${r.errors ? `; errors ${JSON.stringify(errorKinds)}` : ''}; memory = container usage after the run`,
      };
      results.push(result);
      log(`${scenario} [Keycloak] ${r.rps.toFixed(0)} req/s p99 ${r.p99.toFixed(1)} ms CPU ${cpu} µs/call errors ${r.errors}/${r.count}`);
      return result;
    };
    const kcExchange = await kcMeasure('token exchange (standard, V2), warm', freshExchangeBodies, warmNote);
    mustSucceed('Keycloak client_credentials warm-up', await kcRun(ccBodies, Math.min(KC_WINDOW, 10)));
    const kcCc = await kcMeasure('client_credentials, warm', async () => ccBodies, 'after the token-exchange warm-up and one more window');

    // authjwt, one core, the same generator and concurrency.
    const pinnedMeasure = async (
      scenario: string,
      svc: Awaited<ReturnType<typeof startServer>>,
      run: (o: { duration?: number; total?: number; skip?: number }) => Promise<LoadResult>,
      note: string,
      distinctWarm = 0,
    ) => {
      const warm = await run({ duration: 2, ...(distinctWarm ? { total: distinctWarm } : {}) });
      const before = cpuUs(svc.proc.pid!);
      const total = Math.max(200, Math.round(warm.rps * DURATION));
      const { errorKinds, ...r } = mustSucceed(scenario, await run({ total, skip: distinctWarm }));
      const result: RunResult = {
        scenario,
        server: 'authjwt (taskset -c 1)',
        ...r,
        cpuUsPerCall: Math.round((cpuUs(svc.proc.pid!) - before) / Math.max(1, r.count)),
        peakRssMb: rssMb(svc.proc.pid!, 'VmHWM'),
        note: `${note}${r.errors ? `; errors ${JSON.stringify(errorKinds)}` : ''}`,
      };
      results.push(result);
      log(
        `${scenario} [authjwt] ${r.rps.toFixed(0)} req/s p99 ${r.p99.toFixed(1)} ms CPU ${result.cpuUsPerCall} µs/call errors ${r.errors}/${r.count}`,
      );
      return result;
    };
    const ghzPinned = (port: number, data: string) => (o: { duration?: number; total?: number }) =>
      ghz(port, data, { ...o, concurrency: KC_CONCURRENCY });
    const es = await startServer('authjwt', keyDirs.ES256!, { edge: true, pin: '1' });
    const tokenUrl = `http://127.0.0.1:${es.internalPort}/token`;
    // A fresh provider token: the one minted at the start may have expired during Keycloak's warm-up.
    const freshHit = await op.jwtToken(alice);
    const hitBodies = tokenBodies('kc-hit', [freshHit]);
    const freshHitData = writeData('kc-hit', 'op-jwt', [freshHit]);
    const teHit = await pinnedMeasure(
      'token endpoint (RFC 8693), verification-cache hit (ES256)',
      es,
      (o) => tokenLoad(tokenUrl, hitBodies, { ...o, concurrency: KC_CONCURRENCY, pin: '0' }),
      'the same subject token every call; signs every call',
    );
    const gjHit = await pinnedMeasure(
      'GetJWT, verification-cache hit (ES256)',
      es,
      ghzPinned(es.port, freshHitData),
      'ghz, 16 concurrent over 4 connections',
    );
    await es.stop();

    // Like-for-like: RS256, no verification cache, a distinct subject token per request.
    const key = await importJWK(signing, signing.alg);
    const now = Math.floor(Date.now() / 1000);
    const distinct = async (n: number, prefix: string) => {
      const out: string[] = [];
      for (let i = 0; i < n; i++)
        out.push(
          await new SignJWT({ sub: `${prefix}-${i}`, azp: 'frontend', client_id: 'frontend', scope: 'api' })
            .setProtectedHeader({ alg: signing.alg!, kid: signing.kid!, typ: 'at+jwt' })
            .setIssuer(op.issuer)
            .setAudience(API_RESOURCE)
            .setIssuedAt(now)
            .setExpirationTime(now + 3600)
            .sign(key),
        );
      return out;
    };
    const LFL = Number(process.env.AUTHJWT_BENCH_LFL_TOKENS ?? 15_000);
    log(`like-for-like: signing ${2 * LFL} distinct subject tokens`);
    const teTokens = await distinct(LFL, 'lfl-te');
    const gjTokens = await distinct(LFL, 'lfl-gj');
    const rs = await startServer('authjwt', keyDirs.RS256!, { edge: true, pin: '1', cacheEntries: 0 });
    const lflBodies = tokenBodies('kc-lfl', teTokens);
    const lflNote = 'RS256, verification cache off, a distinct subject token per request (never reused)';
    const teLfl = await pinnedMeasure(
      'token endpoint (RFC 8693), like-for-like',
      rs,
      (o) =>
        tokenLoad(`http://127.0.0.1:${rs.internalPort}/token`, lflBodies, {
          ...o,
          ...(o.total ? { total: Math.min(o.total, LFL - 2_000) } : {}),
          concurrency: KC_CONCURRENCY,
          distinct: true,
          pin: '0',
        }),
      lflNote,
      2_000,
    );
    const gjData = workFile(
      'kc-lfl-getjwt.json',
      JSON.stringify(
        gjTokens.map((accessToken, i) => ({
          account: { provider: 'op-jwt', type: 'oidc', providerAccountId: `lfl-gj-${i}`, accessToken },
        })),
      ),
    );
    // ghz walks the data round-robin from the first entry: the warm-up takes its own count, the measured run starts over
    // at entry 0 — so the warm-up uses a separate file of other tokens.
    const gjWarm = workFile(
      'kc-lfl-getjwt-warm.json',
      JSON.stringify(
        teTokens.slice(-2_000).map((accessToken, i) => ({
          account: { provider: 'op-jwt', type: 'oidc', providerAccountId: `lfl-te-${LFL - 2_000 + i}`, accessToken },
        })),
      ),
    );
    const gjLfl = await pinnedMeasure(
      'GetJWT, like-for-like',
      rs,
      (o) =>
        o.skip === undefined
          ? ghz(rs.port, gjWarm, { total: o.total ?? 2_000, concurrency: KC_CONCURRENCY })
          : ghz(rs.port, gjData, { total: Math.min(o.total ?? LFL, LFL), concurrency: KC_CONCURRENCY }),
      `${lflNote}; at most ${LFL} calls`,
      2_000,
    );
    await rs.stop();
    const per = (a: RunResult, b: RunResult) => a.rps / b.rps;
    ratios['token endpoint (ES256, hit) / Keycloak token exchange, throughput per vCPU (goal ≥ 10)'] = per(teHit, kcExchange);
    ratios['GetJWT (ES256, hit) / Keycloak token exchange, throughput per vCPU (goal ≥ 7)'] = per(gjHit, kcExchange);
    ratios['token endpoint like-for-like / Keycloak token exchange, throughput'] = per(teLfl, kcExchange);
    ratios['GetJWT like-for-like / Keycloak token exchange, throughput'] = per(gjLfl, kcExchange);
    ratios['Keycloak token exchange / token endpoint (ES256, hit), CPU per call'] = kcExchange.cpuUsPerCall! / teHit.cpuUsPerCall!;
    ratios['Keycloak token exchange / token endpoint like-for-like, CPU per call'] = kcExchange.cpuUsPerCall! / teLfl.cpuUsPerCall!;
    ratios['Keycloak client_credentials / token exchange, throughput'] = per(kcCc, kcExchange);
  } finally {
    await kc.close();
  }
}

if (!args['no-keycloak'] && !EDGE_ONLY && !ONLY_HIT && !SOAK) {
  try {
    await keycloakComparison();
  } catch (error) {
    log(`Keycloak rows not run: ${(error as Error).message}`);
    results.push({
      scenario: 'token exchange (standard, V2)',
      server: 'Keycloak',
      rps: NaN,
      p50: NaN,
      p95: NaN,
      p99: NaN,
      errors: 0,
      count: 0,
      peakRssMb: undefined,
      note: `not run: ${(error as Error).message}`,
    });
  }
}

// Memory: a million distinct tokens through the verification cache (bounded at 10,000 entries).
if (!EDGE_ONLY && !ONLY_HIT && !SOAK && !ONLY_KC) {
  const k = keyDirs.ES256!;
  const svc = await startServer('authjwt', k);
  const jwkFile = workFile('provider-key.json', JSON.stringify(signing));
  const rssAt = (n: number) => ({ tokens: n, rssMb: rssMb(svc.proc.pid!, 'VmRSS') });
  const samples = [rssAt(0)];
  log(`memory: ${FLOOD} distinct tokens (flood.ts, own process)`);
  const started = Date.now();
  const flood = spawn(
    process.execPath,
    [
      'test/bench/flood.ts',
      '--target',
      `127.0.0.1:${svc.port}`,
      '--count',
      String(FLOOD),
      '--concurrency',
      '64',
      '--jwk',
      jwkFile,
      '--issuer',
      op.issuer,
      '--provider',
      'op-jwt',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let floodOut = '';
  flood.stdout!.on('data', (c: Buffer) => {
    floodOut += c;
    for (const m of String(c).matchAll(/flood (\d+)/g)) samples.push(rssAt(Number(m[1])));
  });
  await new Promise((r) => flood.once('exit', r));
  samples.push(rssAt(FLOOD));
  const peak = rssMb(svc.proc.pid!, 'VmHWM');
  const seconds = (Date.now() - started) / 1000;
  results.push({
    scenario: `memory: ${FLOOD.toLocaleString('en')} distinct tokens`,
    server: 'authjwt (cache max 10,000 entries)',
    rps: FLOOD / seconds,
    p50: NaN,
    p95: NaN,
    p99: NaN,
    errors: Number(/"16":(\d+)/.exec(floodOut)?.[1] ?? 0),
    count: FLOOD,
    peakRssMb: peak,
    note: `RSS after: ${samples.at(-1)!.rssMb} MB; samples ${samples.map((s) => `${s.tokens / 1000}k:${s.rssMb}`).join(' ')}; result ${/flood done (.*)/.exec(floodOut)?.[1]}`,
  });
  ratios['peak RSS after flood (MB)'] = peak ?? NaN;
  log(`memory: peak RSS ${peak} MB, final ${samples.at(-1)!.rssMb} MB over ${seconds.toFixed(0)}s`);
  await svc.stop();
}
await op.close();

// ---------------------------------------------------------------------------------------------
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '–');
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)}`;
const table = [
  '| scenario | server | req/s | p50 ms | p95 ms | p99 ms | errors | server CPU µs/call | peak RSS MB | notes |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ...results.map(
    (r) =>
      `| ${r.scenario} | ${r.server} | ${fmt(r.rps)} | ${fmt(r.p50, 2)} | ${fmt(r.p95, 2)} | ${fmt(r.p99, 2)} | ${r.errors}/${r.count} | ${r.cpuUsPerCall ?? '–'} | ${r.peakRssMb ?? '–'} | ${r.note ?? ''} |`,
  ),
].join('\n');
const ratioLines = Object.entries(ratios)
  .map(([k, v]) => `| ${k} | ${fmt(v, 2)} |`)
  .join('\n');
mkdirSync(join(root, 'bench-results'), { recursive: true });
writeFileSync(
  join(
    root,
    ONLY_ENVOY
      ? 'bench-results/results-envoy.json'
      : EDGE_ONLY
        ? 'bench-results/results-edge.json'
        : ONLY_HIT
          ? 'bench-results/results-hit.json'
          : ONLY_KC
            ? 'bench-results/results-keycloak.json'
            : 'bench-results/results.json',
  ),
  JSON.stringify({ machine, duration: DURATION, concurrency: CONCURRENCY, results, ratios }, null, 2),
);
if (EDGE_ONLY || ONLY_HIT || ONLY_KC) {
  console.log(`\n${table}\n\n| ratio | value |\n| --- | ---: |\n${ratioLines}\n`);
  rmSync(work, { recursive: true, force: true });
  process.exit(0);
}
const doc = readFileSync(join(root, 'docs/benchmarks.md'), 'utf8');
const generated = `<!-- bench:start -->
Measured ${machine}; each run ≈ ${DURATION} s (a fixed number of calls: the warm-up's rate × ${DURATION} s) after a 2 s warm-up,
ghz with ${CONCURRENCY} concurrent calls over 4 connections limited to 1 CPU (the server gets the other core), everything on loopback.
Servers run with the image's V8 flags (\`${PRODUCTION_NODE_FLAGS.join(' ')}\`).

${table}

| ratio | value |
| --- | ---: |
${ratioLines}
<!-- bench:end -->`;
writeFileSync(join(root, 'docs/benchmarks.md'), doc.replace(/<!-- bench:start -->[\s\S]*<!-- bench:end -->/, generated));
console.log(`\n${table}\n\n| ratio | value |\n| --- | ---: |\n${ratioLines}\n`);
rmSync(work, { recursive: true, force: true });
process.exit(0);
