/**
 * Transaction Tokens benchmark (issue 22): Txn-Token issuance at the edge (ext_authz in mint mode: the
 * provider token's verification is a cache hit, the Txn-Token is signed on every call — there is no
 * minted-token cache for it) beside the access-token path on the same server (ext_authz with the
 * minted-token cache, GetJWT signing every call) and the sign-only floor (a bare grpc-js Check that
 * signs the same Txn-Token claims with the same ES256 key: test/bench/bare-txn-ext-authz.ts).
 * Production build, production V8 flags, loopback, ghz, bounded in time. Server CPU per call gives
 * "Txn-Tokens per second per core" (1 s / CPU per call); the goal is ≥ 2,000 and ≥ 0.8× the floor.
 *
 * Usage: node test/bench/txn-tokens.ts [--duration S] [--rounds N] [--profile DIR] [--rows floor,mint,hit,getjwt,endpoint,mtls]
 *          [--baseline dist-baseline]
 *   or: AUTHJWT_BENCH_ROUNDS=N npm run bench -- --only txn [--duration S]
 * Results: bench-results/results-txn.json and a Markdown table on stdout (docs/benchmarks.md).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { credentials } from '@grpc/grpc-js';
import { SignJWT } from 'jose';
import { loadAuthProto } from '../../src/grpc/proto.ts';
import { freePort } from '../helpers/net.ts';
import { EXT_AUTHZ_CHECK_CALL, GETJWT_CALL, GHZ_MODULE, ghz as runGhz, type GrpcCall } from './ghz.ts';
import { makeCa, makeCert } from '../helpers/certs.ts';
import { newSigningKey, startOidcProvider, USERS } from '../helpers/oidc.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string' },
    rounds: { type: 'string' },
    profile: { type: 'string' },
    rows: { type: 'string' },
    baseline: { type: 'string' },
  },
  strict: false,
});
/** `--profile DIR`: authjwt runs with `--cpu-prof` into DIR (read with test/bench/top-frames.ts). */
const PROFILE_DIR = typeof args.profile === 'string' ? args.profile : undefined;
/**
 * `--baseline DIR`: another build's `dist/` (a sibling of dist/, e.g. `cp -r dist dist-baseline` before a
 * change) runs beside this one with the same configuration; the mint and token endpoint rows then
 * alternate between the two every round, so a before/after comparison sees the same machine noise.
 */
const BASELINE_DIST = typeof args.baseline === 'string' ? args.baseline.replace(/\/$/, '') : undefined;
/** `--rows mint,endpoint`: only these rows (floor, mint, hit, getjwt, endpoint, mtls; default all), e.g. to profile one path. */
const ROWS = new Set(typeof args.rows === 'string' ? args.rows.split(',') : ['floor', 'mint', 'hit', 'getjwt', 'endpoint', 'mtls']);
const DURATION = Number(args.duration ?? 4);
// Rounds per row (median by CPU per call): --rounds, or AUTHJWT_BENCH_ROUNDS as for test/bench/run.ts.
const ROUNDS = Number(args.rounds ?? process.env.AUTHJWT_BENCH_ROUNDS ?? 1);
const CONCURRENCY = 32;
const PRODUCTION_NODE_FLAGS = ['--max-old-space-size=96', '--max-semi-space-size=8'];
const TRUST_DOMAIN = 'trust-domain.bench';
const BIN = process.env.AUTHJWT_BENCH_BIN ?? join(process.env.HOME ?? '/root', '.cache/authjwt-bench/bin');
const ghzBin = join(BIN, `ghz-${GHZ_MODULE.split('@')[1]}`, 'ghz');
const work = mkdtempSync(join(tmpdir(), 'authjwt-bench-txn-'));
const log = (s: string) => console.log(`[bench:txn] ${s}`);
const workFile = (name: string, text: string) => {
  const file = join(work, name);
  writeFileSync(file, text);
  return file;
};

