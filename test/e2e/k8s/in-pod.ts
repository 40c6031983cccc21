/**
 * The workload side of the Kubernetes e2e suites: runs INSIDE a pod of the test cluster, in the authjwt
 * image (its node and its production node_modules: @grpc/grpc-js, @grpc/proto-loader, jose), mounted
 * from a ConfigMap at /app/e2e/ so that `/app/node_modules` resolves. It calls authjwt the way a
 * workload does: through the Service's DNS name. Self-contained on purpose (the image has no test code).
 *
 *   node /app/e2e/in-pod.ts exchange      GetJWT once; prints {"token": …} (a test token, for the verify step)
 *   node /app/e2e/in-pod.ts verify        verifies TOKEN against the JWKS fetched through the Service
 *   node /app/e2e/in-pod.ts token-endpoint  RFC 8693 exchange at TOKEN_ENDPOINT, then verify
 *   node /app/e2e/in-pod.ts forward-auth  GET FORWARD_AUTH_URL with the provider token; prints the answer
 *   node /app/e2e/in-pod.ts load          continuous GetJWT load until stdin closes or SIGTERM (below)
 *
 * Environment: AUTHJWT_ADDRESS (host:port of the gRPC Service), JWKS_URL (through the Service), ISSUER,
 * AUDIENCE, PROVIDER, and the provider token: ACCESS_TOKEN, ACCESS_TOKEN_FILE (re-read for every call, as
 * a workload reads its projected service-account token) or a Keycloak password grant (KC_TOKEN_URL,
 * KC_CLIENT_ID, KC_USERNAME, KC_PASSWORD; the load refreshes its token every 60 s, as a frontend holding a
 * session would).
 *
 * `load`: WORKERS loops (default 4), each on its own gRPC connection (a local subchannel pool), so
 * kube-proxy spreads them over the replicas. Every minted token is verified at once against the JWKS
 * fetched through the Service on a NEW connection (any replica may answer), which is the promise of
 * rotation: a token verifies against whatever JWKS a verifier fetches at that moment. RETRIES (default
 * 0): a call that ends in UNAVAILABLE is repeated up to that many times after 100 ms (the client retry
 * policy of docs/clients.md). One JSON event per line on stdout: `kid` (first token seen with a kid),
 * `failure` (call or verification failed; the first 50), `stats` (every 2 s), `summary` (at the end).
 */
