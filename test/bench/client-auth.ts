/**
 * The token endpoint's cost per client authentication method (issue 21), on this machine, loopback
 * only, bounded: one authjwt process (started as the image starts it) whose internal listener serves
 * HTTPS and asks for client certificates, a real redis-server for the replay cache, and a load generator
 * in its own process (test/bench/token-load.ts). Every row exchanges the same subject token (a JWT of a
 * fake issuer: the verification cache answers, so the rows differ by client authentication only):
 *   none                      no credential (method none listed)
 *   tls_client_auth           a SPIFFE X509-SVID on the keep-alive connection
 *   private_key_jwt (memory)  a fresh ES256 assertion per request, jti in this replica's memory
 *   private_key_jwt (redis)   the same, jti in Redis (SET NX PX: one round trip)
 *   federated_jwt (JWT-SVID)  a JWT-SVID from the SPIFFE bundle, the same one reused (bearer-style)
 * Prints a Markdown table (req/s, p50/p95/p99 ms, server CPU µs per request) and the load average.
 * Usage: sh scripts/with-node24.sh test/bench/client-auth.ts [--requests N] [--concurrency C]
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startAuthJwtProcess } from '../helpers/authjwt-process.ts';
import { makeCa, makeCert } from '../helpers/certs.ts';
import { startFakeOidcIssuer } from '../helpers/fake-oidc-issuer.ts';
import { freePort } from '../helpers/net.ts';
import { findRedisServer, startRedis } from '../helpers/redis.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({
  options: { requests: { type: 'string', default: '6000' }, concurrency: { type: 'string', default: '16' } },
});
const REQUESTS = Number(values.requests);
const CONCURRENCY = Number(values.concurrency);
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const SPIFFE = 'spiffe://cluster.local/ns/orders/sa/orders';
const ISSUER = 'https://authjwt.bench';
const log = (s: string) => console.log(`[bench] ${s}`);

const redisBin = findRedisServer();
if (!redisBin) throw new Error('redis-server is missing: eval "$(bash .ci/tools.sh)"');
const dir = mkdtempSync(join(tmpdir(), 'authjwt-bench-clients-'));
makeCa(dir, 'server-ca');
const server = makeCert(dir, 'server-ca', 'server', { san: 'DNS:localhost,IP:127.0.0.1', usage: 'serverAuth' });
makeCa(dir, 'clients-ca');
const orders = makeCert(dir, 'clients-ca', 'orders', { san: `URI:${SPIFFE}`, usage: 'clientAuth' });
const client = await generateKeyPair('ES256', { extractable: true });
const svid = await generateKeyPair('ES256', { extractable: true });
writeFileSync(join(dir, 'bundle.jwks'), JSON.stringify({ keys: [{ ...(await exportJWK(svid.publicKey)), use: 'jwt-svid', kid: 's1' }] }));
const clientJwk = { ...(await exportJWK(client.publicKey)), kid: 'r1', alg: 'ES256' };
const redis = await startRedis(redisBin);
const fake = await startFakeOidcIssuer();

async function start(store: 'memory' | 'redis') {
  const [grpc, http, internal] = [await freePort(), await freePort(), await freePort()];
  const proc = startAuthJwtProcess(
    `issuer: ${ISSUER}
audience: internal-services
keys: { ephemeral: true }
logging: { level: info }
grpc: { listen: 127.0.0.1:${grpc} }
http: { listen: 127.0.0.1:${http} }
internalHttp:
  listen: 127.0.0.1:${internal}
  tls: { certFile: ${server.certFile}, keyFile: ${server.keyFile}, clientCaFile: ${join(dir, 'clients-ca.crt')} }
tokenEndpoint:
  enabled: true
  clientAuthentication:
    methods: [none, tls_client_auth, private_key_jwt, federated_jwt]
    clients:
      - { id: orders, tlsClientAuth: { spiffeId: "${SPIFFE}" } }
      - { id: reports, privateKeyJwt: { jwks: { keys: [${JSON.stringify(clientJwk)}] } } }
      - { id: orders-svid, federated: { trustSource: mesh, subject: "${SPIFFE}" } }
    trustSources:
      - { id: mesh, kind: spiffe, trustDomain: cluster.local, bundleFile: ${join(dir, 'bundle.jwks')}, maxLifetime: 1h }
    replayCache: ${store === 'redis' ? `{ store: redis, redis: { url: "${redis.url}" } }` : '{ store: memory, maxEntries: 1000000 }'}
providers:
  - { id: kc, issuer: ${fake.issuer}, strategy: jwt, audiences: [frontend] }
`,
    { imageHeap: true },
  );
  await proc.waitFor(/authjwt started/);
  return { proc, url: `https://127.0.0.1:${internal}/token` };
}

const now = Math.floor(Date.now() / 1000);
const subject = await fake.sign({ iss: fake.issuer, sub: 'alice', azp: 'frontend', iat: now, exp: now + 3_000 });
const base = { grant_type: GRANT, subject_token: subject, subject_token_type: ACCESS };
const form = (extra: Record<string, string> = {}) => new URLSearchParams({ ...base, ...extra }).toString();
const svidToken = await new SignJWT({ sub: SPIFFE, aud: ISSUER, iat: now, exp: now + 3_000 })
  .setProtectedHeader({ alg: 'ES256', kid: 's1' })
  .sign(svid.privateKey);
log(`signing ${2 * REQUESTS} single-use private_key_jwt assertions`);
const assertions = async () => {
  const out: string[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const a = await new SignJWT({ iss: 'reports', sub: 'reports', aud: ISSUER, jti: crypto.randomUUID(), iat: now, exp: now + 240 })
      .setProtectedHeader({ alg: 'ES256', kid: 'r1' })
      .sign(client.privateKey);
    out.push(form({ client_assertion_type: JWT_BEARER, client_assertion: a }));
  }
  return out;
};
const files = {
  none: [form()],
  tls: [form()],
  svid: [form({ client_assertion_type: JWT_BEARER, client_assertion: svidToken })],
  pkjwtMemory: await assertions(),
  pkjwtRedis: await assertions(),
};
for (const [name, bodies] of Object.entries(files)) writeFileSync(join(dir, `${name}.txt`), `${bodies.join('\n')}\n`);

const cpuUs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
};
const load = (
  url: string,
  bodies: string,
  count: number,
  repeat: boolean,
  cert: boolean,
  skip = 0,
): Promise<Record<string, number> & { statusCodes: object }> =>
  new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      [
        join(root, 'test/bench/token-load.ts'),
        '--url',
        url,
        '--bodies',
        join(dir, `${bodies}.txt`),
        '--count',
        String(count),
        '--skip',
        String(skip),
        '--concurrency',
        String(CONCURRENCY),
        '--ca',
        join(dir, 'server-ca.crt'),
        ...(repeat ? ['--repeat'] : []),
        ...(cert ? ['--cert', orders.certFile, '--key', orders.keyFile] : []),
      ],
      { maxBuffer: 1 << 20 },
      (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout))),
    ),
  );

const rows: string[] = [];
const load0 = loadavg()[0]!.toFixed(1);
for (const store of ['memory', 'redis'] as const) {
  const svc = await start(store);
  const cases =
    store === 'memory'
      ? ([
          ['none', 'none', true, false],
          ['tls_client_auth (SPIFFE X509-SVID)', 'tls', true, true],
          ['federated_jwt (JWT-SVID, reused)', 'svid', true, false],
          ['private_key_jwt (replay cache: memory)', 'pkjwtMemory', false, false],
        ] as const)
      : ([['private_key_jwt (replay cache: redis)', 'pkjwtRedis', false, false]] as const);
  // Warm the process once (JIT of the whole path) before its first row.
  await load(svc.url, 'none', Math.round(REQUESTS / 2), true, false);
  for (const [name, bodies, repeat, cert] of cases) {
    // Warm-up: JIT, JWKS, the verification cache, connections (single-use bodies: the first 10 %).
    const warm = Math.round(REQUESTS / 10);
    await load(svc.url, bodies, warm, repeat, cert);
    const before = cpuUs(svc.proc.child.pid!);
    // Single-use bodies: the measured run starts after the ones the warm-up consumed.
    const r = await load(svc.url, bodies, repeat ? REQUESTS : REQUESTS - warm, repeat, cert, repeat ? 0 : warm);
    const cpu = Math.round((cpuUs(svc.proc.child.pid!) - before) / Math.max(1, r.count!));
    if (r.errors) log(`WARNING ${name}: ${r.errors} errors ${JSON.stringify(r.statusCodes)}`);
    log(
      `${name}: ${r.rps!.toFixed(0)} req/s p50 ${r.p50!.toFixed(2)} p95 ${r.p95!.toFixed(2)} p99 ${r.p99!.toFixed(2)} ms, ${cpu} µs CPU/req, errors ${r.errors}`,
    );
    rows.push(
      `| ${name} | ${r.rps!.toFixed(0)} | ${r.p50!.toFixed(2)} | ${r.p95!.toFixed(2)} | ${r.p99!.toFixed(2)} | ${cpu} | ${r.errors}/${r.count} |`,
    );
  }
  await svc.proc.stop();
}
console.log(
  [
    '',
    `token endpoint, HTTPS internal listener, ${CONCURRENCY} connections, ${REQUESTS} requests per row (load average ${load0} → ${loadavg()[0]!.toFixed(1)}, ${new X509Certificate(orders.cert).subject.replace(/\n/g, ',')})`,
    '',
    '| client authentication | req/s | p50 ms | p95 ms | p99 ms | server CPU µs/req | errors |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n'),
);
await redis.close();
await fake.close();
rmSync(dir, { recursive: true, force: true });