interface Row {
  scenario: string;
  server: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  count: number;
  /** Server CPU (all threads) per completed call, µs. */
  cpuUsPerCall: number;
  /** 1 s of one core / CPU per call. */
  perCore: number;
}

const cpuUs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
};

const CHECK = EXT_AUTHZ_CHECK_CALL;
const GETJWT = GETJWT_CALL;

function ghz(port: number, target: GrpcCall, data: string, load: { duration?: number; total?: number }) {
  return runGhz(ghzBin, port, target, data, { ...load, concurrency: CONCURRENCY });
}

/**
 * The token endpoint row: RFC 8693 Txn-Token requests (the draft's profile), each authenticated with a
 * fresh `private_key_jwt` assertion (single use: the replay cache refuses a `jti` twice), so `bodies`
 * are pre-generated, one per request; HTTP/1.1 keep-alive, CONCURRENCY at a time, in this process.
 */
async function postLoad(
  url: string,
  bodies: readonly string[],
  load: { duration?: number; total?: number },
  from: number,
  tls?: { cert: Buffer; key: Buffer; ca: Buffer },
) {
  // With `tls`: HTTPS with a client certificate (mTLS, one handshake per keep-alive connection).
  const agent = tls
    ? new HttpsAgent({ keepAlive: true, maxSockets: CONCURRENCY, ...tls })
    : new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const request = tls ? httpsRequest : httpRequest;
  const latencies: number[] = [];
  const codes: Record<string, number> = {};
  let next = from;
  const until = load.duration ? performance.now() + load.duration * 1000 : Number.POSITIVE_INFINITY;
  const total = load.total ?? Number.POSITIVE_INFINITY;
  const started = performance.now();
  const one = (body: string) =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - t0);
            codes[res.statusCode!] = (codes[res.statusCode!] ?? 0) + 1;
            resolve();
          });
        },
      );
      req.on('error', () => {
        codes.error = (codes.error ?? 0) + 1;
        resolve();
      });
      req.end(body);
    });
  let done = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until && done < total && next < bodies.length) {
        done++;
        await one(bodies[next++]!);
      }
    }),
  );
  agent.destroy();
  if (next >= bodies.length) log('WARNING: the pre-generated client assertions ran out');
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? NaN;
  const errors = Object.entries(codes)
    .filter(([k]) => k !== '200')
    .reduce((n, [, v]) => n + v, 0);
  return { rps: latencies.length / seconds, p50: pct(50), p99: pct(99), errors, count: latencies.length, codes, next };
}

const rows: Row[] = [];
type Server = { pid: number; port: number };

/** The median round (by CPU per call) of each server; with several servers their rounds alternate. */
function medianRows(scenario: string, rounds: Map<string, Row[]>): Row[] {
  return [...rounds].map(([label, best]) => {
    best.sort((a, b) => a.cpuUsPerCall - b.cpuUsPerCall);
    const row = best[Math.floor(best.length / 2)]!;
    rows.push(row);
    log(
      `${scenario} [${label}] ${row.rps.toFixed(0)} req/s p50 ${row.p50.toFixed(2)} ms p99 ${row.p99.toFixed(2)} ms, ${row.cpuUsPerCall} µs CPU/call = ${row.perCore.toFixed(0)}/s per core, errors ${row.errors}/${row.count} (rounds: ${best.map((r) => r.cpuUsPerCall).join(', ')} µs)`,
    );
    return row;
  });
}