import { credentials, loadPackageDefinition, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { readFile } from 'node:fs/promises';
import { get } from 'node:http';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const out = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ t: Date.now(), ...event })}\n`);

type GetJwt = (req: unknown, md: Metadata, opts: { deadline: number }, cb: (e: ServiceError | null, r?: { token: string }) => void) => void;
function authClient(localPool: boolean): { getJwt: (account: Record<string, string>) => Promise<string>; close(): void } {
  const def = loadSync('/app/proto/auth/v1alpha1/auth.proto', { keepCase: false, defaults: true });
  const pkg = loadPackageDefinition(def) as unknown as {
    auth: { v1alpha1: { AuthAPI: new (target: string, creds: unknown, options: object) => { GetJWT: GetJwt; close(): void } } };
  };
  const client = new pkg.auth.v1alpha1.AuthAPI(
    env('AUTHJWT_ADDRESS'),
    credentials.createInsecure(),
    localPool ? { 'grpc.use_local_subchannel_pool': 1 } : {},
  );
  return {
    getJwt: (account) =>
      new Promise((resolve, reject) =>
        client.GetJWT({ account }, new Metadata(), { deadline: Date.now() + 5_000 }, (e, r) => (e ? reject(e) : resolve(r!.token))),
      ),
    close: () => client.close(),
  };
}

/** A GET on a fresh TCP connection (no keep-alive): kube-proxy picks a replica per connection. */
function fetchFresh(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on('error', reject);
  });
}

async function jwksNow(): Promise<JSONWebKeySet> {
  const res = await fetchFresh(env('JWKS_URL'));
  if (res.status !== 200) throw new Error(`JWKS ${res.status}`);
  return JSON.parse(res.body) as JSONWebKeySet;
}

async function verify(token: string, jwks?: JSONWebKeySet) {
  const set = jwks ?? (await jwksNow());
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(set), { issuer: env('ISSUER'), audience: env('AUDIENCE') });
  return {
    kid: protectedHeader.kid,
    alg: protectedHeader.alg,
    sub: payload.sub,
    provider: payload.provider,
    jwksKids: set.keys.map((k) => k.kid),
  };
}

/** The provider token: ACCESS_TOKEN, ACCESS_TOKEN_FILE (read each time), or a Keycloak password grant refreshed every 60 s. */
function accessTokens(): () => Promise<string> {
  const fixed = process.env.ACCESS_TOKEN;
  if (fixed) return async () => fixed;
  const file = process.env.ACCESS_TOKEN_FILE;
  if (file) return async () => (await readFile(file, 'utf8')).trim();
  let current: { token: string; at: number } | undefined;
  let pending: Promise<string> | undefined;
  const fetchToken = async () => {
    const res = await fetch(env('KC_TOKEN_URL'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: env('KC_CLIENT_ID', 'frontend'),
        username: env('KC_USERNAME'),
        password: env('KC_PASSWORD'),
        scope: 'openid email profile',
      }),
    });
    if (!res.ok) throw new Error(`Keycloak token request: ${res.status}`);
    const token = ((await res.json()) as { access_token: string }).access_token;
    current = { token, at: Date.now() };
    return token;
  };
  return async () => {
    if (current && Date.now() - current.at < 60_000) return current.token;
    pending ??= fetchToken().finally(() => (pending = undefined));
    return pending;
  };
}

const accountFor = (token: string) => ({
  provider: env('PROVIDER'),
  type: env('ACCOUNT_TYPE', 'oidc'),
  providerAccountId: String(decodeJwt(token).sub),
  accessToken: token,
});
const grpcCode = (e: unknown) => (typeof (e as ServiceError).code === 'number' ? status[(e as ServiceError).code] : 'ERROR');

async function exchange() {
  const client = authClient(false);
  const token = await client.getJwt(accountFor(await accessTokens()()));
  client.close();
  out({ token });
}

async function verifyCommand() {
  out({ verified: await verify(env('TOKEN')) });
}

async function tokenEndpoint() {
  const res = await fetch(env('TOKEN_ENDPOINT'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: await accessTokens()(),
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    }),
  });
  const body = (await res.json()) as { access_token?: string; issued_token_type?: string; error?: string };
  if (!res.ok || !body.access_token) throw new Error(`token endpoint ${res.status} ${body.error ?? ''}`);
  out({ status: res.status, issuedTokenType: body.issued_token_type, verified: await verify(body.access_token) });
}

async function forwardAuth() {
  const res = await fetch(env('FORWARD_AUTH_URL'), {
    headers: { authorization: `Bearer ${await accessTokens()()}`, 'x-authjwt-provider': env('PROVIDER') },
  });
  const headers = Object.fromEntries([...res.headers].filter(([k]) => k.startsWith('x-authjwt-')));
  const bearer = res.headers.get('authorization')?.replace(/^Bearer /, '');
  out({ status: res.status, identity: headers, verified: bearer ? await verify(bearer) : null });
}

async function load() {
  const workers = Number(env('WORKERS', '4'));
  const retries = Number(env('RETRIES', '0'));
  const pauseMs = Number(env('PAUSE_MS', '10'));
  const token = accessTokens();
  const stats = {
    calls: 0,
    ok: 0,
    failed: 0,
    retried: 0,
    verifyFailed: 0,
    byKid: {} as Record<string, number>,
    byCode: {} as Record<string, number>,
  };
  const firstSeen = new Set<string>();
  let failuresPrinted = 0;
  let stopping = false;
  const fail = (event: Record<string, unknown>) => {
    if (failuresPrinted++ < 50) out({ event: 'failure', ...event });
  };
  const worker = async () => {
    const client = authClient(true);
    while (!stopping) {
      stats.calls++;
      let minted: string | undefined;
      for (let attempt = 0; ; attempt++) {
        try {
          minted = await client.getJwt(accountFor(await token()));
          break;
        } catch (error) {
          const code = grpcCode(error);
          if (code === 'UNAVAILABLE' && attempt < retries) {
            stats.retried++;
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          stats.failed++;
          stats.byCode[code] = (stats.byCode[code] ?? 0) + 1;
          fail({ kind: 'call', code, message: (error as Error).message, attempts: attempt + 1 });
          break;
        }
      }
      if (minted) {
        const kid = decodeProtectedHeader(minted).kid ?? '?';
        if (!firstSeen.has(kid)) {
          firstSeen.add(kid);
          out({ event: 'kid', kid });
        }
        let jwks: JSONWebKeySet | undefined;
        try {
          jwks = await jwksNow();
          await verify(minted, jwks);
          stats.ok++;
          stats.byKid[kid] = (stats.byKid[kid] ?? 0) + 1;
        } catch (error) {
          stats.failed++;
          stats.verifyFailed++;
          fail({ kind: 'verify', kid, jwksKids: jwks?.keys.map((k) => k.kid), message: (error as Error).message });
        }
      }
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    }
    client.close();
  };
  const ticker = setInterval(() => out({ event: 'stats', ...stats }), 2_000);
  const stop = () => {
    stopping = true;
  };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop).on('close', stop).resume();
  out({ event: 'started', workers, retries });
  await Promise.all(Array.from({ length: workers }, worker));
  clearInterval(ticker);
  out({ event: 'summary', ...stats });
}

const commands: Record<string, () => Promise<void>> = {
  exchange,
  verify: verifyCommand,
  'token-endpoint': tokenEndpoint,
  'forward-auth': forwardAuth,
  load,
};
const command = commands[process.argv[2] ?? ''];
if (!command) {
  console.error(`usage: node in-pod.ts ${Object.keys(commands).join('|')}`);
  process.exit(2);
}
command().then(
  () => process.exit(0),
  (error: unknown) => {
    out({ error: (error as Error).message, code: grpcCode(error) });
    process.exit(1);
  },
);