async function measure(
  scenario: string,
  servers: readonly (readonly [string, Server])[],
  target: GrpcCall,
  data: string,
  check?: (data: string) => Promise<void>,
) {
  await check?.(data);
  const rounds = new Map(servers.map(([label]) => [label, [] as Row[]]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [serverLabel, server] of servers) {
      const warm = await ghz(server.port, target, data, { duration: 2 });
      const before = cpuUs(server.pid);
      const r = await ghz(server.port, target, data, { total: Math.max(200, Math.round(warm.rps * DURATION)) });
      const cpuUsPerCall = Math.round((cpuUs(server.pid) - before) / Math.max(1, r.count));
      if (r.errors > 0) log(`WARNING: ${scenario}: ${r.errors}/${r.count} calls failed ${JSON.stringify(r.errorKinds)}`);
      rounds.get(serverLabel)!.push({
        scenario,
        server: serverLabel,
        rps: r.rps,
        p50: r.p50,
        p99: r.p99,
        errors: r.errors,
        count: r.count,
        cpuUsPerCall,
        perCore: 1e6 / cpuUsPerCall,
      });
    }
  }
  return medianRows(scenario, rounds)[0]!;
}

async function waitGrpc(port: number): Promise<void> {
  const { AuthAPI } = loadAuthProto().auth.v1alpha1;
  const client = new AuthAPI(`127.0.0.1:${port}`, credentials.createInsecure());
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 20_000, (e: Error | undefined) => (e ? reject(e) : resolve())),
  );
  client.close();
}

function stopper(proc: ChildProcess) {
  return () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
      setTimeout(() => proc.kill('SIGKILL'), 5_000).unref();
    });
}

// ---------------------------------------------------------------------------------------------
mkdirSync(join(root, 'bench-results'), { recursive: true });
try {
  execFileSync(ghzBin, ['--version'], { stdio: 'ignore' });
} catch {
  log(`installing ghz (go install ${GHZ_MODULE})`);
  execFileSync('go', ['install', GHZ_MODULE], {
    env: { ...process.env, GOBIN: join(BIN, 'ghz-v0.121.0'), GOFLAGS: '-mod=mod' },
    stdio: 'inherit',
  });
}
log('production build (npm run build)');
execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });

const op = await startOidcProvider({ signingKeys: [await newSigningKey('ES256')] });
const alice = USERS.alice!;
const accessToken = await op.jwtToken(alice);
const keyDir = join(work, 'keys');
mkdirSync(keyDir);
const keyFile = join(keyDir, 'es256.pem');
writeFileSync(keyFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
const gatewayPair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const clientJwks = workFile(
  'api-gateway.jwks.json',
  JSON.stringify({ keys: [{ ...gatewayPair.publicKey.export({ format: 'jwk' }), kid: 'gw', alg: 'ES256', use: 'sig' }] }),
);

const grpcPort = await freePort();
const internalPort = await freePort();
// The mTLS requester's server (the `mtls` row): internal HTTP over TLS, the gateway by its client certificate.
const pki = join(work, 'pki');
mkdirSync(pki);
makeCa(pki, 'ca');
const serverCert = makeCert(pki, 'ca', 'server', { san: 'IP:127.0.0.1', usage: 'serverAuth' });
const GATEWAY_SPIFFE_ID = `spiffe://${TRUST_DOMAIN}/api-gateway`;
const gatewayCert = makeCert(pki, 'ca', 'gateway', { san: `URI:${GATEWAY_SPIFFE_ID}`, usage: 'clientAuth' });
const configFor = async (name: string, grpcPort: number, internalPort: number, mtls = false) =>
  workFile(
    `${name}.yaml`,
    `# test/bench/txn-tokens.ts: production-like, keys from a directory, info logging
issuer: https://authjwt.bench
audience: [internal-services]
grpc: { listen: "127.0.0.1:${grpcPort}", plaintext: true, maxConcurrentCalls: 4096, maxReceiveMessageBytes: 65536 }
http: { listen: "127.0.0.1:${await freePort()}" }
internalHttp: { listen: "127.0.0.1:${internalPort}"${mtls ? `, tls: { certFile: ${serverCert.certFile}, keyFile: ${serverCert.keyFile}, clientCaFile: ${join(pki, 'ca.crt')} }` : ''} }
keys: { dir: ${keyDir} }
logging: { level: info }
providers:
  - { id: op-jwt, type: oidc, issuer: "${op.issuer}", audiences: [frontend], strategy: jwt }
txnTokens:
  trustDomain: ${TRUST_DOMAIN}
  ttl: 1m
  tctx: { idp: account.provider }
  requesters:
    - client: api-gateway
tokenEndpoint:
  enabled: true
  clientAuthentication:
${
  mtls
    ? `    methods: [tls_client_auth]
    clients:
      - { id: api-gateway, tlsClientAuth: { spiffeId: "${GATEWAY_SPIFFE_ID}" } }`
    : `    methods: [private_key_jwt]
    replayCache: { store: memory }
    clients:
      - { id: api-gateway, privateKeyJwt: { jwksFile: ${clientJwks} } }`
}
edge:
  extAuthz: { enabled: true }
  txnToken: { requester: api-gateway }
`,
  );
const config = await configFor('authjwt', grpcPort, internalPort);
const svcProc = spawn(
  process.execPath,
  [
    ...PRODUCTION_NODE_FLAGS,
    ...(PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : []),
    '--import',
    './dist/telemetry/tracing.js',
    'dist/main.js',
    '--config',
    config,
  ],
  {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, NODE_ENV: 'production' },
  },
);
const stopSvc = stopper(svcProc);
const baseGrpcPort = await freePort();
const baseInternalPort = await freePort();
const baseProc = BASELINE_DIST
  ? spawn(
      process.execPath,
      [
        ...PRODUCTION_NODE_FLAGS,
        ...(PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', join(PROFILE_DIR, 'baseline')] : []),
        '--import',
        `./${BASELINE_DIST}/telemetry/tracing.js`,
        `${BASELINE_DIST}/main.js`,
        '--config',
        await configFor('baseline', baseGrpcPort, baseInternalPort),
      ],
      { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NODE_ENV: 'production' } },
    )
  : undefined;
const stopBase = baseProc ? stopper(baseProc) : async () => {};
const mtlsGrpcPort = await freePort();
const mtlsInternalPort = await freePort();
const mtlsProc = ROWS.has('mtls')
  ? spawn(
      process.execPath,
      [
        ...PRODUCTION_NODE_FLAGS,
        '--import',
        './dist/telemetry/tracing.js',
        'dist/main.js',
        '--config',
        await configFor('mtls', mtlsGrpcPort, mtlsInternalPort, true),
      ],
      { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NODE_ENV: 'production' } },
    )
  : undefined;
const stopMtls = mtlsProc ? stopper(mtlsProc) : async () => {};
const barePort = await freePort();
const bareProc = spawn(
  process.execPath,
  [
    ...PRODUCTION_NODE_FLAGS,
    ...(PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', join(PROFILE_DIR, 'floor')] : []),
    'test/bench/bare-txn-ext-authz.ts',
    '--port',
    String(barePort),
    '--key',
    keyFile,
    '--trust-domain',
    TRUST_DOMAIN,
  ],
  { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
);
const stopBare = stopper(bareProc);
try {
  await waitGrpc(grpcPort);
  await waitGrpc(barePort);
  if (baseProc) await waitGrpc(baseGrpcPort);
  const svc = { pid: svcProc.pid!, port: grpcPort };
  const authjwt = [['authjwt', svc] as const, ...(baseProc ? [['baseline', { pid: baseProc.pid!, port: baseGrpcPort }] as const] : [])];
  const bare = { pid: bareProc.pid!, port: barePort };
  // What Envoy sends for a GET with a bearer token; the route names the mode.
  const check = (mode: string | undefined) =>
    workFile(
      `check-${mode ?? 'default'}.json`,
      JSON.stringify([
        {
          attributes: {
            request: { http: { method: 'GET', host: 'api.test', path: '/orders', headers: { authorization: `Bearer ${accessToken}` } } },
            contextExtensions: mode ? { txn_token: mode } : {},
            source: { address: { socketAddress: { address: '127.0.0.1', portValue: 40000 } } },
          },
        },
      ]),
    );
  const getJwt = workFile(
    'getjwt.json',
    JSON.stringify([{ account: { provider: 'op-jwt', type: 'oidc', providerAccountId: alice.sub, accessToken } }]),
  );

  const skipped = (r: string) => (ROWS.has(r) ? undefined : ({ perCore: NaN } as Row));
  const floor =
    skipped('floor') ?? (await measure('sign only: Txn-Token claims, ES256 (floor)', [['bare grpc-js Check', bare]], CHECK, check('mint')));
  const mint =
    skipped('mint') ??
    (await measure('ext_authz Check, mint a Txn-Token (verification-cache hit, signs every call)', authjwt, CHECK, check('mint')));
  const hit =
    skipped('hit') ?? (await measure('ext_authz Check, access token, minted-token cache hit', [['authjwt', svc]], CHECK, check(undefined)));
  const getjwt =
    skipped('getjwt') ??
    (await measure('GetJWT, access token (verification-cache hit, signs every call)', [['authjwt', svc]], GETJWT, getJwt));

  let endpoint: Row = { perCore: NaN } as Row;
  if (ROWS.has('endpoint')) {
    // The token endpoint: the same subject token, the gateway authenticated by private_key_jwt on every request.
    log('pre-generating client assertions (private_key_jwt, one per request)');
    const now = Math.floor(Date.now() / 1000);
    const bodies: string[] = [];
    // Enough for every round at up to 3,500 requests/s (each server reads them from its own cursor).
    const assertions = Math.min(150_000, ROUNDS * (DURATION + 2) * 3_500);
    for (let i = 0; i < assertions; i++) {
      const assertion = await new SignJWT({ jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid: 'gw' })
        .setIssuer('api-gateway')
        .setSubject('api-gateway')
        .setAudience('https://authjwt.bench')
        .setIssuedAt(now)
        .setExpirationTime(now + 240)
        .sign(gatewayPair.privateKey);
      bodies.push(
        new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          requested_token_type: 'urn:ietf:params:oauth:token-type:txn_token',
          audience: TRUST_DOMAIN,
          scope: 'api',
          subject_token: accessToken,
          subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          client_id: 'api-gateway',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
        }).toString(),
      );
    }
    // Each server has its own replay cache: each reads the same assertions, from its own cursor.
    const endpoints = [
      ['authjwt', svc.pid, `http://127.0.0.1:${internalPort}/token`] as const,
      ...(baseProc ? [['baseline', baseProc.pid!, `http://127.0.0.1:${baseInternalPort}/token`] as const] : []),
    ];
    const cursor = new Map<string, number>();
    const scenario =
      'token endpoint, Txn-Token request (private_key_jwt client assertion verified + replay-checked, subject verification-cache hit, signs)';
    const rounds = new Map(endpoints.map(([label]) => [label, [] as Row[]]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [label, pid, tokenUrl] of endpoints) {
        const warm = await postLoad(tokenUrl, bodies, { duration: 2 }, cursor.get(label) ?? 0);
        if (warm.errors) log(`WARNING: token endpoint warm-up: ${JSON.stringify(warm.codes)}`);
        const before = cpuUs(pid);
        const te = await postLoad(tokenUrl, bodies, { total: Math.max(200, Math.round(warm.rps * DURATION)) }, warm.next);
        cursor.set(label, te.next);
        const teCpu = Math.round((cpuUs(pid) - before) / Math.max(1, te.count));
        if (te.errors) log(`WARNING: token endpoint: ${te.errors}/${te.count} failed ${JSON.stringify(te.codes)}`);
        rounds.get(label)!.push({
          scenario,
          server: label,
          rps: te.rps,
          p50: te.p50,
          p99: te.p99,
          errors: te.errors,
          count: te.count,
          cpuUsPerCall: teCpu,
          perCore: 1e6 / teCpu,
        });
      }
    }
    endpoint = medianRows(scenario, rounds)[0]!;
  }

  let mtls: Row = { perCore: NaN } as Row;
  if (mtlsProc) {
    // The same Txn-Token request, the gateway authenticated by its certificate (checked once per TLS connection).
    await waitGrpc(mtlsGrpcPort);
    const body = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      requested_token_type: 'urn:ietf:params:oauth:token-type:txn_token',
      audience: TRUST_DOMAIN,
      scope: 'api',
      subject_token: accessToken,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    }).toString();
    const bodies = Array.from({ length: 100_000 }, () => body);
    const tls = { cert: readFileSync(gatewayCert.certFile), key: readFileSync(gatewayCert.keyFile), ca: readFileSync(join(pki, 'ca.crt')) };
    const url = `https://127.0.0.1:${mtlsInternalPort}/token`;
    const scenario = 'token endpoint, Txn-Token request (tls_client_auth: mTLS, keep-alive; subject verification-cache hit, signs)';
    const best: Row[] = [];
    let next = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const warm = await postLoad(url, bodies, { duration: 2 }, next, tls);
      if (warm.errors) log(`WARNING: mTLS token endpoint warm-up: ${JSON.stringify(warm.codes)}`);
      const before = cpuUs(mtlsProc.pid!);
      const te = await postLoad(url, bodies, { total: Math.max(200, Math.round(warm.rps * DURATION)) }, warm.next, tls);
      next = te.next;
      const cpu = Math.round((cpuUs(mtlsProc.pid!) - before) / Math.max(1, te.count));
      if (te.errors) log(`WARNING: mTLS token endpoint: ${te.errors}/${te.count} failed ${JSON.stringify(te.codes)}`);
      best.push({
        scenario,
        server: 'authjwt',
        rps: te.rps,
        p50: te.p50,
        p99: te.p99,
        errors: te.errors,
        count: te.count,
        cpuUsPerCall: cpu,
        perCore: 1e6 / cpu,
      });
    }
    mtls = medianRows(scenario, new Map([['authjwt', best]]))[0]!;
  }

  const ratios = {
    'Txn-Tokens per second per core, token endpoint, mTLS requester': Math.round(mtls.perCore),
    'Txn-Tokens per second per core, token endpoint, private_key_jwt requester': Math.round(endpoint.perCore),
    'Txn-Tokens per second per core at the edge (goal ≥ 2,000)': Math.round(mint.perCore),
    'mint / floor, per core (goal ≥ 0.8)': Number((mint.perCore / floor.perCore).toFixed(2)),
    'mint / GetJWT (access token, signs every call), per core': Number((mint.perCore / getjwt.perCore).toFixed(2)),
    'mint / access-token cache hit, per core': Number((mint.perCore / hit.perCore).toFixed(2)),
  };
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.versions.node}`;
  writeFileSync(
    join(root, 'bench-results/results-txn.json'),
    `${JSON.stringify({ machine, duration: DURATION, rounds: ROUNDS, rows, ratios }, null, 2)}\n`,
  );
  console.log(`\n${machine}; ${DURATION} s per row, concurrency ${CONCURRENCY}, ${ROUNDS} round(s) (median)\n`);
  console.log('| scenario | server | req/s | p50 ms | p99 ms | CPU µs/call | per core/s | errors |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows)
    console.log(
      `| ${r.scenario} | ${r.server} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.cpuUsPerCall} | ${r.perCore.toFixed(0)} | ${r.errors}/${r.count} |`,
    );
  console.log('');
  for (const [k, v] of Object.entries(ratios)) console.log(`- ${k}: ${v}`);
} finally {
  await stopSvc();
  await stopBase();
  await stopMtls();
  await stopBare();
  await op.close();
  rmSync(work, { recursive: true, force: true });
}
